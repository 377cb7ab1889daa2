package stack

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

// spreadJSON is the soft spreading of one workload's pods over the nodes, per rollout.
func spreadJSON(labels string) string {
	return `[{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
		"labelSelector": {"matchLabels": ` + labels + `}, "matchLabelKeys": ["pod-template-hash"]}]`
}

// baseValues are the base chart's values with revision rev as Istio's default.
func baseValues(rev string) string {
	return `{"defaultRevision": "` + rev + `", "base": {"validationFailurePolicy": "Fail"}}`
}

// baseValuesWithoutCRDs are the base chart's values when it applies everything but its CRDs,
// which the mocks render as mockstack.TemplateCRDs (infra/internal/crds applies them).
func baseValuesWithoutCRDs(rev string) string {
	return `{"defaultRevision": "` + rev + `", "base": {"validationFailurePolicy": "Fail", "excludedCRDs": ["destinationrules.networking.istio.io", "virtualservices.networking.istio.io"]}}`
}

// budgetJSON lets a drain evict one pod at a time and never waits for an unhealthy one.
const budgetJSON = `{"maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"}`

// istiodValues are the istiod chart's values for a revision, an egress policy and a replica
// minimum: the mesh config, then what keeps istiod serving through a node drain.
func istiodValues(revision, outbound string, minReplicas int) string {
	return fmt.Sprintf(`{"revision": %q, "base": {"validationFailurePolicy": "Fail"},
		"sidecarInjectorWebhook": {"templates": {"grpc-simple": "", "grpc-agent": "", "waypoint": "", "agentgateway": "", "agentgateway-waypoint": ""}},
		"global": {"hub": "docker.io/istio", "tag": %q},
		"meshConfig": {"outboundTrafficPolicy": {"mode": %q},
			"defaultConfig": {"holdApplicationUntilProxyStarts": true, "proxyMetadata": {"EXIT_ON_ZERO_ACTIVE_CONNECTIONS": "true"}}},
		"autoscaleMin": %d, "autoscaleMax": %d, "pdb": %s,
		"topologySpreadConstraints": %s}`,
		revision, strings.ReplaceAll(revision, "-", "."), outbound, minReplicas, max(5, minReplicas), budgetJSON,
		spreadJSON(fmt.Sprintf(`{"app": "istiod", "istio.io/rev": %q}`, revision)))
}

// gatewayValues are the gateway chart's values for a revision, a Service and a replica minimum.
func gatewayValues(revision, service string, minReplicas int) string {
	return fmt.Sprintf(`{"labels": {"istio": "ingressgateway"}, "revision": %q, "service": %s,
		"autoscaling": {"minReplicas": %d, "maxReplicas": %d}, "podDisruptionBudget": %s,
		"topologySpreadConstraints": %s}`,
		revision, service, minReplicas, max(5, minReplicas), budgetJSON,
		spreadJSON(`{"app": "istio-ingressgateway", "istio": "ingressgateway"}`))
}

// The replica minimums reach both charts; a minimum above the charts' default maximum raises it.
func TestDrainProtectionFollowsConfig(t *testing.T) {
	s := mustDeploy(t, existingConfig(map[string]string{
		"ctmd:installIstio": "true", "ctmd:gatewayMinReplicas": "7", "ctmd:istiodMinReplicas": "3",
	}))
	charts := func(name string) any {
		return mockstack.Plain(s.Find(t, "kubernetes:helm.sh/v4:Chart", name).Inputs)["values"]
	}
	mockstack.AssertJSON(t, "istiod values", charts(istiodName), istiodValues(defaultRevision, "REGISTRY_ONLY", 3))
	mockstack.AssertJSON(t, "gateway values", charts("istio-ingressgateway"), gatewayValues(defaultRevision, `{"type": "LoadBalancer"}`, 7))
}

// GKE may upgrade only in the maintenance window (weekend nights by default) and never in an
// exclusion; the policy reaches the cluster exactly as configured.
func TestGKEMaintenancePolicy(t *testing.T) {
	policy := func(s *run) any {
		return mockstack.Plain(s.Find(t, "gcp:container/cluster:Cluster", "ctmd-cluster").Inputs)["maintenancePolicy"]
	}
	mockstack.AssertJSON(t, "default policy", policy(mustDeploy(t, gkeConfig(nil))), `{
		"recurringWindow": {"startTime": "2025-01-03T23:00:00Z", "endTime": "2025-01-04T05:00:00Z", "recurrence": "FREQ=WEEKLY;BYDAY=FR,SA"}
	}`)
	mockstack.AssertJSON(t, "configured policy", policy(mustDeploy(t, gkeConfig(map[string]string{
		"ctmd:maintenanceWindowStart":      "2026-01-05T01:00:00Z",
		"ctmd:maintenanceWindowEnd":        "2026-01-05T05:00:00Z",
		"ctmd:maintenanceWindowRecurrence": "FREQ=DAILY",
		"ctmd:maintenanceExclusionStart":   "2026-11-26T00:00:00Z",
		"ctmd:maintenanceExclusionEnd":     "2026-12-10T00:00:00Z",
		"ctmd:maintenanceExclusionScope":   "NO_MINOR_OR_NODE_UPGRADES",
	}))), `{
		"recurringWindow": {"startTime": "2026-01-05T01:00:00Z", "endTime": "2026-01-05T05:00:00Z", "recurrence": "FREQ=DAILY"},
		"maintenanceExclusions": [{"exclusionName": "ctmd", "startTime": "2026-11-26T00:00:00Z", "endTime": "2026-12-10T00:00:00Z",
			"exclusionOptions": {"scope": "NO_MINOR_OR_NODE_UPGRADES"}}]
	}`)
}
