package slorules

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"sigs.k8s.io/yaml"
)

// renderDirEnv names the directory infra/stack TestRenderAlertRules wrote the rule files to.
const renderDirEnv = "CTMD_RULES_RENDER_DIR"

// ruleFile reads one rendered scenario's rule file (default.yaml: no canary; canary.yaml).
func ruleFile(t *testing.T, scenario string) []byte {
	t.Helper()
	dir := os.Getenv(renderDirEnv)
	if dir == "" {
		t.Fatalf("%s is unset: run make rules, which renders the program's rules first", renderDirEnv)
	}
	b, err := os.ReadFile(filepath.Join(dir, scenario+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// breakAlert rewrites one alert's expression in a rule file, to show that a scenario notices.
func breakAlert(t *testing.T, file []byte, alert string, edit func(expr string) string) []byte {
	t.Helper()
	var f map[string]any
	if err := yaml.Unmarshal(file, &f); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range f["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			if r := r.(map[string]any); r["alert"] == alert {
				r["expr"], found = edit(r["expr"].(string)), true
			}
		}
	}
	if !found {
		t.Fatalf("no alert %s in the rule file", alert)
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// active is one alert the engine holds at an evaluation: its name, state and labels.
type active struct {
	Name, State string
	Labels      labels.Labels
}

func (a active) String() string { return a.Name + "(" + a.State + ")" + a.Labels.String() }

// evaluate loads the rule file into Prometheus's rules manager (which validates it as promtool
// check rules does), feeds it the series, and evaluates every group in file order every step
// until end, as promtool test rules does; at each step it hands the active alerts to observe.
func evaluate(t *testing.T, file []byte, series string, step, end time.Duration, observe func(at time.Duration, alerts []active)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	suite, err := promqltest.NewLazyLoader(series, promqltest.LazyLoaderOpts{EnableAtModifier: true, EnableNegativeOffset: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = suite.Close() })
	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:    rules.EngineQueryFunc(suite.QueryEngine(), suite.Storage()),
		AppendableV2: suite.Storage(),
		Context:      context.Background(),
		NotifyFunc:   func(context.Context, string, ...*rules.Alert) {},
		Logger:       promslog.NewNopLogger(),
	})
	groupsByKey, errs := m.LoadGroups(time.Minute, labels.EmptyLabels(), "", nil, false, path)
	if errs != nil {
		t.Fatalf("Prometheus refuses the rule file: %v", errs)
	}
	// The file's order: recording rules first, so the alerts read this step's ratios.
	var names []string
	var f struct{ Groups []struct{ Name string } }
	if err := yaml.Unmarshal(file, &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f.Groups {
		names = append(names, g.Name)
	}
	groups := make([]*rules.Group, 0, len(groupsByKey))
	for _, g := range groupsByKey {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b *rules.Group) int { return slices.Index(names, a.Name()) - slices.Index(names, b.Name()) })
	for _, g := range groups {
		for _, r := range g.Rules() {
			if a, ok := r.(*rules.AlertingRule); ok {
				a.SetRestored(true)
			}
		}
	}
	start := time.Unix(0, 0).UTC()
	for at := time.Duration(0); at <= end; at += step {
		ts := start.Add(at)
		var alerts []active
		suite.WithSamplesTill(ts, func(err error) {
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range groups {
				g.Eval(suite.Context(), ts)
				for _, r := range g.Rules() {
					if err := r.LastError(); err != nil {
						t.Fatalf("rule %s at %s: %v", r.Name(), at, err)
					}
					if a, ok := r.(*rules.AlertingRule); ok {
						for _, x := range a.ActiveAlerts() {
							alerts = append(alerts, active{Name: a.Name(), State: x.State.String(), Labels: x.Labels})
						}
					}
				}
			}
		})
		observe(at, alerts)
	}
}

// firing lists the firing alerts named name.
func firing(alerts []active, name string) []active {
	var out []active
	for _, a := range alerts {
		if a.Name == name && a.State == "firing" {
			out = append(out, a)
		}
	}
	return out
}

// Istio's request metrics as marketdata's sidecars report them, with the target labels Managed
// Prometheus adds to every scraped series.
func istioLabels(track, extra string) string {
	return fmt.Sprintf(`reporter="destination", destination_workload_namespace="ctmd", destination_app="marketdata", destination_version=%q, namespace="ctmd", cluster="ctmd-cluster", project_id="ctmd-dev", %s`, track, extra)
}

// phase is a stretch of minutes during which a counter grows by perMinute each minute.
type phase struct {
	minutes   int
	perMinute float64
}

// counter writes a promqltest load line for a counter sampled every minute from 0 through the
// phases: its value at minute 0 is 0.
func counter(metric, labelSet string, phases ...phase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s{%s}", metric, labelSet)
	value, first := 0.0, true
	for _, p := range phases {
		if first {
			fmt.Fprintf(&b, " 0+%gx%d", p.perMinute, p.minutes)
			value, first = p.perMinute*float64(p.minutes), false
			continue
		}
		if p.minutes == 0 {
			continue
		}
		fmt.Fprintf(&b, " %g+%gx%d", value+p.perMinute, p.perMinute, p.minutes-1)
		value += p.perMinute * float64(p.minutes)
	}
	return b.String() + "\n"
}

// traffic is one track's requests: how many a minute, the share answered 5xx and the share
// slower than the latency threshold, phase by phase.
type traffic struct {
	track  string
	phases []trafficPhase
	// le spells the threshold bucket's bound: "250" as Envoy writes it, unless set ("250.0" is
	// how Prometheus 3 stores it).
	le string
}

type trafficPhase struct {
	minutes      int
	perMinute    float64
	errors, slow float64
}

// series renders the tracks' Istio counters: requests by response code, and the duration
// histogram's bucket at the default threshold (250 ms), its +Inf bucket and count.
func series(tracks ...traffic) string {
	var b strings.Builder
	b.WriteString("load 1m\n")
	for _, tr := range tracks {
		var ok, bad, fast, all []phase
		for _, p := range tr.phases {
			ok = append(ok, phase{p.minutes, p.perMinute * (1 - p.errors)})
			bad = append(bad, phase{p.minutes, p.perMinute * p.errors})
			fast = append(fast, phase{p.minutes, p.perMinute * (1 - p.slow)})
			all = append(all, phase{p.minutes, p.perMinute})
		}
		b.WriteString(counter("istio_requests_total", istioLabels(tr.track, `response_code="200"`), ok...))
		// Istio exports a response code's series only once a request got it: a track that
		// never failed has no 503 series at all, which the rules must handle.
		if slices.ContainsFunc(tr.phases, func(p trafficPhase) bool { return p.errors > 0 }) {
			b.WriteString(counter("istio_requests_total", istioLabels(tr.track, `response_code="503"`), bad...))
		}
		b.WriteString(counter("istio_request_duration_milliseconds_bucket", istioLabels(tr.track, `response_code="200", le="`+cmp.Or(tr.le, "250")+`"`), fast...))
		b.WriteString(counter("istio_request_duration_milliseconds_bucket", istioLabels(tr.track, `response_code="200", le="+Inf"`), all...))
		b.WriteString(counter("istio_request_duration_milliseconds_count", istioLabels(tr.track, `response_code="200"`), all...))
	}
	return b.String()
}
