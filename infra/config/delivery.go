package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Delivery is how a new image reaches the users: by hand (ctmd:canaryImage and ctmd:canaryWeight,
// one pulumi up per step), or by Argo Rollouts, which moves the traffic in steps and judges each
// on the SLOs (infra/delivery; docs/delivery.md says why Argo Rollouts).
type Delivery struct {
	// Engine is DeliveryManual or DeliveryArgoRollouts.
	Engine string
	// Steps are the canary's traffic weights, in percent, each held for StepDuration and judged
	// at its end before the next; after the last the new image takes all the traffic.
	Steps        []int
	StepDuration time.Duration
	// PrometheusURL is the Prometheus HTTP API the engine's analysis queries: on gke, Managed
	// Prometheus's query frontend that the stack runs (FrontendURL).
	PrometheusURL string
	// ManagedFrontend says the stack runs Managed Prometheus's query frontend for the engine.
	ManagedFrontend bool
	// ManifestURL is Argo Rollouts' install manifest (its CRDs, controller and RBAC).
	ManifestURL string
}

// Values and defaults of the delivery keys.
const (
	DeliveryManual       = "manual"
	DeliveryArgoRollouts = "argo-rollouts"
	// DefaultArgoRolloutsVersion is the controller release the stack installs; versions.env pins
	// the same (a test compares them).
	DefaultArgoRolloutsVersion = "v1.10.2"
	DefaultStepDuration        = 5 * time.Minute
	// DefaultStepDurationText is DefaultStepDuration as Pulumi.yaml and the messages write it.
	DefaultStepDurationText = "5m"
	// FrontendURL is the query frontend the stack runs on gke (infra/delivery), in the engine's
	// namespace.
	FrontendURL = "http://gmp-frontend.argo-rollouts.svc.cluster.local:9090"
	// minStepDuration is the shortest step: an analysis over fewer seconds holds too few scrapes
	// to rate (e2e uses it, with a Prometheus scraping every second). Below wantStepDuration
	// Managed Prometheus, which scrapes every 30 s, has at most one sample per series to rate.
	minStepDuration  = 10 * time.Second
	wantStepDuration = time.Minute
)

// DefaultSteps are the canary's weights: a tenth of the traffic first, then a quarter and a half.
var DefaultSteps = []int{10, 25, 50}

// DefaultArgoRolloutsManifest is the official install manifest of the pinned release
// (https://argo-rollouts.readthedocs.io/en/stable/installation/).
func DefaultArgoRolloutsManifest(version string) string {
	return "https://github.com/argoproj/argo-rollouts/releases/download/" + version + "/install.yaml"
}

// delivery reads the delivery keys; the engine's own are read only when it runs. The manual
// canary's keys and the engine exclude each other: the engine runs the canary itself, from
// ctmd:image.
func (r *reader) delivery(c *Config) Delivery {
	d := Delivery{Engine: r.oneOf("delivery", DeliveryManual, DeliveryManual, DeliveryArgoRollouts)}
	if d.Engine == DeliveryManual {
		return d
	}
	if c.CanaryImage != "" {
		r.fail(fmt.Errorf(`config "ctmd:canaryImage" is set while ctmd:delivery is %s, which runs the canary itself from ctmd:image: finish the manual canary first (promote it with pulumi config set ctmd:image <its image> and pulumi config rm ctmd:canaryImage, or roll it back with pulumi config rm ctmd:canaryImage), or keep pulumi config set ctmd:delivery %s until then`,
			DeliveryArgoRollouts, DeliveryManual))
	}
	d.Steps = r.steps("deliverySteps")
	d.StepDuration = r.stepDuration("deliveryStepDuration")
	d.ManifestURL = r.httpURL("argoRolloutsManifestUrl", DefaultArgoRolloutsManifest(DefaultArgoRolloutsVersion), "https://<mirror>/install.yaml")
	_, set := r.get("deliveryPrometheusUrl")
	switch {
	case set:
		d.PrometheusURL = r.httpURL("deliveryPrometheusUrl", "", "http://<prometheus>:9090")
	case c.Target == TargetGKE:
		d.PrometheusURL, d.ManagedFrontend = FrontendURL, true
	default:
		r.fail(fmt.Errorf(`missing required config %q (needed when ctmd:delivery is %s on an existing cluster): the engine judges each step on Prometheus's HTTP API; set it with pulumi config set %[1]s http://<prometheus>.<namespace>.svc:9090`,
			Namespace+":deliveryPrometheusUrl", DeliveryArgoRollouts))
	}
	return d
}

// steps reads the canary's weights: a list of whole percentages from 1 to 99, rising.
func (r *reader) steps(key string) []int {
	// Pulumi.yaml declares [] for the default, which a real run passes.
	v, ok := r.get(key)
	if !ok || v == "[]" {
		return slices.Clone(DefaultSteps)
	}
	fix := listFix(key, "10") + " (then [1] 25, [2] 50)"
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil || len(raw) == 0 {
		r.invalid(key, v, "a list of canary weights in percent, such as [10, 25, 50]", fix)
		return slices.Clone(DefaultSteps)
	}
	steps := make([]int, 0, len(raw))
	for _, item := range raw {
		var s string
		if json.Unmarshal(item, &s) != nil {
			s = string(item)
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 99 || (len(steps) > 0 && n <= steps[len(steps)-1]) {
			r.invalid(key, v, "a list of rising canary weights, each a whole percentage from 1 to 99", fix)
			return slices.Clone(DefaultSteps)
		}
		steps = append(steps, n)
	}
	return steps
}

// stepDuration reads how long each step is held: a Go duration of whole seconds.
func (r *reader) stepDuration(key string) time.Duration {
	v, ok := r.get(key)
	if !ok {
		return DefaultStepDuration
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < minStepDuration || d%time.Second != 0 {
		r.invalid(key, v, fmt.Sprintf("a duration of whole seconds of at least %s, such as 5m", minStepDuration), scalarFix(key, DefaultStepDurationText))
		return DefaultStepDuration
	}
	if d < wantStepDuration {
		r.warn(fmt.Sprintf("ctmd:%s is %s: Managed Prometheus scrapes every 30 s, so a step that short is judged on one or two samples per series; set it with pulumi config set ctmd:%[1]s 5m", key, d))
	}
	return d
}

// httpURL reads an http(s) URL without credentials (the value is plain config, shown in every
// preview); def is returned when the key is unset.
func (r *reader) httpURL(key, def, example string) string {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "":
		r.invalid(key, v, "an http:// or https:// URL", scalarFix(key, example))
		return def
	case u.User != nil:
		r.fail(fmt.Errorf("invalid config %q: the URL must not hold credentials (they would be stored in plain text); set it with pulumi config set %s", Namespace+":"+key, scalarFix(key, example)))
		return def
	}
	return v
}
