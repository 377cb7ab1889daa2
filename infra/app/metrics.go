package app

import "github.com/cryptotracker/ctmd/infra/slo"

// Istio's sidecar merges the app's metrics into its own scrape endpoint when the pod carries the
// prometheus.io annotations (metrics merging, on by default): the agent fetches
// http://localhost:<port><path> inside the pod and serves the result with Envoy's and its own
// metrics on :15020/stats/prometheus. See
// https://istio.io/latest/docs/ops/integrations/prometheus/#option-1-metrics-merging
// The app's port itself stays behind the sidecar, where the AuthorizationPolicy admits only the
// gateway (and the configured callers) to the API's paths: a scraper never needs to reach it.
const (
	metricsPath = "/metrics"
	// MergedMetricsPort and MergedMetricsPath are the sidecar agent's merged endpoint, which
	// Google Managed Prometheus scrapes for workloads in an Istio mesh:
	// https://cloud.google.com/stackdriver/docs/managed-prometheus/exporters/istio
	MergedMetricsPort = 15020
	MergedMetricsPath = "/stats/prometheus"
)

// Tracks are the values Istio's request metrics carry as destination_version for the stable and
// canary pods: what the SLO rules group by and the canary alert compares (infra/slo).
var Tracks = slo.Tracks{Stable: stableVersion, Canary: canaryVersion}

// podMonitoring has Google Managed Prometheus's managed collection scrape the merged endpoint of
// every marketdata pod; Istio's request metrics carry the pods' version label, which tells a
// canary from the stable track.
func podMonitoring() map[string]any {
	return map[string]any{
		"selector": map[string]any{"matchLabels": map[string]any{"app": Name}},
		"endpoints": []any{map[string]any{
			"port":     MergedMetricsPort,
			"path":     MergedMetricsPath,
			"interval": "30s",
		}},
	}
}
