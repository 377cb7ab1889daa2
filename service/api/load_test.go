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
	requests, errors int
	elapsed          time.Duration
	p50, p99         time.Duration
}

func (r loadResult) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// drive sends GET url from loadClients keep-alive clients for d and checks every answer is 200
// with exactly want as the body.
func drive(url string, want []byte, d time.Duration) loadResult {
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
				if err != nil || resp.StatusCode != 200 || !bytes.Equal(buf.Bytes(), want) {
					errs[i]++
				}
			}
			latencies[i] = lat
		})
	}
	wg.Wait()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	r := loadResult{requests: len(all), elapsed: time.Since(start)}
	for _, e := range errs {
		r.errors += e
	}
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	return r
}

// TestLoad is `make bench`: the real handler stack (routing, metrics, one JSON log line per
// request formatted and discarded, the cached list) against a bare net/http handler writing the
// identical response, both over loopback HTTP. Each is measured twice, alternating, and the better
// run counts, to damp noise from the load generator sharing the machine.
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

	var best [2]loadResult
	for range 2 {
		for i, url := range []string{bare.URL + "/api/v1/currencies", svc.URL + "/api/v1/currencies"} {
			if r := drive(url, body, *loadDuration); r.rate() > best[i].rate() || best[i].requests == 0 {
				best[i] = r
			}
		}
	}
	fmt.Printf("\nGET /api/v1/currencies, %d clients, loopback, %s per run, best of 2\n", loadClients, *loadDuration)
	fmt.Printf("%-22s %10s %7s %10s %10s %10s\n", "server", "requests", "errors", "req/s", "p50", "p99")
	for i, name := range []string{"bare net/http", "marketdata"} {
		r := best[i]
		fmt.Printf("%-22s %10d %7d %10.0f %10s %10s\n", name, r.requests, r.errors, r.rate(), r.p50, r.p99)
	}
	ratio := best[1].rate() / best[0].rate()
	fmt.Printf("ratio marketdata / bare = %.2f (goal >= 0.80)\n\n", ratio)
	if best[0].errors+best[1].errors != 0 {
		t.Errorf("%d errors", best[0].errors+best[1].errors)
	}
	if ratio < 0.8 {
		t.Errorf("throughput ratio %.2f is below the 0.80 goal", ratio)
	}
}
