//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The progressive-delivery rig: Argo Rollouts' controller and a Prometheus server, both built by
// hack/tools.sh from their pinned modules and run on the host against a local cluster, as the
// in-cluster Deployments the stack declares would run them (kwok runs those pods, and they do
// nothing). A real ingress gateway is missing, so gatewayTraffic (traffic_test.go) stands in for
// its Envoy's request metrics.

// hostProcess is one tool running beside the test, its output in a file the test shows if it fails.
type hostProcess struct {
	name string
	args []string
	log  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startProcess(t *testing.T, name string, args ...string) *hostProcess {
	t.Helper()
	p := &hostProcess{name: name, args: args, log: filepath.Join(t.TempDir(), name+".log")}
	p.start(t)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("the last lines %s wrote:\n%s", name, tail(p.log, 40))
		}
	})
	return p
}

func (p *hostProcess) start(t *testing.T) {
	t.Helper()
	path, err := exec.LookPath(p.name)
	if err != nil {
		t.Fatalf("%s is not on PATH: make e2e builds it (hack/tools.sh): %v", p.name, err)
	}
	logFile, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// The child holds its own descriptor once started.
	defer func() { _ = logFile.Close() }()
	// Not CommandContext: the process must outlive the subtest that starts it again.
	cmd := exec.Command(path, p.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so stop reaches nothing but it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

// stop ends the process as a node shutting down would: SIGTERM, then SIGKILL after ten seconds.
func (p *hostProcess) stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// exited reports whether the process ended on its own.
func (p *hostProcess) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func tail(file string, lines int) string {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// freePort is a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// waitHTTP waits until url answers 200, failing with what the process wrote if it exits first.
func waitHTTP(t *testing.T, p *hostProcess, url string) {
	t.Helper()
	eventually(t, time.Minute, p.name+" ready at "+url, func(ctx context.Context) (bool, string) {
		if p.exited() {
			t.Fatalf("%s exited:\n%s", p.name, tail(p.log, 40))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK, res.Status
	})
}

// rolloutsController runs Argo Rollouts' controller against the cluster of kubeconfig, alone
// (no leader election), on ports of its own; metrics is where Prometheus scrapes it.
type rolloutsController struct {
	*hostProcess
	metrics string
}

func startRolloutsController(t *testing.T, kubeconfig string) *rolloutsController {
	t.Helper()
	metrics, healthz := freePort(t), freePort(t)
	p := startProcess(t, "rollouts-controller", "--kubeconfig", kubeconfig, "--leader-elect=false",
		"--metricsPort", strconv.Itoa(metrics), "--healthzPort", strconv.Itoa(healthz))
	c := &rolloutsController{hostProcess: p, metrics: fmt.Sprintf("127.0.0.1:%d", metrics)}
	waitHTTP(t, p, fmt.Sprintf("http://127.0.0.1:%d/healthz", healthz))
	return c
}

// prometheus is a Prometheus server scraping the given targets every second (the engine's steps
// last seconds here) and sending its alerts to an Alertmanager API; its rules are the stack's.
type prometheus struct {
	*hostProcess
	url, dir string
}

func startPrometheus(t *testing.T, targets map[string]string, alertmanager string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	cfg := "global: {scrape_interval: 1s, evaluation_interval: 1s}\n" +
		"rule_files: [rules.yaml]\n" +
		"alerting: {alertmanagers: [{api_version: v2, static_configs: [{targets: [" + strconv.Quote(alertmanager) + "]}]}]}\n" +
		"scrape_configs:\n"
	for job, addr := range targets {
		cfg += fmt.Sprintf("- {job_name: %q, static_configs: [{targets: [%q]}]}\n", job, addr)
	}
	for name, content := range map[string]string{"prometheus.yml": cfg, "rules.yaml": "groups: []\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProcess(t, "prometheus", "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--web.enable-lifecycle")
	prom := &prometheus{hostProcess: p, url: "http://" + addr, dir: dir}
	prom.waitReady(t)
	return prom
}

func (p *prometheus) waitReady(t *testing.T) {
	t.Helper()
	waitHTTP(t, p.hostProcess, p.url+"/-/ready")
}

// restart brings the server back on the same address, as the analysis's URL names it.
func (p *prometheus) restart(t *testing.T) {
	t.Helper()
	p.start(t)
	p.waitReady(t)
}

// setRules loads a rule file (the stack's alertRules output) and waits until the server has
// loaded every group of it.
func (p *prometheus) setRules(t *testing.T, rules string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(p.url+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("reload Prometheus: %s\n%s", res.Status, tail(p.log, 20))
	}
	var file struct {
		Groups []struct{ Name string } `json:"groups"`
	}
	if err := yaml.Unmarshal([]byte(rules), &file); err != nil || len(file.Groups) == 0 {
		t.Fatalf("not a rule file (%v)", err)
	}
	eventually(t, 30*time.Second, "Prometheus loads the stack's rule groups", func(ctx context.Context) (bool, string) {
		var body struct {
			Data struct {
				Groups []struct{ Name string } `json:"groups"`
			} `json:"data"`
		}
		if err := p.get(ctx, "/api/v1/rules", &body); err != nil {
			return false, err.Error()
		}
		byName := func(a, b struct{ Name string }) int { return strings.Compare(a.Name, b.Name) }
		slices.SortFunc(body.Data.Groups, byName)
		slices.SortFunc(file.Groups, byName)
		return slices.Equal(body.Data.Groups, file.Groups), fmt.Sprintf("groups %v loaded, want %v", body.Data.Groups, file.Groups)
	})
}

func (p *prometheus) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = res.Body.Close() }()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, res.Status, buf.String())
	}
	return json.Unmarshal(buf.Bytes(), v)
}
