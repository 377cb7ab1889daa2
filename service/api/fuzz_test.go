package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cryptotracker/ctmd/service/marketdata"
)

// FuzzCurrencySymbol feeds arbitrary symbols to GET /api/v1/currencies/{symbol}: never a 5xx or a
// panic, always a JSON answer, 200/404 exactly for well-formed symbols and 400 for the rest.
func FuzzCurrencySymbol(f *testing.F) {
	fx := newFixture(f, time.Hour)
	for _, seed := range []string{"BTC", "btc", "xRp", "DOGE", "ABCDEFGHIJ", "ABCDEFGHIJK", "", ".", "..", "a/b", "%", "%2F",
		"é", "\x00", "BTC\n", " BTC", "BTC?x=1", "BTC#frag", "ﬀ", "İ", strings.Repeat("A", 5000)} {
		f.Add(seed)
	}
	known := map[string]bool{}
	for _, c := range marketdata.SeedCurrencies {
		known[c.Symbol] = true
	}
	f.Fuzz(func(t *testing.T, symbol string) {
		req := httptest.NewRequest("GET", "/api/v1/currencies/"+url.PathEscape(symbol), nil)
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		status := rec.Code
		if status >= 500 {
			t.Fatalf("symbol %q: status %d %s", symbol, status, rec.Body)
		}
		switch {
		case symbol == "":
			// /api/v1/currencies/ is the list: one trailing slash is ignored, as in the original.
			if status != http.StatusOK {
				t.Fatalf("empty symbol: status %d, want the list", status)
			}
		case symbol == "." || symbol == ".." || strings.Contains(symbol, "/"):
			// Not one path segment once unescaped: the mux cleans the path or finds no route.
			if status != http.StatusNotFound && status != http.StatusBadRequest && status/100 != 3 {
				t.Fatalf("symbol %q: status %d", symbol, status)
			}
			return
		case !marketdata.ValidSymbol(symbol):
			if status != http.StatusBadRequest {
				t.Fatalf("malformed symbol %q: status %d, want 400", symbol, status)
			}
		case known[strings.ToUpper(symbol)]:
			if status != http.StatusOK {
				t.Fatalf("known symbol %q: status %d", symbol, status)
			}
		default:
			if status != http.StatusNotFound {
				t.Fatalf("unknown symbol %q: status %d, want 404", symbol, status)
			}
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("symbol %q: body is not JSON: %q", symbol, rec.Body)
		}
	})
}
