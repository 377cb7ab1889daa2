// Package slo declares marketdata's service level objectives once and derives from them the
// Prometheus rules that watch them: recording rules for the request rates and error ratios of the
// whole service, the multiwindow, multi-burn-rate alerts of the Google SRE workbook guarded by a
// minimum of traffic, an alert for an API that receives no request at all, and, while a canary
// runs, an alert comparing the canary track with the stable one. The rule groups are plain Go
// values; rules.go renders them as a Prometheus rule file.
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

// Users says where marketdata's requests are counted: where its users are.
//
// The ingress gateway's own Envoy reports every request it routes to marketdata
// (reporter="source": a gateway reports no inbound side, istio/istio#31468), including those it
// answers itself because no pod is ready (503, response_flags="UH"): the series carry the
// destination Service from the route's cluster even when no pod answered. Its counters are per
// request the user sent, whatever Istio retried behind it. Requests from in-mesh callers
// (ctmd:callerPrincipals) never pass the gateway, so they are counted where they are visible:
// marketdata's sidecars (reporter="destination"), from any source outside the gateway's
// namespace, so no request is counted twice. Labels: Istio's standard metrics
// (https://istio.io/latest/docs/reference/config/metrics/).
type Users struct {
	// Namespace and Service are marketdata's namespace and Service (and its pods' app label).
	Namespace, Service string
	// GatewayNamespace is where the ingress gateway runs.
	GatewayNamespace string
	// Routed are the Services the gateway's routes name when they are not Service alone: with a
	// rollout engine, the stable and canary Services it splits the traffic between.
	Routed []string
	// gatewayOnlyCount leaves out the in-mesh callers (gate.go).
	gatewayOnlyCount bool
}

const (
	requestsMetric = "istio_requests_total"
	durationMetric = "istio_request_duration_milliseconds"
	trackLabel     = "destination_version"
)

// rate is the per-second rate over window of metric's series that reach marketdata: the gateway's
// report of what it routed there, or the sidecars' report of what in-mesh callers sent; extra
// narrows both (a response code, a bucket). The two sets differ in reporter, so "or" is their union.
func (u Users) rate(metric, window, extra string) string {
	service := fmt.Sprintf("destination_service_name=%q", u.Service)
	if len(u.Routed) > 0 {
		service = fmt.Sprintf("destination_service_name=~%q", strings.Join(u.Routed, "|"))
	}
	gateway := fmt.Sprintf(`reporter="source", source_workload_namespace=%q, destination_service_namespace=%q, %s`,
		u.GatewayNamespace, u.Namespace, service)
	callers := fmt.Sprintf(`reporter="destination", source_workload_namespace!=%q, destination_workload_namespace=%q, destination_app=%q`,
		u.GatewayNamespace, u.Namespace, u.Service)
	if extra != "" {
		gateway += ", " + extra
		callers += ", " + extra
	}
	if u.gatewayOnlyCount {
		return fmt.Sprintf("rate(%s{%s}[%s])", metric, gateway, window)
	}
	return fmt.Sprintf("rate(%s{%s}[%s]) or rate(%[1]s{%[4]s}[%[3]s])", metric, gateway, window, callers)
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
	// all and good are the per-second rates of every request and of the good ones over a window,
	// as unaggregated instant vectors.
	all, good func(window string) string
}

// Budget is the share of requests allowed to be bad, rounded to a billionth so that 1-0.999 reads
// 0.001 in the rules rather than 0.0010000000000000009.
func (s SLO) Budget() float64 { return math.Round((1-s.Objective)*1e9) / 1e9 }

// Availability is the share of requests answered without a 5xx; a request the gateway answers
// itself (no pod ready, no route to one) counts like any other.
func Availability(objective float64, u Users) SLO {
	return SLO{
		Name:      "availability",
		Objective: objective,
		Good:      "answered without a 5xx",
		all:       func(w string) string { return u.rate(requestsMetric, w, "") },
		good:      func(w string) string { return u.rate(requestsMetric, w, `response_code!~"5.."`) },
	}
}

// IstioBuckets are the upper bounds (ms) of Istio's request duration histogram
// (istio_request_duration_milliseconds): the proxies' Envoy records it with Envoy's default
// buckets, 0.5, 1, 5, ... 3600000 (histogram_bucket_settings,
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/metrics/v3/stats.proto), since the
// stack sets no sidecar.istio.io/statsHistogramBuckets annotation. A latency threshold must be one
// of them, or no bucket counts the requests under it; 0.5 is left out, thresholds being whole ms.
var IstioBuckets = []int{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// Latency is the share of requests answered within thresholdMs, which must be one of IstioBuckets.
// At the gateway the duration includes the time to reach a pod and back.
func Latency(objective float64, thresholdMs int, u Users) SLO {
	// Prometheus 3 stores classic histograms' le as a float ("250.0"), older scrapers as written
	// ("250"), https://prometheus.io/docs/prometheus/latest/migration/: match both.
	le := fmt.Sprintf(`le=~"%d(\\.0)?"`, thresholdMs)
	return SLO{
		Name:      "latency",
		Objective: objective,
		Good:      fmt.Sprintf("answered within %d ms", thresholdMs),
		all:       func(w string) string { return u.rate(durationMetric+"_count", w, "") },
		good:      func(w string) string { return u.rate(durationMetric+"_bucket", w, le) },
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
	// Seconds is the long window's length, for turning its rate into a count.
	Seconds  int
	Burn     float64
	Severity Severity
}

// BurnWindows are the workbook's three rows.
var BurnWindows = []BurnWindow{
	{Long: "1h", Short: "5m", Seconds: 3600, Burn: 14.4, Severity: Page},
	{Long: "6h", Short: "30m", Seconds: 6 * 3600, Burn: 6, Severity: Page},
	{Long: "3d", Short: "6h", Seconds: 3 * 24 * 3600, Burn: 1, Severity: Ticket},
}

// FastestBurn is the highest burn rate any alert waits for: an SLO whose budget times it reaches
// 100% errors could never page.
var FastestBurn = BurnWindows[0].Burn

// Threshold is the error ratio above which a row fires.
func (w BurnWindow) Threshold(s SLO) float64 { return w.Burn * s.Budget() }

// MinRequests is how many requests the long window must hold before the row may fire: enough that
// one bad request alone stays at or below the threshold (1 / threshold, rounded up). With fewer,
// a single failure is a burn: one 5xx among the 60 requests of an hour at one a minute is 1.7%,
// above the fast page's 1.44%. For the 99.9% default: 70 requests in the hour, 167 in 6 hours,
// 1000 in 3 days. A stack that quiet is judged by the rows whose windows hold enough, by the
// uptime check, and by the no-traffic alert.
func MinRequests(threshold float64) int { return int(math.Ceil(1/threshold - 1e-9)) }

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

// Names of the recorded series: per SLO and window, the requests a second and the error ratio, of
// the whole service or per track.
func requestsRecord(window string) string { return "marketdata:slo_requests:rate" + window }
func ratioRecord(window string) string    { return "marketdata:slo_error_ratio:rate" + window }
func trackRequestsRecord(window string) string {
	return "marketdata:slo_requests_by_track:rate" + window
}
func trackRatioRecord(window string) string {
	return "marketdata:slo_error_ratio_by_track:rate" + window
}

func series(record string, s SLO, extra ...string) string {
	return fmt.Sprintf("%s{%s}", record, strings.Join(append([]string{fmt.Sprintf("slo=%q", s.Name)}, extra...), ", "))
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
