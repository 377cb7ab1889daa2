package stack

import (
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

// On GKE, Managed Prometheus scrapes the sidecar's merged endpoint (the app's metrics included,
// through the pod annotations TestApp checks), never the app's own port.
func TestPodMonitoring(t *testing.T) {
	s := mustDeploy(t, gkeConfig(nil))
	r := assertResource(t, s, "kubernetes:monitoring.googleapis.com/v1:PodMonitoring", "marketdata", appComponent, k8sProvider, `{
		"apiVersion": "monitoring.googleapis.com/v1", "kind": "PodMonitoring",
		"metadata": {"name": "marketdata", "namespace": "ctmd"},
		"spec": {
			"selector": {"matchLabels": {"app": "marketdata"}},
			"endpoints": [{"port": 15020, "path": "/stats/prometheus", "interval": "30s"}]
		}
	}`)
	assertDependsOn(t, r, "kubernetes:core/v1:Namespace::ctmd")

	// Scraping goes to the sidecar agent, so the policy in front of the app admits no scraper.
	policy := mockstack.Plain(s.Find(t, "kubernetes:security.istio.io/v1:AuthorizationPolicy", "marketdata").Inputs)
	mockstack.AssertJSON(t, "AuthorizationPolicy operations", mockstack.Get(policy, "spec.rules.0.to"), apiOperations)
}

// An existing cluster may have no Managed Prometheus, hence no PodMonitoring kind.
func TestNoPodMonitoringOnExistingClusters(t *testing.T) {
	for _, values := range []map[string]string{existingConfig(nil), existingConfig(map[string]string{"ctmd:installIstio": "true"})} {
		s := mustDeploy(t, values)
		if got := s.OfType("kubernetes:monitoring.googleapis.com/v1:PodMonitoring"); len(got) != 0 {
			t.Errorf("existing target declares PodMonitoring %v", got)
		}
	}
}
