package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/cryptotracker/ctmd/service/marketdata"
)

func (s *server) handleCurrencies(w http.ResponseWriter, r *http.Request) {
	if snap, ok := s.snapshot(w, r); ok {
		writeRepresentation(w, r, snap.list)
	}
}

func (s *server) handleCurrency(w http.ResponseWriter, r *http.Request) {
	symbol := r.PathValue("symbol")
	if !marketdata.ValidSymbol(symbol) {
		writeError(w, http.StatusBadRequest, codeInvalidSymbol, "symbol must be 1 to 10 letters or digits")
		return
	}
	snap, ok := s.snapshot(w, r)
	if !ok {
		return
	}
	rep, found := snap.bySymbol[strings.ToUpper(symbol)]
	if !found {
		writeError(w, http.StatusNotFound, codeNotFound, "no currency with symbol "+strings.ToUpper(symbol))
		return
	}
	writeRepresentation(w, r, rep)
}

// snapshot returns the cached currency responses, or answers 503 itself when the store is not
// ready: a stale cache must not hide an outage from clients and load balancers.
func (s *server) snapshot(w http.ResponseWriter, r *http.Request) (*snapshot, bool) {
	if !s.store.Ready() {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "the currency database is unavailable; retry later")
		return nil, false
	}
	snap, err := s.cache.get(r.Context())
	if err != nil {
		// A client that left is not an error of ours; an outage is logged by the store.
		if r.Context().Err() == nil && !errors.Is(err, marketdata.ErrUnavailable) {
			s.log.Error("reading currencies", "error", err.Error())
		}
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "the currency database is unavailable; retry later")
		return nil, false
	}
	return snap, true
}

func (s *server) handleSystemInfo(w http.ResponseWriter, r *http.Request) {
	writeRepresentation(w, r, s.systemInfo)
}

func (s *server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	writeRepresentation(w, r, s.openAPI)
}

var statusOK = []byte(`{"status":"ok"}`)

func (s *server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", contentTypeJSON)
	_, _ = w.Write(statusOK)
}

func (s *server) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	switch {
	case s.draining():
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "shutting down")
	case !s.store.Ready():
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "database unreachable or not migrated")
	default:
		w.Header().Set("Content-Type", contentTypeJSON)
		_, _ = w.Write(statusOK)
	}
}

func (s *server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.Handler().ServeHTTP(w, r)
}
