// Package slo declares marketdata's service level objectives once and derives from them the
// Prometheus rules that watch them: recording rules for the error ratios, the multiwindow,
// multi-burn-rate alerts of the Google SRE workbook, and, while a canary runs, an alert comparing
// the canary track with the stable one. The rule groups are plain Go values; rules.go renders them
// as a Prometheus rule file.
package slo

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Tracks are the values of Istio's destination_version label for marketdata's two release
// tracks (the pods' version label; infra/app).
type Tracks struct {
	Stable, Canary string
}

// SLO is one objective over the API's requests: the share of them that are good over a 30-day
// window must stay at or above Objective.
type SLO struct {
	// Name labels its recording rules (slo="...") and names its alerts.
	Name string
	// Objective is the target share of good requests, e.g. 0.999.
	Objective float64
	// Good says in words what a good request is, for the alerts' annotations.
	Good string
	// errorRatio is a PromQL expression of the share of bad requests over a range, per track.
	errorRatio func(window string) string
}

// Budget is the share of requests allowed to be bad, rounded to a billionth so that 1-0.999 reads
// 0.001 in the rules rather than 0.0010000000000000009.
func (s SLO) Budget() float64 { return math.Round((1-s.Objective)*1e9) / 1e9 }

// The metrics come from the destination sidecar of marketdata's pods (reporter="destination"), not
// from the ingress gateway, for three reasons: the PodMonitoring scrapes only marketdata's pods
// (infra/app, metrics.go), so the gateway's own series are not collected; the Rules object is
// namespace-scoped and Managed Prometheus restricts every selector in it to its own namespace
// ("Alerting and recording rules defined in Rules are scoped to project_id, cluster, and
// namespace of the resource",
// https://cloud.google.com/stackdriver/docs/managed-prometheus/rules-managed), and the gateway's
// series carry namespace istio-ingress; and the sidecar reports both the gateway's requests and
// those of in-mesh callers (ctmd:callerPrincipals), all of which are users of the API. What it
// cannot see are requests the gateway fails before reaching a pod (no healthy upstream): the
// availability SLO then goes quiet rather than red, and the pods' readiness and the Deployment's
// rollout are what catch that. Istio's request metrics have no path label; the
// AuthorizationPolicy admits only /api/* to marketdata and the kubelet's probes and the scrape go
// to the sidecar agent, not through Envoy's inbound listener, so every request the sidecar
// reports is an API request. The labels are Istio's standard ones
// (https://istio.io/latest/docs/reference/config/metrics/), the same the README's per-track
// queries use.
const (
	requestsMetric = "istio_requests_total"
	durationMetric = "istio_request_duration_milliseconds"
	trackLabel     = "destination_version"
)

// Selector picks marketdata's requests as its sidecars report them.
func Selector(namespace, app string) string {
	return fmt.Sprintf(`reporter="destination", destination_workload_namespace=%q, destination_app=%q`, namespace, app)
}

// Availability is the share of requests answered without a 5xx.
func Availability(objective float64, selector string) SLO {
	return SLO{
		Name:      "availability",
		Objective: objective,
		Good:      "answered without a 5xx",
		errorRatio: func(w string) string {
			total := fmt.Sprintf("sum by (%s) (rate(%s{%s}[%s]))", trackLabel, requestsMetric, selector, w)
			// A track that answered no 5xx has no such series at all; "or 0 * total" gives it a
			// ratio of 0 instead of none, so the canary alert can compare it.
			errors := fmt.Sprintf(`sum by (%s) (rate(%s{%s, response_code=~"5.."}[%s]))`, trackLabel, requestsMetric, selector, w)
			return fmt.Sprintf("(%s or 0 * %s) / %s", errors, total, total)
		},
	}
}

// IstioBuckets are the upper bounds (ms) of Istio's request duration histogram
// (istio_request_duration_milliseconds): the sidecar's Envoy records it with Envoy's default
// buckets, 0.5, 1, 5, ... 3600000 (histogram_bucket_settings,
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/metrics/v3/stats.proto), since the
// stack sets no sidecar.istio.io/statsHistogramBuckets annotation. A latency threshold must be one
// of them, or no bucket counts the requests under it; 0.5 is left out, thresholds being whole ms.
var IstioBuckets = []int{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// Latency is the share of requests answered within thresholdMs, which must be one of IstioBuckets.
func Latency(objective float64, thresholdMs int, selector string) SLO {
	return SLO{
		Name:      "latency",
		Objective: objective,
		Good:      fmt.Sprintf("answered within %d ms", thresholdMs),
		errorRatio: func(w string) string {
			// Prometheus 3 stores classic histograms' le as a float ("250.0"), older scrapers as
			// written ("250"), https://prometheus.io/docs/prometheus/latest/migration/: match both.
			le := strconv.Itoa(thresholdMs) + `(\\.0)?`
			fast := fmt.Sprintf(`sum by (%s) (rate(%s_bucket{%s, le=~"%s"}[%s]))`, trackLabel, durationMetric, selector, le, w)
			all := fmt.Sprintf("sum by (%s) (rate(%s_count{%s}[%s]))", trackLabel, durationMetric, selector, w)
			return fmt.Sprintf("1 - %s / %s", fast, all)
		},
	}
}

// Severity routes an alert: page wakes someone, ticket waits for working hours.
type Severity string

const (
	Page   Severity = "page"
	Ticket Severity = "ticket"
)

// BurnWindow is one row of the SRE workbook's recommended multiwindow, multi-burn-rate alerts for
// a 30-day SLO ("Recommended parameters for a 99.9% SLO alerting configuration": 2% of the budget
// in 1 hour at 14.4x, 5% in 6 hours at 6x page; 10% in 3 days at 1x tickets; each long window
// with a short one of 1/12 its length so the alert resets soon after the burn stops),
// https://sre.google/workbook/alerting-on-slos/#6-multiwindow-multi-burn-rate-alerts
type BurnWindow struct {
	Long, Short string
	Burn        float64
	Severity    Severity
}

// BurnWindows are the workbook's three rows.
var BurnWindows = []BurnWindow{
	{Long: "1h", Short: "5m", Burn: 14.4, Severity: Page},
	{Long: "6h", Short: "30m", Burn: 6, Severity: Page},
	{Long: "3d", Short: "6h", Burn: 1, Severity: Ticket},
}

// FastestBurn is the highest burn rate any alert waits for: an SLO whose budget times it reaches
// 100% errors could never page.
var FastestBurn = BurnWindows[0].Burn

// windows are the ranges the recording rules keep, shortest first.
func windows() []string {
	var ws []string
	for _, w := range BurnWindows {
		for _, r := range []string{w.Short, w.Long} {
			if !slices.Contains(ws, r) {
				ws = append(ws, r)
			}
		}
	}
	return ws
}

// ratioRecord names the recorded error ratio over a window.
func ratioRecord(window string) string { return "marketdata:slo_error_ratio:rate" + window }

func ratioSeries(s SLO, window string, extra ...string) string {
	return fmt.Sprintf("%s{%s}", ratioRecord(window), strings.Join(append([]string{fmt.Sprintf("slo=%q", s.Name)}, extra...), ", "))
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
