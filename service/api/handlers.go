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

// snapshot returns the cached currency responses, or answers the error itself: 503 when the store
// is not ready (a stale cache must not hide an outage from clients and load balancers) or the
// read met an outage, 500 when the database answered with something the service cannot use.
func (s *server) snapshot(w http.ResponseWriter, r *http.Request) (*snapshot, bool) {
	if !s.store.Ready() {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "the currency database is unavailable; retry later")
		return nil, false
	}
	snap, err := s.cache.get(r.Context())
	switch {
	case err == nil:
		return snap, true
	case errors.Is(err, marketdata.ErrUnavailable), r.Context().Err() != nil:
		// An outage is logged by the store; a client that left is not an error of ours.
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "the currency database is unavailable; retry later")
	case errors.Is(err, marketdata.ErrUnreadable):
		// Logged by the store, once per cause: not once per request.
		writeError(w, http.StatusInternalServerError, codeInternal, "the currency database holds data the service cannot read, or refused the read; the service log says why")
	default:
		s.log.Error("reading currencies", "error", err.Error())
		writeError(w, http.StatusInternalServerError, codeInternal, "internal error")
	}
	return nil, false
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
