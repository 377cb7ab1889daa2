package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cryptotracker/ctmd/internal/testlog"
	"github.com/cryptotracker/ctmd/service/embedded"
	"github.com/cryptotracker/ctmd/service/internal/testdb"
	"github.com/cryptotracker/ctmd/service/internal/testhttp"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// service is one run() of the real command on a loopback port.
type service struct {
	url    string
	logs   *testlog.Buffer
	cancel context.CancelFunc // what SIGTERM does in main
	done   chan error
	once   sync.Once
	err    error
}

// stop signals the service and returns what run returned.
func (s *service) stop() error {
	s.cancel()
	s.once.Do(func() {
		select {
		case s.err = <-s.done:
		case <-time.After(15 * time.Second):
			s.err = errors.New("run did not return after cancel")
		}
	})
	return s.err
}

// fastEnv keeps the database checks and the shutdown short so the tests stay quick.
func fastEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		envAddr:            "127.0.0.1:0",
		envDBTimeout:       "300ms",
		envHealthInterval:  "50ms",
		envShutdownDelay:   "0s",
		envShutdownTimeout: "5s",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func startService(t *testing.T, env map[string]string) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{logs: &testlog.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, nil, func(k string) string { return env[k] }, s.logs) }()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if addr := logField(s.logs.String(), "listening", "addr"); addr != "" {
			s.url = "http://" + addr
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("run returned before listening: %v\n%s", err, s.logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("service never logged \"listening\":\n%s", s.logs)
	return nil
}

// logField returns field of the first JSON log line whose msg starts with msg.
func logField(logs, msg, field string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && strings.HasPrefix(m["msg"].(string), msg) {
			v, _ := m[field].(string)
			return v
		}
	}
	return ""
}

func waitLog(t *testing.T, s *service, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.logs.String(), `"msg":"`+msg) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the logs:\n%s", msg, s.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	r := testhttp.Do(t, http.MethodGet, url)
	return r.Status, r.Body
}

// waitStatus polls url until it answers want; the deadline only bounds a broken run.
func waitStatus(t *testing.T, url string, want int) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body := get(t, url)
		if status == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %s, want %d", url, status, body, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func assertUnavailable(t *testing.T, s *service) {
	t.Helper()
	waitStatus(t, s.url+"/readyz", 503)
	status, body := get(t, s.url+"/api/v1/currencies")
	if status != 503 || !strings.Contains(body, `"code":"unavailable"`) {
		t.Errorf("list during outage = %d %s, want 503 JSON", status, body)
	}
	if status, _ := get(t, s.url+"/healthz"); status != 200 {
		t.Errorf("healthz during outage = %d, want 200 (the process is alive)", status)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// The database really goes away (the embedded server is stopped) and comes back at the same
// address; the service follows without a restart, first at start-up, then mid-life.
func TestDatabaseOutageAndRecovery(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	var db *embedded.Server
	// Registered first so it runs last: with the service's connections gone, the server stops at once.
	t.Cleanup(func() {
		if db != nil {
			db.Stop()
		}
	})
	s := startService(t, fastEnv(map[string]string{envConnectionString: "mongodb://" + addr + "/?maxPoolSize=1"}))

	assertUnavailable(t, s)

	db, err := embedded.Start(dir, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.url+"/readyz", 200)
	if body := waitStatus(t, s.url+"/api/v1/currencies", 200); body != testdb.SeededList {
		t.Errorf("after the database appeared: %s", body)
	}

	db.Stop()
	db = nil
	assertUnavailable(t, s)

	db, err = embedded.Start(dir, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.url+"/readyz", 200)
	if body := waitStatus(t, s.url+"/api/v1/currencies", 200); body != testdb.SeededList {
		t.Errorf("after the database came back: %s", body)
	}
	waitLog(t, s, "database unavailable")
}

// stallProxy sits between the service and the database; while stalled it holds the database's
// replies, which makes a request that reads the database genuinely slow.
type stallProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	release chan struct{} // nil when not stalled
	queried chan struct{} // signalled when the service sends a command while stalled
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, queried: make(chan struct{}, 1)}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *stallProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.release = make(chan struct{})
}

func (p *stallProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.release)
	p.release = nil
}

func (p *stallProxy) gate() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.release
}

func (p *stallProxy) pipe(client net.Conn) {
	defer func() { _ = client.Close() }()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer func() { _ = server.Close() }()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if err != nil {
				_ = server.Close()
				return
			}
			if p.gate() != nil {
				select {
				case p.queried <- struct{}{}:
				default:
				}
			}
			if _, err := server.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if err != nil {
			return
		}
		if g := p.gate(); g != nil {
			<-g
		}
		if _, err := client.Write(buf[:n]); err != nil {
			return
		}
	}
}

// SIGTERM (the cancelled context) while a slow request is in flight: readiness fails at once
// while the listener still accepts, then the listener closes, the in-flight request completes with
// its full answer, and run returns nil (exit 0).
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	dbAddr := strings.TrimSuffix(strings.TrimPrefix(testdb.URI(), "mongodb://"), "/?maxPoolSize=1")
	if os.Getenv(testdb.EnvURI) != "" {
		t.Skip("the stalling proxy needs the embedded server's plain address")
	}
	proxy := newStallProxy(t, dbAddr)
	s := startService(t, fastEnv(map[string]string{
		envConnectionString: "mongodb://" + proxy.ln.Addr().String() + "/?maxPoolSize=1",
		envDatabase:         testdb.Database(t),
		envDBTimeout:        "20s",
		envHealthInterval:   "1h",  // only the start-up check, so no ping waits behind the stall
		envCacheTTL:         "1ns", // every list request reads the database
		envShutdownDelay:    "1s",  // the window in which /readyz must already say 503
	}))
	waitStatus(t, s.url+"/readyz", 200)

	proxy.stall()
	type answer struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan answer, 1)
	go func() {
		resp, err := http.Get(s.url + "/api/v1/currencies")
		if err != nil {
			inflight <- answer{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		inflight <- answer{resp.StatusCode, string(body), err}
	}()
	select {
	case <-proxy.queried: // the handler is now waiting for the database
	case <-time.After(10 * time.Second):
		t.Fatal("the list request never reached the database")
	}

	s.cancel()
	waitStatus(t, s.url+"/readyz", 503)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			break // the listener is closed: Shutdown has started
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after the shutdown delay")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-s.done:
		t.Fatalf("run returned (%v) while a request was in flight", err)
	case a := <-inflight:
		t.Fatalf("the in-flight request ended before the database answered: %+v", a)
	case <-time.After(100 * time.Millisecond):
	}

	proxy.resume()
	if a := <-inflight; a.err != nil || a.status != 200 || a.body != testdb.SeededList {
		t.Errorf("in-flight request = %+v, want 200 and the list", a)
	}
	if err := s.stop(); err != nil {
		t.Errorf("run = %v, want nil (exit 0)", err)
	}
}

const (
	secretUser = "marketuser"
	secretPass = "s3cr3tP4ss"
)

// The connection string's credentials must not reach logs or responses, even when the database
// is unreachable and every error path runs.
func TestCredentialsNeverLeak(t *testing.T) {
	addr := freeAddr(t)
	s := startService(t, fastEnv(map[string]string{
		envConnectionString: "mongodb://" + secretUser + ":" + secretPass + "@" + addr + "/admin?authSource=admin",
	}))
	assertUnavailable(t, s)
	waitLog(t, s, "database unavailable")
	var bodies strings.Builder
	for _, path := range []string{"/readyz", "/api/v1/currencies", "/api/v1/currencies/BTC", "/api/v1/currencies/bad-sym", "/api/systeminfo", "/api/openapi.json", "/nope", "/metrics"} {
		_, body := get(t, s.url+path)
		bodies.WriteString(body)
	}
	if !strings.Contains(bodies.String(), `marketdata_db_errors_total{class="outage",op="ping"}`) {
		t.Error("/metrics does not count the failed database pings")
	}
	if logField(s.logs.String(), "using MongoDB", "store") != "mongodb" || logField(s.logs.String(), "using MongoDB", "hosts") != addr {
		t.Errorf("logs do not say which store (mongodb, hosts %s):\n%s", addr, s.logs)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"logs": s.logs.String(), "responses": bodies.String()} {
		for _, secret := range []string{secretPass, secretUser} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain %q:\n%s", what, secret, text)
			}
		}
	}

	// A connection string the driver rejects: the error names the variable, not the credentials.
	err := run(context.Background(), nil, func(k string) string {
		return map[string]string{envConnectionString: "mongodb://" + secretUser + ":" + secretPass + "@" + addr + "/?maxPoolSize=lots"}[k]
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), envConnectionString) || strings.Contains(err.Error(), secretPass) || strings.Contains(err.Error(), secretUser) {
		t.Errorf("run with a bad connection string = %v", err)
	}
}

func TestEmbeddedStoreWithoutConnectionString(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startService(t, fastEnv(map[string]string{envDataDir: dir, envEnvironment: "Development"}))
	if logField(s.logs.String(), "using the embedded store", "store") != "embedded" {
		t.Errorf("logs do not say the embedded store is used:\n%s", s.logs)
	}
	waitStatus(t, s.url+"/readyz", 200)
	if _, body := get(t, s.url+"/api/v1/currencies"); body != testdb.SeededList {
		t.Errorf("list = %s", body)
	}
	if _, err := os.Stat(filepath.Join(dir, "CryptoTracker_MarketData.sqlite")); err != nil {
		t.Errorf("no SQLite file for the default database in the data directory: %v", err)
	}
	port := strings.TrimPrefix(s.url, "http://127.0.0.1:")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := json.Marshal(wd)
	want := `{"applicationName":"marketdata","environmentName":"Development","contentRootPath":` + string(root) + `,"serverUrls":"http://127.0.0.1:` + port + `","version":"dev"}`
	if _, body := get(t, s.url+"/api/systeminfo"); body != want {
		t.Errorf("systeminfo = %s, want %s", body, want)
	}
}

// Every URL is served, and serverUrls lists them with the bound ports, as the original did.
func TestServesEveryASPNETCoreURL(t *testing.T) {
	env := fastEnv(map[string]string{envDataDir: t.TempDir(), envURLs: "http://127.0.0.1:0;http://127.0.0.1:0"})
	delete(env, envAddr)
	s := startService(t, env)
	var ports []string
	for line := range strings.SplitSeq(s.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"listening"`) {
			addr := logField(line, "listening", "addr")
			_, port, _ := net.SplitHostPort(addr)
			ports = append(ports, port)
			if status, _ := get(t, "http://"+addr+"/healthz"); status != 200 {
				t.Errorf("GET http://%s/healthz = %d", addr, status)
			}
		}
	}
	if len(ports) != 2 {
		t.Fatalf("listening on %v, want two addresses:\n%s", ports, s.logs)
	}
	var info struct{ ServerUrls string }
	_, body := get(t, s.url+"/api/systeminfo")
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatal(err)
	}
	if want := "http://127.0.0.1:" + ports[0] + ";http://127.0.0.1:" + ports[1]; info.ServerUrls != want {
		t.Errorf("serverUrls = %q, want %q", info.ServerUrls, want)
	}
}
