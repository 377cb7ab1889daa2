package stack

import (
	"slices"
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

const (
	binauthzComponent = "ctmd:binauthz:Policy::binauthz"
	binauthzPolicy    = "gcp:binaryauthorization/policy:Policy"
	projectService    = "gcp:projects/service:Service"
)

// binauthzPolicyOf is the stack's project policy, after checking where it sits: in its component,
// once Binary Authorization's API is on.
func binauthzPolicyOf(t *testing.T, s *run) map[string]any {
	t.Helper()
	p := s.Find(t, binauthzPolicy, "binauthz-policy")
	if p.Parent != binauthzComponent {
		t.Errorf("policy parent %q, want %q", p.Parent, binauthzComponent)
	}
	assertDependsOn(t, p, projectService+"::binaryauthorization.googleapis.com")
	return mockstack.Plain(p.Inputs)
}

// On gke the cluster checks every Pod against the project's policy, which exists before the
// cluster does; by default the policy denies what it does not list, in dry run (logged, admitted);
// it admits the project's registry in the stack's region, Istio's and cert-manager's images, and
// leaves GKE's system images to Google's global policy.
func TestBinaryAuthorizationOnGKE(t *testing.T) {
	s := mustDeploy(t, gkeConfig(nil))

	cluster := s.Find(t, "gcp:container/cluster:Cluster", "ctmd-cluster")
	mockstack.AssertJSON(t, "cluster binaryAuthorization", mockstack.Plain(cluster.Inputs)["binaryAuthorization"],
		`{"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}`)
	// Depending on the component is depending on its children: the API and the policy.
	assertDependsOn(t, cluster, binauthzPolicy+"::binauthz-policy", projectService+"::binaryauthorization.googleapis.com")

	mockstack.AssertJSON(t, "policy", binauthzPolicyOf(t, s), `{
		"project": "ctmd-dev-123",
		"description": "Written by ctmd's Pulumi stacks of this project (docs/supply-chain.md): the same policy from each of one region and mode",
		"globalPolicyEvaluationMode": "ENABLE",
		"admissionWhitelistPatterns": [
			{"namePattern": "europe-west1-docker.pkg.dev/ctmd-dev-123/**"},
			{"namePattern": "docker.io/istio/*"},
			{"namePattern": "quay.io/jetstack/*"},
			{"namePattern": "quay.io/argoproj/*"},
			{"namePattern": "gke.gcr.io/prometheus-engine/*"}
		],
		"defaultAdmissionRule": {"evaluationMode": "ALWAYS_DENY", "enforcementMode": "DRYRUN_AUDIT_LOG_ONLY"}
	}`)
	assertResource(t, s, projectService, "binaryauthorization.googleapis.com", binauthzComponent, "",
		`{"project": "ctmd-dev-123", "service": "binaryauthorization.googleapis.com", "disableOnDestroy": false}`)

	// The Istio pattern is the hub the control plane's chart is given, so what it injects is admitted.
	hub := mockstack.Get(mockstack.Plain(s.Find(t, "kubernetes:helm.sh/v4:Chart", istiodName).Inputs), "values.global.hub")
	if hub != "docker.io/istio" {
		t.Errorf("istiod's global.hub %v, want docker.io/istio, the policy's Istio pattern", hub)
	}
}

// ctmd:binaryAuthorization enforce refuses what the policy does not admit; nothing else changes.
func TestBinaryAuthorizationEnforced(t *testing.T) {
	dry := binauthzPolicyOf(t, mustDeploy(t, gkeConfig(nil)))
	enforced := binauthzPolicyOf(t, mustDeploy(t, gkeConfig(map[string]string{"ctmd:binaryAuthorization": "enforce"})))
	mockstack.AssertJSON(t, "default rule", enforced["defaultAdmissionRule"],
		`{"evaluationMode": "ALWAYS_DENY", "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG"}`)
	delete(dry, "defaultAdmissionRule")
	delete(enforced, "defaultAdmissionRule")
	mockstack.AssertJSON(t, "the rest of the enforced policy", enforced, jsonOf(t, dry))
}

// Stacks of one project (dev and prod) share its one policy: it admits the project's registry in
// the stack's region, which holds every such stack's repository (the imageRepository output, where
// make push sends the image), and is the same whatever the stack, so two stacks of one region and
// mode write it alike. A stack set to external leaves it to the one that writes it, and its
// cluster still checks it.
func TestBinaryAuthorizationIsTheProjects(t *testing.T) {
	dev := mustDeploy(t, gkeConfig(map[string]string{"ctmd:clusterName": "dev"}))
	prod := mustDeploy(t, gkeHTTPS(map[string]string{"ctmd:clusterName": "prod", "ctmd:networkCidr": "10.1.0.0/16",
		"ctmd:image": "europe-west1-docker.pkg.dev/" + project + "/prod/marketdata:v1.4.0" + digestA}))
	mockstack.AssertJSON(t, "prod's policy", binauthzPolicyOf(t, prod), jsonOf(t, binauthzPolicyOf(t, dev)))
	for _, s := range []*run{dev, prod} {
		repo, _ := s.outputs["imageRepository"].Value.(string)
		if !strings.HasPrefix(repo, "europe-west1-docker.pkg.dev/ctmd-dev-123/") {
			t.Errorf("repository %q is not under the admitted europe-west1-docker.pkg.dev/ctmd-dev-123/**", repo)
		}
	}
	other := binauthzPolicyOf(t, mustDeploy(t, gkeConfig(map[string]string{"gcp:zone": "us-east1-c"})))
	if got := mockstack.Get(other, "admissionWhitelistPatterns.0.namePattern"); got != "us-east1-docker.pkg.dev/ctmd-dev-123/**" {
		t.Errorf("a us-east1 stack admits %v first, want its region's registry", got)
	}

	external := mustDeploy(t, gkeConfig(map[string]string{"ctmd:binaryAuthorization": "external"}))
	if got := external.OfType(binauthzPolicy); len(got) != 0 {
		t.Errorf("binaryAuthorization external writes the policy %v", got)
	}
	cluster := external.Find(t, "gcp:container/cluster:Cluster", "ctmd-cluster")
	mockstack.AssertJSON(t, "external: cluster binaryAuthorization", mockstack.Plain(cluster.Inputs)["binaryAuthorization"],
		`{"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}`)
	assertDependsOn(t, cluster, projectService+"::binaryauthorization.googleapis.com")
}

// Artifact Analysis scans every image pushed to the stack's repository: its API is on in the
// project, and stays on at destroy (other stacks and repositories of the project use it).
func TestVulnerabilityScanningOnGKE(t *testing.T) {
	s := mustDeploy(t, gkeConfig(nil))
	assertResource(t, s, projectService, "containerscanning.googleapis.com", gkeComponent, "",
		`{"project": "ctmd-dev-123", "service": "containerscanning.googleapis.com", "disableOnDestroy": false}`)
	if got := s.OfType(projectService); !slices.Equal(got, []string{"binaryauthorization.googleapis.com", "containerscanning.googleapis.com"}) {
		t.Errorf("services %v, want only Binary Authorization's and container scanning's", got)
	}
}

// Off GKE the stack neither writes the project's policy nor enables APIs: the cluster is not its own.
func TestNoBinaryAuthorizationOnExisting(t *testing.T) {
	s := mustDeploy(t, existingConfig(map[string]string{"ctmd:installIstio": "true"}))
	for _, typ := range []string{binauthzPolicy, projectService, "ctmd:binauthz:Policy"} {
		if got := s.OfType(typ); len(got) != 0 {
			t.Errorf("target existing declares %s %v", typ, got)
		}
	}
}
