package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/internal/pins"
)

func TestDeliveryDefaults(t *testing.T) {
	cfg, err := load(t, gke(nil), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Delivery; d.Engine != config.DeliveryManual || d.Steps != nil || d.PrometheusURL != "" || d.ManagedFrontend {
		t.Errorf("default delivery %+v, want manual and nothing of the engine", d)
	}
	cfg, err = load(t, gke(map[string]string{"ctmd:delivery": "argo-rollouts"}), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Delivery
	if !slices.Equal(d.Steps, []int{10, 25, 50}) || d.StepDuration != 5*time.Minute {
		t.Errorf("engine steps %v every %s, want [10 25 50] every 5m", d.Steps, d.StepDuration)
	}
	// On gke the engine queries Managed Prometheus through the frontend the stack runs.
	if d.PrometheusURL != config.FrontendURL || !d.ManagedFrontend {
		t.Errorf("gke prometheus %q (frontend %v), want %s run by the stack", d.PrometheusURL, d.ManagedFrontend, config.FrontendURL)
	}
	if d.ManifestURL != "https://github.com/argoproj/argo-rollouts/releases/download/v1.10.2/install.yaml" {
		t.Errorf("manifest %q", d.ManifestURL)
	}
	// Pulumi.yaml's defaults as a real run passes them.
	cfg, err = load(t, existing(map[string]string{"ctmd:delivery": "argo-rollouts", "ctmd:deliverySteps": "[]",
		"ctmd:deliveryStepDuration": "30s", "ctmd:deliveryPrometheusUrl": "http://prometheus.monitoring.svc:9090",
		"ctmd:argoRolloutsManifestUrl": "http://127.0.0.1:8000/argo-rollouts/v1.10.2/install.yaml"}), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	d = cfg.Delivery
	if !slices.Equal(d.Steps, config.DefaultSteps) || d.StepDuration != 30*time.Second || d.ManagedFrontend ||
		d.PrometheusURL != "http://prometheus.monitoring.svc:9090" || !strings.HasPrefix(d.ManifestURL, "http://127.0.0.1:8000/") {
		t.Errorf("existing engine %+v", d)
	}
	// A config value is JSON: numbers from pulumi config set --path, strings from a hand-edited file.
	cfg, err = load(t, gke(map[string]string{"ctmd:delivery": "argo-rollouts", "ctmd:deliverySteps": `[5, "20", 60]`}), "ctmd:mongoConnectionString")
	if err != nil || !slices.Equal(cfg.Delivery.Steps, []int{5, 20, 60}) {
		t.Errorf("steps [5, \"20\", 60]: %v %v", err, cfg)
	}
}

// The engine's release is the pinned one.
func TestArgoRolloutsVersionMatchesPin(t *testing.T) {
	pinned, err := pins.Version("ARGO_ROLLOUTS_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if pinned != config.DefaultArgoRolloutsVersion {
		t.Fatalf("versions.env ARGO_ROLLOUTS_VERSION=%q, config.DefaultArgoRolloutsVersion=%q", pinned, config.DefaultArgoRolloutsVersion)
	}
}

func TestDeliveryErrors(t *testing.T) {
	const secretKey = "ctmd:mongoConnectionString"
	engine := map[string]string{"ctmd:delivery": "argo-rollouts"}
	with := func(base func(map[string]string) map[string]string, extra map[string]string) map[string]string {
		v := base(engine)
		for k, val := range extra {
			v[k] = val
		}
		return v
	}
	tests := []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"unknown engine", gke(map[string]string{"ctmd:delivery": "flagger"}),
			`invalid config "ctmd:delivery" value "flagger": must be one of manual, argo-rollouts; set it with pulumi config set ctmd:delivery manual`},
		{"manual canary under the engine", with(gke, map[string]string{"ctmd:canaryImage": "europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata:v2" + digestB}),
			`config "ctmd:canaryImage" is set while ctmd:delivery is argo-rollouts`},
		{"falling steps", with(gke, map[string]string{"ctmd:deliverySteps": "[50, 25]"}),
			`invalid config "ctmd:deliverySteps" value "[50, 25]": must be a list of rising canary weights, each a whole percentage from 1 to 99; set it with pulumi config set --path 'ctmd:deliverySteps[0]' 10`},
		{"a step of 100", with(gke, map[string]string{"ctmd:deliverySteps": "[50, 100]"}),
			`invalid config "ctmd:deliverySteps" value "[50, 100]": must be a list of rising canary weights`},
		{"steps not a list", with(gke, map[string]string{"ctmd:deliverySteps": "10"}),
			`invalid config "ctmd:deliverySteps" value "10": must be a list of canary weights in percent, such as [10, 25, 50]`},
		{"too short a step", with(gke, map[string]string{"ctmd:deliveryStepDuration": "5s"}),
			`invalid config "ctmd:deliveryStepDuration" value "5s": must be a duration of whole seconds of at least 10s, such as 5m; set it with pulumi config set ctmd:deliveryStepDuration 5m`},
		{"a step of a fraction", with(gke, map[string]string{"ctmd:deliveryStepDuration": "90.5s"}),
			`invalid config "ctmd:deliveryStepDuration" value "90.5s"`},
		{"no Prometheus on an existing cluster", with(existing, nil),
			`missing required config "ctmd:deliveryPrometheusUrl" (needed when ctmd:delivery is argo-rollouts on an existing cluster)`},
		{"Prometheus not a URL", with(existing, map[string]string{"ctmd:deliveryPrometheusUrl": "prometheus:9090"}),
			`invalid config "ctmd:deliveryPrometheusUrl" value "prometheus:9090": must be an http:// or https:// URL`},
		{"manifest with credentials", with(gke, map[string]string{"ctmd:argoRolloutsManifestUrl": "https://user:pw@mirror.example/install.yaml"}),
			`invalid config "ctmd:argoRolloutsManifestUrl": the URL must not hold credentials`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.values, secretKey)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("the error repeats the URL's credentials: %v", err)
			}
		})
	}
}
