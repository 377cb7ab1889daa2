package slorules

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Synthetic Istio request series with the labels each reporter really writes, and the target
// labels Managed Prometheus adds to every scraped series (project_id, location, cluster,
// namespace of the scraped pod, job, instance).

// managed is what Managed Prometheus adds; namespace is the scraped pod's.
func managed(namespace, job string) string {
	return fmt.Sprintf(`project_id="ctmd-dev", location="europe-west1-b", cluster="ctmd-cluster", namespace=%q, job=%q, instance="%s-0:15020"`, namespace, job, job)
}

// Who reports a request, and what it knows of the destination.
type reporter int

const (
	// gateway: the ingress gateway's Envoy, reporter="source", for a request a pod answered.
	gateway reporter = iota
	// gatewayNoPod: the same gateway answering itself, no pod being ready (503, UH): the
	// destination Service is known from the route, the workload is not.
	gatewayNoPod
	// sidecarFromGateway: marketdata's sidecar, reporter="destination", for a request the gateway
	// forwarded (the same request the gateway counts, once per attempt).
	sidecarFromGateway
	// sidecarFromCaller: marketdata's sidecar for a request of an in-mesh caller.
	sidecarFromCaller
)

func (r reporter) labels(track, service string) string {
	dest := fmt.Sprintf(`destination_service="%s.ctmd.svc.cluster.local", destination_service_name=%[1]q, destination_service_namespace="ctmd", destination_workload="marketdata", destination_workload_namespace="ctmd", destination_app="marketdata", destination_version=%q, destination_canonical_service="marketdata", request_protocol="http", connection_security_policy="mutual_tls"`, service, track)
	gw := `source_workload="istio-ingressgateway", source_workload_namespace="istio-ingress", source_app="istio-ingressgateway", source_principal="spiffe://cluster.local/ns/istio-ingress/sa/istio-ingressgateway"`
	switch r {
	case gateway:
		return `reporter="source", ` + gw + ", " + dest + ", " + managed("istio-ingress", "ctmd-ingressgateway")
	case gatewayNoPod:
		return `reporter="source", ` + gw + fmt.Sprintf(`, destination_service="%s.ctmd.svc.cluster.local", destination_service_name=%[1]q`, service) + `, destination_service_namespace="ctmd", destination_workload="unknown", destination_workload_namespace="unknown", destination_app="unknown", destination_version="unknown", destination_canonical_service="unknown", request_protocol="http", connection_security_policy="unknown", ` + managed("istio-ingress", "ctmd-ingressgateway")
	case sidecarFromGateway:
		return `reporter="destination", ` + gw + ", " + dest + ", " + managed("ctmd", "marketdata")
	default:
		return `reporter="destination", source_workload="checkout", source_workload_namespace="shop", source_app="checkout", source_principal="spiffe://cluster.local/ns/shop/sa/checkout", ` + dest + ", " + managed("ctmd", "marketdata")
	}
}

// flow is one stream of requests to one track: through the gateway (seen by the gateway and,
// per attempt, by the pods' sidecars) or from an in-mesh caller (seen by the sidecars only).
type flow struct {
	track string
	// service is the Service the gateway's route names: marketdata unless set (the rollout
	// engine's marketdata-stable and marketdata-canary).
	service string
	caller  bool
	phases  []trafficPhase
	// le spells the threshold bucket's bound: "250" as Envoy writes it, unless set ("250.0" is
	// how Prometheus 3 stores it).
	le string
}

// trafficPhase is a stretch of minutes with perMinute requests, a share of them answered 5xx and
// a share slower than the threshold. noPod: no pod is ready, the gateway answers every request
// 503 UH and the sidecars see nothing. attempts is how many times the sidecar sees each failed
// request (Istio's default route retries a 503 twice on another pod: 3); 0 means 1.
type trafficPhase struct {
	minutes      int
	perMinute    float64
	errors, slow float64
	noPod        bool
	attempts     float64
}

// counter is one series: what each minute added. It exists from its first request on (Istio
// exports a label set only once a request had it) until the last minute a flow reported it (a
// pod or gateway that is gone reports nothing, and its series go stale).
type counter struct {
	labels string
	inc    []float64
	// reported marks the minutes some flow reported the series, with or without requests.
	reported []bool
}

func (c *counter) add(minute int, n float64) {
	for len(c.inc) <= minute {
		c.inc = append(c.inc, 0)
		c.reported = append(c.reported, false)
	}
	c.inc[minute] += n
	c.reported[minute] = true
}

func (c *counter) load(b *strings.Builder) {
	first := slices.IndexFunc(c.inc, func(n float64) bool { return n > 0 })
	if first < 0 {
		return
	}
	b.WriteString("  " + c.labels)
	total := 0.0
	for m, n := range c.inc {
		total += n
		if m < first || !c.reported[m] {
			b.WriteString(" _")
			continue
		}
		b.WriteString(" " + strconv.FormatFloat(total, 'f', -1, 64))
	}
	b.WriteString("\n")
}

// series renders the flows as a promqltest load block sampled every minute from minute 0: per
// reporter, requests by response code and the duration histogram's threshold bucket (250 ms),
// +Inf bucket and count.
func series(flows ...flow) string {
	var counters []*counter
	get := map[string]*counter{}
	c := func(metric, labels string) *counter {
		key := metric + "{" + labels + "}"
		if get[key] == nil {
			get[key] = &counter{labels: key}
			counters = append(counters, get[key])
		}
		return get[key]
	}
	for _, f := range flows {
		le := cmp.Or(f.le, "250")
		// histogram is one response code's duration histogram: the threshold bucket, +Inf, count.
		type histogram struct{ fast, inf, count *counter }
		hist := func(l string) histogram {
			return histogram{
				fast:  c("istio_request_duration_milliseconds_bucket", l+`, le="`+le+`"`),
				inf:   c("istio_request_duration_milliseconds_bucket", l+`, le="+Inf"`),
				count: c("istio_request_duration_milliseconds_count", l),
			}
		}
		type view struct {
			r               reporter
			ok, bad         *counter
			okHist, badHist histogram
		}
		v := func(r reporter, flags string) *view {
			l := r.labels(f.track, cmp.Or(f.service, "marketdata"))
			okl, badl := l+`, response_code="200", response_flags="-"`, l+`, response_code="503", response_flags="`+flags+`"`
			return &view{r: r,
				ok: c("istio_requests_total", okl), bad: c("istio_requests_total", badl),
				okHist: hist(okl), badHist: hist(badl),
			}
		}
		// Every reporter of the flow, so each gets a sample every minute of the flow.
		var all []*view
		if f.caller {
			all = []*view{v(sidecarFromCaller, "-")}
		} else {
			all = []*view{v(gateway, "-"), v(gatewayNoPod, "UH"), v(sidecarFromGateway, "-")}
		}
		minute := 0
		for _, p := range f.phases {
			for range p.minutes {
				for _, w := range all {
					good, bad := p.perMinute*(1-p.errors), p.perMinute*p.errors
					switch {
					case w.r == gatewayNoPod && p.noPod:
						good, bad = 0, p.perMinute
					case p.noPod || w.r == gatewayNoPod:
						good, bad = 0, 0
					case w.r == sidecarFromGateway:
						bad *= max(p.attempts, 1)
					}
					w.ok.add(minute, good)
					w.bad.add(minute, bad)
					// A failure is answered fast; slow applies to the answers.
					w.okHist.fast.add(minute, good*(1-p.slow))
					w.okHist.inf.add(minute, good)
					w.okHist.count.add(minute, good)
					w.badHist.fast.add(minute, bad)
					w.badHist.inf.add(minute, bad)
					w.badHist.count.add(minute, bad)
				}
				minute++
			}
		}
	}
	var b strings.Builder
	b.WriteString("load 1m\n")
	for _, c := range counters {
		c.load(&b)
	}
	return b.String()
}
