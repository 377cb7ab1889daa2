package slorules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// ruleFile reads one rendered scenario's rule file: default.yaml (no canary), canary.yaml,
// https.yaml (a domain, so the certificate's rules too).
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

// breakRules rewrites the expression of every rule whose alert or record name is name, to show
// that a scenario notices.
func breakRules(t *testing.T, file []byte, name string, edit func(expr string) string) []byte {
	t.Helper()
	return editRules(t, file, func(n string) bool { return n == name }, edit)
}

// editRules rewrites the expression of every rule whose alert or record name matches.
func editRules(t *testing.T, file []byte, match func(name string) bool, edit func(expr string) string) []byte {
	t.Helper()
	var f map[string]any
	if err := yaml.Unmarshal(file, &f); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range f["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			r := r.(map[string]any)
			name, _ := r["alert"].(string)
			if record, ok := r["record"].(string); ok {
				name = record
			}
			if match(name) {
				r["expr"], found = edit(r["expr"].(string)), true
			}
		}
	}
	if !found {
		t.Fatalf("no rule matches in the rule file")
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dropFor removes an alert's for, so it fires at its first true evaluation.
func dropFor(t *testing.T, file []byte, alert string) []byte {
	t.Helper()
	var f map[string]any
	if err := yaml.Unmarshal(file, &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			if r := r.(map[string]any); r["alert"] == alert {
				delete(r, "for")
			}
		}
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
	evaluateFrom(t, file, series, 0, step, end, observe)
}

// evaluateFrom is evaluate from a later time on. The recording rules read only the synthetic
// series and the alerts only this evaluation's recordings (and their own for state), so hours of
// steady traffic before from need no evaluation of their own.
func evaluateFrom(t *testing.T, file []byte, series string, from, step, end time.Duration, observe func(at time.Duration, alerts []active)) {
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
	program := isProgramFile(file)
	start := time.Unix(0, 0).UTC()
	for at := from; at <= end; at += step {
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
							if program && x.State == rules.StateFiring {
								exercised.add(a.Name())
							}
						}
					}
				}
			}
		})
		observe(at, alerts)
	}
	if program {
		recordedSeries(t, suite, groups, start.Add(end))
	}
}

// recordedSeries marks every recording rule that wrote a sample during the evaluation.
func recordedSeries(t *testing.T, suite *promqltest.LazyLoader, groups []*rules.Group, end time.Time) {
	t.Helper()
	for _, g := range groups {
		for _, r := range g.Rules() {
			rec, ok := r.(*rules.RecordingRule)
			if !ok {
				continue
			}
			q, err := suite.QueryEngine().NewInstantQuery(suite.Context(), suite.Storage(), nil,
				fmt.Sprintf(`count(count_over_time({__name__=%q, slo=%q}[%ds]))`, rec.Name(), rec.Labels().Get("slo"), int(end.Unix())+60), end)
			if err != nil {
				t.Fatal(err)
			}
			if res := q.Exec(suite.Context()); res.Err == nil {
				if v, err := res.Vector(); err == nil && len(v) > 0 {
					exercised.add(rec.Name() + `{slo="` + rec.Labels().Get("slo") + `"}`)
				}
			}
			q.Close()
		}
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
