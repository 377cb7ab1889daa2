package binauthz

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/delivery"
	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
	"github.com/cryptotracker/ctmd/infra/mesh"
)

const (
	policyType  = "gcp:binaryauthorization/policy:Policy"
	serviceType = "gcp:projects/service:Service"
	component   = "ctmd:binauthz:Policy::binauthz"
	repository  = "europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster"
)

// stackConfig is a gke stack's; with or without cert-manager, the policy must not differ.
func stackConfig(mode string, certManager bool) *config.Config {
	return &config.Config{
		Project:     "ctmd-dev-123",
		Region:      "europe-west1",
		ClusterName: "ctmd-cluster",
		SupplyChain: config.SupplyChain{BinaryAuthorization: mode, AllowedRepository: repository},
		Edge:        config.Edge{InstallCertManager: certManager},
	}
}

func run(t *testing.T, cfg *config.Config) (*mockstack.Stack, error) {
	t.Helper()
	return mockstack.Run(t, mockstack.Config{}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "binauthz", cfg)
		return err
	})
}

// The policy refuses by default, in the configured mode, and admits only the project's registry
// in the region, Istio's hub, cert-manager's, Argo Rollouts' and Managed Prometheus's (whether this
// stack installs them or another stack of the project does); Google's global policy admits GKE's system images. It is written once the
// API is on, and is the same for every stack of the project with the region and mode.
func TestPolicy(t *testing.T) {
	const base = `{"namePattern": "europe-west1-docker.pkg.dev/ctmd-dev-123/**"}, {"namePattern": "docker.io/istio/*"}, {"namePattern": "quay.io/jetstack/*"},
		{"namePattern": "quay.io/argoproj/*"}, {"namePattern": "gke.gcr.io/prometheus-engine/*"}`
	for _, tt := range []struct {
		name, mode  string
		certManager bool
		enforcement string
		patterns    string
	}{
		{"dry run", config.BinaryAuthorizationDry, false, "DRYRUN_AUDIT_LOG_ONLY", base},
		{"enforced", config.BinaryAuthorizationForce, false, "ENFORCED_BLOCK_AND_AUDIT_LOG", base},
		{"with cert-manager", config.BinaryAuthorizationDry, true, "DRYRUN_AUDIT_LOG_ONLY", base},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := run(t, stackConfig(tt.mode, tt.certManager))
			if err != nil {
				t.Fatal(err)
			}
			p := s.Find(t, policyType, "binauthz-policy")
			mockstack.AssertJSON(t, "policy", mockstack.Plain(p.Inputs), `{
				"project": "ctmd-dev-123",
				"description": "Written by ctmd's Pulumi stacks of this project (docs/supply-chain.md): the same policy from each of one region and mode",
				"globalPolicyEvaluationMode": "ENABLE",
				"admissionWhitelistPatterns": [`+tt.patterns+`],
				"defaultAdmissionRule": {"evaluationMode": "ALWAYS_DENY", "enforcementMode": "`+tt.enforcement+`"}
			}`)
			if p.Parent != component {
				t.Errorf("policy parent %q, want %q", p.Parent, component)
			}
			if !slices.Contains(p.DependsOn, serviceType+"::"+API) {
				t.Errorf("policy depends on %v, want the API's service", p.DependsOn)
			}
			svc := s.Find(t, serviceType, API)
			mockstack.AssertJSON(t, "service", mockstack.Plain(svc.Inputs),
				`{"project": "ctmd-dev-123", "service": "binaryauthorization.googleapis.com", "disableOnDestroy": false}`)
			if svc.Parent != component {
				t.Errorf("service parent %q, want %q", svc.Parent, component)
			}
		})
	}
}

// matches is Binary Authorization's name matching as documented: a pattern without a wildcard
// names one image; a trailing * matches within its directory ("* wildcard does not match /"), a
// trailing ** below it too.
func matches(pattern, image string) bool {
	switch {
	case strings.HasSuffix(pattern, "**"):
		return strings.HasPrefix(image, strings.TrimSuffix(pattern, "**"))
	case strings.HasSuffix(pattern, "*"):
		prefix := strings.TrimSuffix(pattern, "*")
		return strings.HasPrefix(image, prefix) && !strings.Contains(image[len(prefix):], "/")
	}
	return image == pattern
}

// The patterns admit the images the project's stacks run, and nothing beside them: no other
// project or region, no project whose id has this one's as a prefix, no other Docker Hub, quay.io
// or gke.gcr.io account.
func TestPatternsAdmitWhatTheStackRuns(t *testing.T) {
	s, err := run(t, stackConfig(config.BinaryAuthorizationDry, true))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, p := range mockstack.Plain(s.Find(t, policyType, "binauthz-policy").Inputs)["admissionWhitelistPatterns"].([]any) {
		pattern := p.(map[string]any)["namePattern"].(string)
		// The API takes a wildcard only at the end, after the registry.
		if i := strings.Index(pattern, "*"); i >= 0 && (strings.Trim(pattern[i:], "*") != "" || !strings.Contains(pattern[:i], "/")) {
			t.Errorf("pattern %q: a wildcard only at the end, after registry/", pattern)
		}
		patterns = append(patterns, pattern)
	}
	admitted := func(image string) bool {
		return slices.ContainsFunc(patterns, func(p string) bool { return matches(p, image) })
	}
	for _, image := range []string{
		repository + "/marketdata:v1.4.0@sha256:" + strings.Repeat("a", 64),
		repository + "/marketdata@sha256:" + strings.Repeat("b", 64),
		mesh.ProxyImage("1.31.4"),
		mesh.ProxyImage("1.30.5"),
		"docker.io/istio/pilot:1.31.4",
		"docker.io/istio/pilot:1.31.4-distroless",
		"quay.io/jetstack/cert-manager-controller:v1.21.2",
		"quay.io/jetstack/cert-manager-webhook:v1.21.2",
		"quay.io/jetstack/cert-manager-cainjector:v1.21.2",
		"quay.io/argoproj/argo-rollouts:v1.10.2",
		delivery.FrontendImage,
	} {
		if !admitted(image) {
			t.Errorf("%s is not admitted by %v", image, patterns)
		}
	}
	for _, image := range []string{
		"europe-west1-docker.pkg.dev/ctmd-dev-1234/ctmd-cluster/marketdata:v1",
		"europe-west1-docker.pkg.dev/other-project/ctmd-cluster/marketdata:v1",
		"us-east1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata:v1",
		"docker.io/istio-mirror/proxyv2:1.31.4",
		"docker.io/library/nginx:1.27",
		"docker.io/istio/extra/proxyv2:1.31.4",
		"quay.io/jetstack-fork/cert-manager-controller:v1.21.2",
		"ghcr.io/istio/proxyv2:1.31.4",
		"quay.io/argoproj-fork/argo-rollouts:v1.10.2",
		"quay.io/argoproj/extra/argo-rollouts:v1.10.2",
		"gke.gcr.io/prometheus-engine-fork/frontend:v0.15.3-gke.0",
		"gke.gcr.io/other/frontend:v0.15.3-gke.0",
	} {
		if admitted(image) {
			t.Errorf("%s is admitted by %v", image, patterns)
		}
	}
}

// An unknown mode is refused before anything is declared: a typo must not leave the project
// with an enforcing policy nobody asked for, or none.
func TestUnknownModeDeclaresNothing(t *testing.T) {
	s, err := run(t, stackConfig("warn", false))
	if err == nil || !strings.Contains(err.Error(), `binary authorization mode "warn"`) {
		t.Fatalf("err = %v, want the mode refused", err)
	}
	if len(s.Resources) != 0 {
		t.Errorf("%d resources declared before the refusal", len(s.Resources))
	}
}

// external: another stack of the project writes the policy; this one enables the API its cluster
// needs to check it, and writes nothing else.
func TestExternalPolicyIsLeftAlone(t *testing.T) {
	s, err := run(t, stackConfig(config.BinaryAuthorizationExternal, false))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.OfType(policyType); len(got) != 0 {
		t.Errorf("external declares the policy %v", got)
	}
	s.Find(t, serviceType, API)
}
