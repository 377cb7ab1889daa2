package api

import "net/http"

// route is one entry of the route table, which is the single source of both the mux and the
// OpenAPI document, so the two cannot drift apart.
type route struct {
	method  string
	path    string
	handler http.HandlerFunc
	doc     operationDoc
}

func (s *server) routes() []route {
	return []route{
		{"GET", "/api/v1/currencies", s.handleCurrencies, operationDoc{
			summary:   "List all currencies, sorted by symbol",
			responses: map[int]response{200: {"The currencies", "CurrencyList"}, 304: notModified, 503: unavailable},
		}},
		{"GET", "/api/v1/currencies/{symbol}", s.handleCurrency, operationDoc{
			summary: "Get one currency by symbol (case-insensitive)",
			params:  []param{{"symbol", "1 to 10 letters or digits", `^[A-Za-z0-9]{1,10}$`}},
			responses: map[int]response{200: {"The currency", "Currency"}, 304: notModified,
				400: {"The symbol is not 1 to 10 letters or digits", "Error"}, 404: {"No such currency", "Error"}, 503: unavailable},
		}},
		{"GET", "/api/systeminfo", s.handleSystemInfo, operationDoc{
			summary:   "Application name, environment, version and listen URLs; never touches the database",
			responses: map[int]response{200: {"System information", "SystemInfo"}},
		}},
		{"GET", "/api/openapi.json", s.handleOpenAPI, operationDoc{
			summary:   "This document",
			responses: map[int]response{200: {"OpenAPI 3 document", ""}},
		}},
		{"GET", "/healthz", s.handleHealthz, operationDoc{
			summary:   "Liveness: the process is serving; never touches the database",
			responses: map[int]response{200: {"Alive", "Status"}},
		}},
		{"GET", "/readyz", s.handleReadyz, operationDoc{
			summary:   "Readiness: the database is reachable and migrated, and the process is not shutting down",
			responses: map[int]response{200: {"Ready", "Status"}, 503: {"Not ready", "Error"}},
		}},
		{"GET", "/metrics", s.handleMetrics, operationDoc{
			summary:   "Prometheus metrics",
			responses: map[int]response{200: {"Prometheus text exposition format", ""}},
		}},
	}
}

var (
	notModified = response{"The client's copy (If-None-Match) is current", ""}
	unavailable = response{"The database is unreachable or not migrated yet", "Error"}
)
