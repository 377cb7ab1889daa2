package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cryptotracker/ctmd/service/api"
	"github.com/cryptotracker/ctmd/service/internal/testhttp"
	"github.com/cryptotracker/ctmd/service/marketdata"
)

// stalledStore stays ready while every read hangs until its timeout (or release is closed), as
// the real store does with a database behind a network that stopped forwarding, before any
// health check notices.
type stalledStore struct {
	timeout time.Duration // the store's own, as store.Config.Timeout
	gen     atomic.Uint64
	reads   atomic.Int64
	started chan struct{} // receives once per read
	release chan struct{}
	mu      sync.Mutex
	ended   []error // why each read ended: the context's error, or nil when released
}

func newStalledStore(timeout time.Duration) *stalledStore {
	return &stalledStore{timeout: timeout, started: make(chan struct{}, 1024), release: make(chan struct{})}
}

func (s *stalledStore) Ready() bool        { return true }
func (s *stalledStore) Generation() uint64 { return s.gen.Load() }

func (s *stalledStore) Currencies(ctx context.Context) ([]marketdata.Currency, error) {
	s.reads.Add(1)
	s.started <- struct{}{}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var cause error
	select {
	case <-ctx.Done():
		cause = ctx.Err()
	case <-s.release:
	}
	s.mu.Lock()
	s.ended = append(s.ended, cause)
	s.mu.Unlock()
	return nil, fmt.Errorf("%w: find_currencies: stalled", marketdata.ErrUnavailable)
}

// ferretDBAcceptLoop is the shared test database's (TestMain), which it may still be starting
// when the first test runs: not a goroutine of the code under test.
var ferretDBAcceptLoop = goleak.IgnoreAnyFunction("github.com/FerretDB/FerretDB/internal/clientconn.acceptLoop")

func stalledServer(t *testing.T, st *stalledStore, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	h, err := api.NewServer(api.Config{Store: st, CacheTTL: time.Hour, StoreTimeout: st.timeout})
	if err != nil {
		t.Fatal(err)
	}
	return httptest.NewServer(wrap(h))
}

// 64 concurrent requests on a stalled store: one store read, ended by the database timeout
// (not by a request leaving), and every request answers 503 JSON from that one read, so none waits
// longer than one timeout; afterwards no goroutine is left. (The latency itself is measured by
// make bench, not asserted here.)
func TestStalledStoreCostsOneReadForAllRequests(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), ferretDBAcceptLoop)
	st := newStalledStore(200 * time.Millisecond)
	srv := stalledServer(t, st, func(h http.Handler) http.Handler { return h })
	defer srv.Close()

	const clients = 64
	answers := make([]testhttp.Response, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { answers[i] = testhttp.Do(t, "GET", srv.URL+"/api/v1/currencies") })
	}
	wg.Wait()
	for _, a := range answers {
		assertJSONError(t, a, http.StatusServiceUnavailable, "unavailable")
	}
	if n := st.reads.Load(); n != 1 {
		t.Errorf("%d concurrent requests made %d store reads, want 1", clients, n)
	}
	st.mu.Lock()
	ended := st.ended
	st.mu.Unlock()
	if len(ended) != 1 || !errors.Is(ended[0], context.DeadlineExceeded) {
		t.Errorf("the read ended with %v, want the store timeout", ended)
	}
	// The failed read answers for the store for a while: another burst costs no read.
	for range 8 {
		assertJSONError(t, testhttp.Do(t, "GET", srv.URL+"/api/v1/currencies/BTC"), http.StatusServiceUnavailable, "unavailable")
	}
	if n := st.reads.Load(); n != 1 {
		t.Errorf("requests right after a failed read made %d store reads in all, want 1", n)
	}
	// A store that became ready again is read at once, remembered failure or not.
	st.gen.Add(1)
	testhttp.Do(t, "GET", srv.URL+"/api/v1/currencies")
	if n := st.reads.Load(); n != 2 {
		t.Errorf("after a new store generation: %d store reads in all, want 2", n)
	}
	http.DefaultClient.CloseIdleConnections()
}

// A client that gives up frees its handler at once, while the read it was waiting for (started
// by another request) is still stalled.
func TestWaitingForAStalledReadHonoursTheRequestContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), ferretDBAcceptLoop)
	st := newStalledStore(time.Hour)
	leaverIn, leaverDone := make(chan struct{}), make(chan struct{})
	srv := stalledServer(t, st, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.RawQuery == "leaver" {
				close(leaverIn)
				defer close(leaverDone)
			}
			h.ServeHTTP(w, r)
		})
	})
	defer srv.Close()
	release := sync.OnceFunc(func() { close(st.release) })
	defer release() // before srv.Close, which waits for the handlers
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	first := make(chan testhttp.Response, 1)
	go func() { first <- testhttp.Do(t, "GET", srv.URL+"/api/v1/currencies") }()
	<-st.started

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/currencies?leaver", nil)
	if err != nil {
		t.Fatal(err)
	}
	leaverErr := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		leaverErr <- err
	}()
	<-leaverIn // the client gives up while its request is being handled
	cancel()
	if err := <-leaverErr; !errors.Is(err, context.Canceled) {
		t.Errorf("client: %v, want context.Canceled", err)
	}
	select {
	case <-leaverDone:
	case <-time.After(10 * time.Second): // bounds a broken run only
		t.Fatal("a handler still waits for the stalled read after its client left")
	}
	if n := st.reads.Load(); n != 1 {
		t.Errorf("%d store reads, want 1 (the leaver must not read the store)", n)
	}
	release()
	assertJSONError(t, <-first, http.StatusServiceUnavailable, "unavailable")
	http.DefaultClient.CloseIdleConnections()
}
