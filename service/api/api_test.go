package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptotracker/ctmd/internal/testlog"
	"github.com/cryptotracker/ctmd/service/api"
	"github.com/cryptotracker/ctmd/service/internal/testdb"
	"github.com/cryptotracker/ctmd/service/internal/testhttp"
	"github.com/cryptotracker/ctmd/service/marketdata"
	"github.com/cryptotracker/ctmd/service/metrics"
	"github.com/cryptotracker/ctmd/service/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// countingStore is the real store with a switch to simulate an outage and a count of reads.
type countingStore struct {
	*store.Store
	down   atomic.Bool
	panics atomic.Bool
	reads  atomic.Int64
	gen    atomic.Uint64
}

func (c *countingStore) Ready() bool { return !c.down.Load() && c.Store.Ready() }

func (c *countingStore) Generation() uint64 { return c.Store.Generation() + c.gen.Load() }

func (c *countingStore) Currencies(ctx context.Context) ([]marketdata.Currency, error) {
	c.reads.Add(1)
	if c.panics.Load() {
		panic("simulated bug in the store")
	}
	return c.Store.Currencies(ctx)
}

type fixture struct {
	url      string
	handler  http.Handler
	store    *countingStore
	db       string
	logs     *testlog.Buffer
	draining atomic.Bool
}

func newFixture(t testing.TB, cacheTTL time.Duration) *fixture {
	t.Helper()
	return newFixtureAt(t, cacheTTL, testdb.URI())
}

// newFixtureAt serves a fresh database of the server at uri, with the store's logs and metrics
// wired to the server's as the service wires them.
func newFixtureAt(t testing.TB, cacheTTL time.Duration, uri string) *fixture {
	t.Helper()
	f := &fixture{db: testdb.Database(t), logs: &testlog.Buffer{}}
	logger, m := slog.New(slog.NewJSONHandler(f.logs, nil)), metrics.New()
	st, err := store.Open(store.Config{URI: uri, Database: f.db, Timeout: testdb.Timeout, Logger: logger, OnDBError: m.DBError})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	st.Check(context.Background())
	if !st.Ready() {
		t.Fatal("store not ready")
	}
	f.store = &countingStore{Store: st}
	h, err := api.NewServer(api.Config{
		Store:        f.store,
		Logger:       logger,
		Metrics:      m,
		CacheTTL:     cacheTTL,
		ShuttingDown: f.draining.Load,
		Info:         api.SystemInfo{ApplicationName: "marketdata", EnvironmentName: "Staging", ContentRootPath: "/srv/app", Version: "1.2.3", ServerURLs: "http://+:8080"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	f.handler = h
	return f
}

func (f *fixture) do(t testing.TB, method, path string, header ...string) testhttp.Response {
	t.Helper()
	return testhttp.Do(t, method, f.url+path, header...)
}

// assertReads checks how often the handlers read the store.
func (f *fixture) assertReads(t *testing.T, want int64, when string) {
	t.Helper()
	if n := f.store.reads.Load(); n != want {
		t.Errorf("%s: %d store reads, want %d", when, n, want)
	}
}

func assertJSONError(t *testing.T, r testhttp.Response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status %d, want %d (body %s)", r.Status, status, r.Body)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type %q, want JSON", r.Header.Get("Content-Type"))
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("body %s: want {\"error\":{\"code\":%q,\"message\":…}}", r.Body, code)
	}
}

func TestOriginalRoutesAreByteExact(t *testing.T) {
	f := newFixture(t, time.Hour)
	r := f.do(t, "GET", "/api/v1/currencies")
	if r.Status != 200 || r.Body != testdb.SeededList {
		t.Errorf("GET /api/v1/currencies = %d %s\nwant 200 %s", r.Status, r.Body, testdb.SeededList)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	r = f.do(t, "GET", "/api/systeminfo")
	// The original's four keys in its order, then ours.
	want := `{"applicationName":"marketdata","environmentName":"Staging","contentRootPath":"/srv/app","serverUrls":"http://+:8080","version":"1.2.3"}`
	if r.Status != 200 || r.Body != want {
		t.Errorf("GET /api/systeminfo = %d %s\nwant 200 %s", r.Status, r.Body, want)
	}
}

func TestCurrencyBySymbol(t *testing.T) {
	f := newFixture(t, time.Hour)
	for _, sym := range []string{"eth", "ETH", "Eth"} {
		r := f.do(t, "GET", "/api/v1/currencies/"+sym)
		if r.Status != 200 || r.Body != `{"symbol":"ETH","name":"Ethereum"}` {
			t.Errorf("GET %s = %d %s", sym, r.Status, r.Body)
		}
	}
	for _, sym := range []string{"DOGE", "X", "ABCDEFGHIJ"} {
		assertJSONError(t, f.do(t, "GET", "/api/v1/currencies/"+sym), 404, "not_found")
	}
	for _, sym := range []string{"ABCDEFGHIJK", "bt-c", "%C3%A9", "b%20c", "BTC%00"} {
		assertJSONError(t, f.do(t, "GET", "/api/v1/currencies/"+sym), 400, "invalid_symbol")
	}
}

func TestRoutingErrorsAreJSON(t *testing.T) {
	f := newFixture(t, time.Hour)
	assertJSONError(t, f.do(t, "GET", "/nope"), 404, "not_found")
	assertJSONError(t, f.do(t, "GET", "/api/v1/currencies/BTC/extra"), 404, "not_found")
	for _, path := range []string{"/api/v1/currencies", "/api/v1/currencies/BTC", "/readyz"} {
		r := f.do(t, "POST", path)
		assertJSONError(t, r, 405, "method_not_allowed")
		if allow := r.Header.Get("Allow"); allow != "GET, HEAD" {
			t.Errorf("POST %s: Allow %q, want \"GET, HEAD\"", path, allow)
		}
	}
}

func TestETagRoundTrip(t *testing.T) {
	f := newFixture(t, time.Hour)
	for _, path := range []string{"/api/v1/currencies", "/api/v1/currencies/btc", "/api/systeminfo"} {
		first := f.do(t, "GET", path)
		etag := first.Header.Get("ETag")
		if first.Status != 200 || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10 {
			t.Fatalf("GET %s: status %d, ETag %q", path, first.Status, etag)
		}
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			r := f.do(t, "GET", path, "If-None-Match", inm)
			if r.Status != 304 || r.Body != "" || r.Header.Get("ETag") != etag {
				t.Errorf("GET %s If-None-Match %s = %d %q ETag %q, want 304, empty, same ETag", path, inm, r.Status, r.Body, r.Header.Get("ETag"))
			}
		}
		// Several field lines count as one list (RFC 9110 5.3), and a quoted tag may hold a comma.
		for _, lines := range [][]string{{`"other"`, etag}, {`"a,b"`, "W/" + etag}, {`"other"`, "*"}, {`"x", "y"`, `"z",` + etag}} {
			r := f.do(t, "GET", path, "If-None-Match", lines[0], "If-None-Match", lines[1])
			if r.Status != 304 {
				t.Errorf("GET %s If-None-Match lines %q = %d, want 304", path, lines, r.Status)
			}
		}
		for _, stale := range [][]string{{`"stale"`}, {`"stale"`, `"a,` + strings.Trim(etag, `"`) + `"`}, {`W/`, `"x`}, {"bogus " + etag}} {
			var header []string
			for _, line := range stale {
				header = append(header, "If-None-Match", line)
			}
			if r := f.do(t, "GET", path, header...); r.Status != 200 || r.Body != first.Body {
				t.Errorf("GET %s with If-None-Match lines %q = %d, want 200 and the body", path, stale, r.Status)
			}
		}
	}
	btc := f.do(t, "GET", "/api/v1/currencies/BTC").Header.Get("ETag")
	if eth := f.do(t, "GET", "/api/v1/currencies/ETH").Header.Get("ETag"); eth == btc {
		t.Error("two different currencies share an ETag")
	}
}

func TestHeadWhereverGet(t *testing.T) {
	f := newFixture(t, time.Hour)
	for _, path := range []string{"/api/v1/currencies", "/api/v1/currencies/xmr", "/api/systeminfo", "/api/openapi.json", "/healthz", "/readyz", "/metrics"} {
		get := f.do(t, "GET", path)
		head := f.do(t, "HEAD", path)
		if head.Status != get.Status || head.Body != "" || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") || head.Header.Get("ETag") != get.Header.Get("ETag") {
			t.Errorf("HEAD %s = %d %q %v; GET = %d %v", path, head.Status, head.Body, head.Header, get.Status, get.Header)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	f := newFixture(t, time.Hour)
	if r := f.do(t, "GET", "/healthz"); r.Status != 200 || r.Body != `{"status":"ok"}` {
		t.Errorf("healthz = %d %s", r.Status, r.Body)
	}
	if r := f.do(t, "GET", "/readyz"); r.Status != 200 {
		t.Errorf("readyz = %d %s", r.Status, r.Body)
	}
	// A warm cache must not hide an outage.
	f.do(t, "GET", "/api/v1/currencies")
	f.store.down.Store(true)
	assertJSONError(t, f.do(t, "GET", "/readyz"), 503, "unavailable")
	assertJSONError(t, f.do(t, "GET", "/api/v1/currencies"), 503, "unavailable")
	assertJSONError(t, f.do(t, "GET", "/api/v1/currencies/BTC"), 503, "unavailable")
	if r := f.do(t, "GET", "/healthz"); r.Status != 200 {
		t.Errorf("healthz during an outage = %d", r.Status)
	}
	if r := f.do(t, "GET", "/api/systeminfo"); r.Status != 200 {
		t.Errorf("systeminfo during an outage = %d", r.Status)
	}
	f.store.down.Store(false)
	f.draining.Store(true)
	assertJSONError(t, f.do(t, "GET", "/readyz"), 503, "unavailable")
	if r := f.do(t, "GET", "/api/v1/currencies"); r.Status != 200 {
		t.Errorf("in-flight traffic while draining = %d, want still served", r.Status)
	}
}

func TestListIsCachedNotReadPerRequest(t *testing.T) {
	f := newFixture(t, time.Hour)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if r := f.do(t, "GET", "/api/v1/currencies"); r.Body != testdb.SeededList {
					t.Errorf("body %s", r.Body)
				}
				f.do(t, "GET", "/api/v1/currencies/btc")
			}
		})
	}
	wg.Wait()
	f.assertReads(t, 1, "400 requests")
	// A new generation (the store came back or was migrated) invalidates at once.
	f.store.gen.Add(1)
	f.do(t, "GET", "/api/v1/currencies")
	f.assertReads(t, 2, "after a generation change")
}

func TestCacheExpires(t *testing.T) {
	f := newFixture(t, time.Millisecond)
	f.do(t, "GET", "/api/v1/currencies")
	time.Sleep(5 * time.Millisecond)
	f.do(t, "GET", "/api/v1/currencies")
	f.assertReads(t, 2, "across an expired TTL")
}

func TestRequestLogsAndMetrics(t *testing.T) {
	f := newFixture(t, time.Hour)
	f.do(t, "GET", "/api/v1/currencies")
	f.do(t, "GET", "/api/v1/currencies/nope1")
	f.do(t, "DELETE", "/api/v1/currencies")
	f.do(t, "BREW", "/api/v1/currencies")
	metricsBody := f.do(t, "GET", "/metrics").Body
	for _, want := range []string{
		`marketdata_http_requests_total{method="GET",route="GET /api/v1/currencies",status="200"} 1`,
		`marketdata_http_requests_total{method="GET",route="GET /api/v1/currencies/{symbol}",status="404"} 1`,
		`marketdata_http_requests_total{method="DELETE",route="unmatched",status="405"} 1`,
		`marketdata_http_requests_total{method="OTHER",route="unmatched",status="405"} 1`,
		`marketdata_http_request_duration_seconds_count{method="GET",route="GET /api/v1/currencies",status="200"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(metricsBody, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var lines []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(f.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 5 {
		t.Fatalf("%d request log lines, want 5 (one per request): %v", len(lines), lines)
	}
	first := lines[0]
	if first["method"] != "GET" || first["path"] != "/api/v1/currencies" || first["status"] != float64(200) {
		t.Errorf("log line %v", first)
	}
	if _, ok := first["duration_ms"].(float64); !ok {
		t.Errorf("log line %v has no duration_ms", first)
	}
}

// A bug that panics in a handler costs that request a JSON 500, not the connection or the process.
func TestPanicBecomesJSON500(t *testing.T) {
	f := newFixture(t, time.Hour)
	f.store.panics.Store(true)
	r := f.do(t, "GET", "/api/v1/currencies")
	assertJSONError(t, r, 500, "internal_error")
	if strings.Contains(r.Body, "simulated") || strings.Contains(r.Body, "goroutine") {
		t.Errorf("the panic leaks into the response: %s", r.Body)
	}
	if !strings.Contains(f.logs.String(), `"msg":"handler panic"`) {
		t.Errorf("the panic is not logged:\n%s", f.logs)
	}
	// The cache's refresh lock was released: the next request reads the store again and succeeds.
	f.store.panics.Store(false)
	if r := f.do(t, "GET", "/api/v1/currencies"); r.Status != 200 || r.Body != testdb.SeededList {
		t.Errorf("after the panic: %d %s", r.Status, r.Body)
	}
}
