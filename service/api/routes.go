package api

import (
	"net/http"
	"net/url"
)

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
			responses: map[int]response{200: {"The currencies", "CurrencyList"}, 304: notModified, 500: unreadable, 503: unavailable},
		}},
		{"GET", "/api/v1/currencies/{symbol}", s.handleCurrency, operationDoc{
			summary: "Get one currency by symbol (case-insensitive)",
			params:  []param{{"symbol", "1 to 10 letters or digits", `^[A-Za-z0-9]{1,10}$`}},
			responses: map[int]response{200: {"The currency", "Currency"}, 304: notModified,
				400: {"The symbol is not 1 to 10 letters or digits", "Error"}, 404: {"No such currency", "Error"}, 500: unreadable, 503: unavailable},
		}},
		{"GET", "/api/systeminfo", s.handleSystemInfo, operationDoc{
			summary:   "Application name, environment, content root, listen URLs and version; never touches the database",
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
	unreadable  = response{"The database holds a currency the service cannot decode, or refused the read; the service logs the cause", "Error"}
)

// routable returns r with its path spelled as the route table spells it: ASCII letters in lower
// case and one trailing slash dropped, because ASP.NET Core MVC matches routes case-insensitively
// and with or without a trailing slash, and the original's clients rely on it. The request is
// routed as it is, not redirected. Other letters are left alone (strings.ToLower would turn the
// Kelvin sign into a "k"), and r itself is returned when nothing changes.
func routable(r *http.Request) *http.Request {
	escaped := r.URL.EscapedPath()
	canonical := asciiLower(escaped)
	if len(canonical) > 1 && canonical[len(canonical)-1] == '/' {
		canonical = canonical[:len(canonical)-1]
	}
	if canonical == escaped {
		return r
	}
	path, err := url.PathUnescape(canonical)
	if err != nil {
		return r
	}
	u := *r.URL
	u.Path, u.RawPath = path, canonical
	routed := *r
	routed.URL = &u
	return &routed
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
