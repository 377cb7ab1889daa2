// Package api is the HTTP face of the marketdata service: the original ASP.NET routes, byte for
// byte, plus item lookup, ETags, health, metrics and an OpenAPI document.
package api

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cryptotracker/ctmd/service/marketdata"
	"github.com/cryptotracker/ctmd/service/metrics"
)

const contentTypeJSON = "application/json; charset=utf-8"

// SystemInfo is what GET /api/systeminfo reports: the original's four keys in its order, then ours.
type SystemInfo struct {
	ApplicationName string `json:"applicationName"`
	EnvironmentName string `json:"environmentName"`
	// ContentRootPath is ASP.NET Core's content root, which defaults to the working directory.
	ContentRootPath string `json:"contentRootPath"`
	ServerURLs      string `json:"serverUrls"`
	Version         string `json:"version"`
}

// Config is everything the handlers depend on.
type Config struct {
	Store   marketdata.CurrencyStore
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	Info    SystemInfo
	// CacheTTL is how long currency responses are served from memory before the store is read again.
	CacheTTL time.Duration
	// StoreTimeout bounds one read of the store, which concurrent requests share; the database
	// timeout. Zero means 5s.
	StoreTimeout time.Duration
	// ShuttingDown reports that the process is draining, which makes /readyz fail so the load
	// balancer stops sending traffic before the listener closes. May be nil.
	ShuttingDown func() bool
}

type server struct {
	store      marketdata.CurrencyStore
	log        *slog.Logger
	metrics    *metrics.Metrics
	cache      *currencyCache
	systemInfo representation
	openAPI    representation
	draining   func() bool
	mux        *http.ServeMux
}

// NewServer builds the handler of every route.
func NewServer(cfg Config) (http.Handler, error) {
	s := &server{
		store:    cfg.Store,
		log:      cfg.Logger,
		metrics:  cfg.Metrics,
		cache:    &currencyCache{store: cfg.Store, ttl: cfg.CacheTTL, readTimeout: cfg.StoreTimeout},
		draining: cfg.ShuttingDown,
		mux:      http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	if s.cache.readTimeout <= 0 {
		s.cache.readTimeout = 5 * time.Second
	}
	if s.draining == nil {
		s.draining = func() bool { return false }
	}
	var err error
	if s.systemInfo, err = newRepresentation(cfg.Info); err != nil {
		return nil, err
	}
	if s.openAPI, err = newRepresentation(openAPIDocument(s.routes())); err != nil {
		return nil, err
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+rt.path, rt.handler)
	}
	return s, nil
}

// ServeHTTP routes, turns the mux's plain-text 404/405 into JSON errors, and records every request
// in the log and the metrics under its route pattern.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	route := "unmatched"
	defer func() {
		if p := recover(); p != nil {
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(p) // net/http's own way to abort a response; it handles it silently
			}
			s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", p)
			if !sw.wroteHeader {
				writeError(sw, http.StatusInternalServerError, codeInternal, "internal error")
			}
		}
		d := time.Since(start)
		s.metrics.ObserveRequest(route, metricMethod(r.Method), sw.status, d)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000))
	}()
	routed := routable(r)
	h, pattern := s.mux.Handler(routed)
	if pattern != "" {
		route = pattern
		// Through the mux again, not h: only ServeHTTP sets the path values.
		s.mux.ServeHTTP(sw, routed)
		return
	}
	unmatched(sw, routed, h)
}

// metricMethod bounds the method label: clients may send any token as a method.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// unmatched runs the mux's own answer for a request no route matched (404, or 405 with Allow)
// into a recorder, and says the same in JSON.
func unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		writeError(w, http.StatusNotFound, codeNotFound, "no route for "+r.URL.Path)
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "method "+r.Method+" not allowed; allowed: "+rec.header.Get("Allow"))
	default: // e.g. the mux's redirect to a cleaned path
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	}
}

// statusWriter remembers the status for the request log. It does not hide http.Flusher or other
// interfaces that the handlers here would need: none of them stream.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// writeRepresentation writes a precomputed body with its ETag, or 304 when the client has it.
func writeRepresentation(w http.ResponseWriter, r *http.Request, rep representation) {
	h := w.Header()
	h["Etag"] = rep.etagHeader
	h["Content-Type"] = contentTypeJSONHeader
	if etagMatches(r.Header.Values("If-None-Match"), rep.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Length"] = rep.contentLength
	_, _ = w.Write(rep.body)
}

var contentTypeJSONHeader = []string{contentTypeJSON}

// etagMatches implements If-None-Match's weak comparison (RFC 9110 13.1.2) over every field
// line, each a list: "*", or any entity-tag whose opaque part equals ours once W/ is ignored. The
// tags are scanned as quoted strings, because an opaque tag may itself contain a comma.
func etagMatches(fields []string, etag string) bool {
	opaque := strings.TrimPrefix(etag, "W/")
	for _, f := range fields {
		for {
			f = strings.TrimLeft(f, " \t,")
			if f == "" {
				break
			}
			if f[0] == '*' {
				return true
			}
			f = strings.TrimPrefix(f, "W/")
			end := -1 // of the closing quote
			if len(f) > 1 && f[0] == '"' {
				end = strings.IndexByte(f[1:], '"') + 1
			}
			if end <= 0 {
				break // not an entity-tag: the rest of this line cannot be trusted
			}
			if f[:end+1] == opaque {
				return true
			}
			f = f[end+1:]
		}
	}
	return false
}
