// Package metrics holds the Prometheus collectors of the marketdata service on a private registry,
// so tests and several servers in one process never collide on the global default registry.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the set of collectors the api and store packages report to.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	dbErrors *prometheus.CounterVec
	handler  http.Handler
	// observers caches the label-resolved collectors per route, method and status: resolving
	// labels costs more than the observation itself on the hot path.
	observers sync.Map // requestKey -> requestObservers
}

type requestKey struct {
	route, method string
	status        int
}

type requestObservers struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// New registers the service's collectors plus the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marketdata_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "marketdata_http_request_duration_seconds",
			Help:    "HTTP request latency, by route pattern, method and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "status"}),
		dbErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marketdata_db_errors_total",
			Help: "Failed database operations, by operation and class: outage (network, timeout, no server; answered 503 and retried), data (a document the service cannot decode), refused (the server refused the command, e.g. permissions), other (answered 500 like data and refused).",
		}, []string{"op", "class"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.dbErrors,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
	return m
}

// ObserveRequest records one served request. route must be a pattern and method one of a fixed
// set, never raw client input, so that scanners cannot blow up the label cardinality.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	key := requestKey{route, method, status}
	o, ok := m.observers.Load(key)
	if !ok {
		code := strconv.Itoa(status)
		o, _ = m.observers.LoadOrStore(key, requestObservers{
			count:   m.requests.WithLabelValues(route, method, code),
			latency: m.latency.WithLabelValues(route, method, code),
		})
	}
	obs := o.(requestObservers)
	obs.count.Inc()
	obs.latency.Observe(d.Seconds())
}

// DBError counts one failed database operation. op and class come from a fixed set in the
// store, never from error text, so the label cardinality stays bounded.
func (m *Metrics) DBError(op, class string) {
	m.dbErrors.WithLabelValues(op, class).Inc()
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return m.handler
}
