package api_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cryptotracker/ctmd/service/api"
	"github.com/cryptotracker/ctmd/service/internal/testdb"
	"github.com/cryptotracker/ctmd/service/internal/testhttp"
	"github.com/cryptotracker/ctmd/service/marketdata"
)

// The original's MVC routing ignores case and one trailing slash; its clients rely on both, and
// a redirect would cost them a round trip (and lose HEAD/POST semantics in some clients).
func TestRoutingIgnoresCaseAndOneTrailingSlash(t *testing.T) {
	f := newFixture(t, time.Hour)
	serve := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	for _, path := range []string{"/API/V1/Currencies", "/api/v1/currencies/", "/Api/V1/CURRENCIES/"} {
		if rec := serve("GET", path); rec.Code != 200 || rec.Body.String() != testdb.SeededList {
			t.Errorf("GET %s = %d %s, want 200 and the list, in place", path, rec.Code, rec.Body)
		}
	}
	for _, path := range []string{"/API/V1/CURRENCIES/eth", "/api/v1/currencies/Eth/"} {
		if rec := serve("GET", path); rec.Code != 200 || rec.Body.String() != `{"symbol":"ETH","name":"Ethereum"}` {
			t.Errorf("GET %s = %d %s", path, rec.Code, rec.Body)
		}
	}
	for _, path := range []string{"/HEALTHZ", "/readyz/", "/API/SystemInfo/", "/Metrics"} {
		if rec := serve("GET", path); rec.Code != 200 {
			t.Errorf("GET %s = %d, want 200", path, rec.Code)
		}
	}
	// One slash only, and non-ASCII letters are not folded into ASCII (U+212A KELVIN SIGN is not K).
	for path, want := range map[string]int{"/api/v1/currencies//": 404, "/api/v1/currencies/BTC//": 404, "/api/v1/currencies/%E2%84%AAMD": 400} {
		if rec := serve("GET", path); rec.Code != want {
			t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
		}
	}
	if rec := serve("POST", "/API/V1/Currencies/"); rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /API/V1/Currencies/ = %d Allow %q, want 405 GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
	metricsBody := f.do(t, "GET", "/metrics").Body
	if want := `marketdata_http_requests_total{method="GET",route="GET /api/v1/currencies",status="200"} 3`; !strings.Contains(metricsBody, want) {
		t.Errorf("/metrics lacks %s: the variants are not counted under their route", want)
	}
}

// fixedStore serves a fixed list, for the encoding tests.
type fixedStore []marketdata.Currency

func (s fixedStore) Currencies(context.Context) ([]marketdata.Currency, error) { return s, nil }
func (fixedStore) Ready() bool                                                 { return true }
func (fixedStore) Generation() uint64                                          { return 1 }

// The bytes Json.NET writes for the original: a missing or null Name is null, <, > and & are not
// escaped, control characters use the short escapes or \u00xx, and U+0085, U+2028 and U+2029
// are escaped.
func TestJSONIsByteExactWithJsonNET(t *testing.T) {
	h, err := api.NewServer(api.Config{Store: fixedStore{
		{Symbol: "AMP", Name: "<b>Tom & Jerry</b>"},
		{Symbol: "CTL", Name: "a\b\f\n\x01\"\\\u0085\u2028\u2029é"},
		{Symbol: "EMPTY", Name: ""},
		{Symbol: "NUL", NoName: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for path, want := range map[string]string{
		"/api/v1/currencies": `[{"symbol":"AMP","name":"<b>Tom & Jerry</b>"},{"symbol":"CTL","name":"a\b\f\n\u0001\"\\\u0085\u2028\u2029é"},` +
			`{"symbol":"EMPTY","name":""},{"symbol":"NUL","name":null}]`,
		"/api/v1/currencies/nul": `{"symbol":"NUL","name":null}`,
		"/api/v1/currencies/amp": `{"symbol":"AMP","name":"<b>Tom & Jerry</b>"}`,
	} {
		if r := testhttp.Do(t, "GET", srv.URL+path); r.Status != 200 || r.Body != want {
			t.Errorf("GET %s = %d\n%s\nwant\n%s", path, r.Status, r.Body, want)
		}
	}
	if r := testhttp.Do(t, "GET", srv.URL+"/x%3C%26%3E"); !strings.Contains(r.Body, `"no route for /x<&>"`) {
		t.Errorf("error body %s escapes <, & or >", r.Body)
	}
}
