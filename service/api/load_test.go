package api_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cryptotracker/ctmd/service/api"
	"github.com/cryptotracker/ctmd/service/internal/testdb"
	"github.com/cryptotracker/ctmd/service/metrics"
	"github.com/cryptotracker/ctmd/service/store"
)

var loadDuration = flag.Duration("load", 0, "run TestLoad, measuring each server for this long (make bench)")

const loadClients = 64

type loadResult struct {
	errors    int
	elapsed   time.Duration
	latencies []time.Duration
}

func (r loadResult) rate() float64 { return float64(len(r.latencies)) / r.elapsed.Seconds() }

func (r *loadResult) add(o loadResult) {
	r.errors += o.errors
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
}

func (r loadResult) percentile(p int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(r.latencies))
	return sorted[len(sorted)*p/100]
}

// drive sends GET url from loadClients keep-alive clients for d and checks every answer is
// wantStatus with exactly want as the body.
func drive(url string, wantStatus int, want []byte, d time.Duration) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: loadClients, MaxConnsPerHost: loadClients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	latencies := make([][]time.Duration, loadClients)
	errs := make([]int, loadClients)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range loadClients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1<<16)
			buf := bytes.NewBuffer(make([]byte, 0, 512))
			for ctx.Err() == nil {
				t0 := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					errs[i]++
					continue
				}
				buf.Reset()
				_, err = buf.ReadFrom(resp.Body)
				_ = resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if err != nil || resp.StatusCode != wantStatus || !bytes.Equal(buf.Bytes(), want) {
					errs[i]++
				}
			}
			latencies[i] = lat
		})
	}
	wg.Wait()
	r := loadResult{elapsed: time.Since(start), latencies: slices.Concat(latencies...)}
	for _, e := range errs {
		r.errors += e
	}
	return r
}

// TestLoad is `make bench`: the real handler stack (routing, metrics, one JSON log line per
// request formatted and discarded, the cached list) against a bare net/http handler writing the
// identical response, both over loopback HTTP, with the load generator in the same process.
func TestLoad(t *testing.T) {
	if *loadDuration == 0 {
		t.Skip("run by make bench (-load 5s)")
	}
	st, err := store.Open(store.Config{URI: testdb.URI(), Database: testdb.Database(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close(context.Background()) }()
	st.Check(context.Background())
	h, err := api.NewServer(api.Config{
		Store:    st,
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics:  metrics.New(),
		CacheTTL: 2 * time.Second,
		Info:     api.SystemInfo{ApplicationName: "marketdata"},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := httptest.NewServer(h)
	defer svc.Close()

	resp, err := http.Get(svc.URL + "/api/v1/currencies")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != testdb.SeededList {
		t.Fatalf("service answers %d %s", resp.StatusCode, body)
	}
	etag := resp.Header.Get("ETag")
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Etag", etag)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
	}))
	defer bare.Close()

	// Whichever server runs second in a pair measured faster on a busy machine, so each runs
	// first twice and second twice, and the totals over all four runs count.
	urls := [2]string{bare.URL + "/api/v1/currencies", svc.URL + "/api/v1/currencies"}
	var total [2]loadResult
	for _, order := range [][2]int{{0, 1}, {1, 0}, {1, 0}, {0, 1}} {
		for _, i := range order {
			total[i].add(drive(urls[i], http.StatusOK, body, *loadDuration))
		}
	}
	fmt.Printf("\nGET /api/v1/currencies, %d clients, loopback, 4 runs of %s per server, order alternated\n", loadClients, *loadDuration)
	fmt.Printf("%-16s %10s %7s %10s %10s %10s\n", "server", "requests", "errors", "req/s", "p50", "p99")
	for i, name := range []string{"bare net/http", "marketdata"} {
		r := total[i]
		fmt.Printf("%-16s %10d %7d %10.0f %10s %10s\n", name, len(r.latencies), r.errors, r.rate(),
			r.percentile(50).Round(time.Microsecond), r.percentile(99).Round(time.Microsecond))
	}
	ratio := total[1].rate() / total[0].rate()
	fmt.Printf("ratio marketdata / bare = %.2f (goal >= 0.80)\n\n", ratio)
	if total[0].errors+total[1].errors != 0 {
		t.Errorf("%d errors", total[0].errors+total[1].errors)
	}
	if ratio < 0.8 {
		t.Errorf("throughput ratio %.2f is below the 0.80 goal", ratio)
	}
	loadStalled(t)
}

// loadStalled is the same load on a store that stays ready while every read stalls until the
// database timeout: every request must answer 503 within about one timeout, however many wait.
func loadStalled(t *testing.T) {
	st := newStalledStore(500 * time.Millisecond)
	h, err := api.NewServer(api.Config{
		Store:        st,
		Logger:       slog.New(slog.NewJSONHandler(io.Discard, nil)),
		CacheTTL:     2 * time.Second,
		StoreTimeout: st.timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := httptest.NewServer(h)
	defer svc.Close()
	want := []byte(`{"error":{"code":"unavailable","message":"the currency database is unavailable; retry later"}}`)
	r := drive(svc.URL+"/api/v1/currencies", http.StatusServiceUnavailable, want, *loadDuration)
	worst := slices.Max(append(r.latencies, 0))
	fmt.Printf("stalled store (ready, every read stalls until the %s database timeout), %d clients, %s\n", st.timeout, loadClients, *loadDuration)
	fmt.Printf("%10s %7s %10s %10s %10s %12s\n", "answered", "errors", "p50", "p99", "max", "store reads")
	fmt.Printf("%10d %7d %10s %10s %10s %12d\n\n", len(r.latencies)-r.errors, r.errors,
		r.percentile(50).Round(time.Microsecond), r.percentile(99).Round(time.Microsecond), worst.Round(time.Millisecond), st.reads.Load())
	if r.errors != 0 {
		t.Errorf("stalled store: %d requests not answered 503 JSON", r.errors)
	}
	if limit := st.timeout * 3 / 2; r.percentile(99) > limit {
		t.Errorf("stalled store: p99 %s exceeds the database timeout plus half (%s)", r.percentile(99), limit)
	}
}
