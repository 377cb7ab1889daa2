package slorules

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
)

// The rollout engine's gate (infra/slo CanaryGate, as the program declares it in its
// AnalysisTemplate) and the rules of a stack that hands releases to the engine, through
// Prometheus's own PromQL engine. The engine itself reads the gate's one sample: at or below the
// margin passes the step, above fails it, NaN meets neither condition and pauses the rollout.
//
// Broken copies, and the test that catches each:
//   - the gate without its minimum of canary requests         TestGateCannotJudgeTooFewRequests
//   - the gate reading the canary alone                       TestGateComparesWithStable
//   - the budget rules counting marketdata's own Service only TestTotalOutagePagesThroughTheEngine

// The release alerts (infra/alerts).
const (
	releaseFailed = "MarketdataReleaseFailed"
	releaseStuck  = "MarketdataReleaseStuck"
)

// gate is what infra/stack TestRenderAlertRules writes to delivery-gate.json: the gate's fields and
// its window in seconds (the step's hold).
type gate struct {
	Query            string
	Success, Failure string
	Margin           float64
	MinRequests      int
	WindowSeconds    int
}

func renderedGate(t *testing.T) gate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(os.Getenv(renderDirEnv), "delivery-gate.json"))
	if err != nil {
		t.Fatalf("%v (make rules renders it)", err)
	}
	var g gate
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// toService is a stream of gateway requests to one of the engine's Services.
func toService(service string, phases ...trafficPhase) flow {
	return flow{track: "v1", service: service, phases: phases}
}

// gateAt evaluates the gate's query over series at a minute: its one sample.
func gateAt(t *testing.T, query, series string, at time.Duration) float64 {
	t.Helper()
	suite, err := promqltest.NewLazyLoader(series, promqltest.LazyLoaderOpts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = suite.Close() })
	ts := time.Unix(0, 0).UTC().Add(at)
	var value float64
	suite.WithSamplesTill(ts, func(err error) {
		if err != nil {
			t.Fatal(err)
		}
		q, err := suite.QueryEngine().NewInstantQuery(suite.Context(), suite.Storage(), nil, query, ts)
		if err != nil {
			t.Fatalf("Prometheus refuses the gate's query: %v", err)
		}
		defer q.Close()
		res := q.Exec(suite.Context())
		v, err := res.Vector()
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 1 {
			t.Fatalf("the gate answers %d samples, want exactly one (the engine reads an empty answer as an error): %v", len(v), v)
		}
		value = v[0].F
	})
	return value
}

// Ten minutes of steady traffic, judged at their end: the canary at 10% of 100 requests a second.
const (
	stepEnd         = 10 * time.Minute
	canaryShare     = 0.1
	gateMinutes     = int(stepEnd / time.Minute)
	stablePerMinute = perMinute * (1 - canaryShare)
	canaryPerMinute = perMinute * canaryShare
)

func TestGatePassesAHealthyCanary(t *testing.T) {
	g := renderedGate(t)
	series := series(
		toService("marketdata-stable", trafficPhase{minutes: gateMinutes + 1, perMinute: stablePerMinute, errors: 0.001}),
		toService("marketdata-canary", trafficPhase{minutes: gateMinutes + 1, perMinute: canaryPerMinute, errors: 0.001}),
	)
	if v := gateAt(t, g.Query, series, stepEnd); math.IsNaN(v) || v > g.Margin {
		t.Errorf("a canary as good as stable: the gate answers %v, want at most the margin %v", v, g.Margin)
	}
}

func TestGateFailsABadCanary(t *testing.T) {
	g := renderedGate(t)
	series := series(
		toService("marketdata-stable", trafficPhase{minutes: gateMinutes + 1, perMinute: stablePerMinute}),
		toService("marketdata-canary", trafficPhase{minutes: gateMinutes + 1, perMinute: canaryPerMinute, errors: 0.05}),
	)
	if v := gateAt(t, g.Query, series, stepEnd); !(v > g.Margin) {
		t.Errorf("a canary with 5%% errors: the gate answers %v, want above the margin %v", v, g.Margin)
	}
}

// A canary as bad as stable (say, a database that fails both) is no reason to roll it back: the
// gate judges what the new version adds. Read alone, the canary would fail.
func TestGateComparesWithStable(t *testing.T) {
	g := renderedGate(t)
	series := series(
		toService("marketdata-stable", trafficPhase{minutes: gateMinutes + 1, perMinute: stablePerMinute, errors: 0.03}),
		toService("marketdata-canary", trafficPhase{minutes: gateMinutes + 1, perMinute: canaryPerMinute, errors: 0.03}),
	)
	if v := gateAt(t, g.Query, series, stepEnd); math.IsNaN(v) || v > g.Margin {
		t.Errorf("canary and stable both at 3%% errors: the gate answers %v, want at most the margin %v", v, g.Margin)
	}
	// The query is ((canary - on() stable) and on() (minimum)) or on() vector(NaN).
	canaryAlone := g.Query[:strings.Index(g.Query, " - on() ")] + g.Query[strings.Index(g.Query, ") and on() ("):]
	if v := gateAt(t, canaryAlone, series, stepEnd); !(v > g.Margin) {
		t.Errorf("the broken copy reading the canary alone answers %v: the scenario cannot tell it apart", v)
	}
}

// Too few canary requests to judge (one failure among them would cross the margin), and no data at
// all, answer NaN, which never promotes, however many of them failed.
func TestGateCannotJudgeTooFewRequests(t *testing.T) {
	g := renderedGate(t)
	// Fewer than MinRequests in the step's window, every one of them failed.
	few := float64(g.MinRequests-1) / (float64(g.WindowSeconds) / 60)
	series := series(
		toService("marketdata-stable", trafficPhase{minutes: gateMinutes + 1, perMinute: stablePerMinute}),
		toService("marketdata-canary", trafficPhase{minutes: gateMinutes + 1, perMinute: few, errors: 1}),
	)
	if v := gateAt(t, g.Query, series, stepEnd); !math.IsNaN(v) {
		t.Errorf("%d canary requests in the window: the gate answers %v, want NaN", g.MinRequests-1, v)
	}
	withoutMinimum := strings.Replace(g.Query, ">= "+strconv.Itoa(g.MinRequests), ">= 0", 1)
	if v := gateAt(t, withoutMinimum, series, stepEnd); math.IsNaN(v) {
		t.Error("the broken copy without the minimum still answers NaN: the scenario cannot tell it apart")
	}
	if v := gateAt(t, g.Query, "load 1m\n  unrelated_series 1 2 3 4 5 6 7 8 9 10 11 12\n", stepEnd); !math.IsNaN(v) {
		t.Errorf("no data: the gate answers %v, want NaN", v)
	}
}

// The gateway routes to the engine's Services, not to marketdata's own: the budget rules of a stack
// with the engine count them, so a total outage during a release still pages. The default stack's
// rules, which count marketdata's Service alone, would stay silent.
func TestTotalOutagePagesThroughTheEngine(t *testing.T) {
	file := ruleFile(t, "delivery")
	const onset = 6 * time.Hour
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		paged := false
		evaluateFrom(t, file, series(
			toService("marketdata-stable", healthy(onset), trafficPhase{minutes: 11, perMinute: stablePerMinute, noPod: true}),
			toService("marketdata-canary", healthy(onset), trafficPhase{minutes: 11, perMinute: canaryPerMinute, noPod: true}),
		), onset-time.Minute, 30*time.Second, onset+10*time.Minute, func(at time.Duration, alerts []active) {
			paged = paged || len(firing(alerts, availabilityPage)) > 0
		})
		if !paged {
			problems = append(problems, "no page within 10 minutes of a total outage")
		}
		return problems
	}
	check(t, file, run, broken{"the budget counted at marketdata's own Service", ruleFile(t, "default")})
}

// rolloutInfo is the engine's controller reporting the Rollout in phase for minutes, as Managed
// Prometheus stores it: the metric's namespace moved to exported_namespace by the target's own.
func rolloutInfo(phase string, minutes int) string {
	var b strings.Builder
	b.WriteString("load 1m\n  rollout_info{" + managed("argo-rollouts", "ctmd-argo-rollouts") +
		`, exported_namespace="ctmd", name="marketdata", strategy="canary", traffic_router="Istio", phase="` + phase + `"}`)
	for range minutes {
		b.WriteString(" 1")
	}
	b.WriteString("\n")
	return b.String()
}

// A release the engine rolled back tells the receiver within two minutes; a release on its way
// does not.
func TestReleaseFailedFires(t *testing.T) {
	file := ruleFile(t, "delivery")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		fired := false
		evaluate(t, file, rolloutInfo("Abort", 10), 30*time.Second, 5*time.Minute, func(at time.Duration, alerts []active) {
			fired = fired || len(firing(alerts, releaseFailed)) > 0
			if at >= 2*time.Minute && len(firing(alerts, releaseFailed)) == 0 {
				problems = append(problems, fmt.Sprintf("an aborted release raised nothing after %s", at))
			}
		})
		evaluate(t, file, rolloutInfo("Progressing", 10), 30*time.Second, 5*time.Minute, func(at time.Duration, alerts []active) {
			if len(firing(alerts, releaseFailed)) > 0 {
				problems = append(problems, fmt.Sprintf("a progressing release fired %s at %s", releaseFailed, at))
			}
		})
		return problems
	}
	check(t, file, run, neverFires(t, file, releaseFailed))
}

// A pause longer than a step's hold (5 minutes) and ten more is stuck; a step's own hold is not.
func TestReleaseStuckFires(t *testing.T) {
	file := ruleFile(t, "delivery")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		evaluate(t, file, rolloutInfo("Paused", 25), 30*time.Second, 20*time.Minute, func(at time.Duration, alerts []active) {
			stuck := len(firing(alerts, releaseStuck)) > 0
			switch {
			case at <= 6*time.Minute && stuck:
				problems = append(problems, fmt.Sprintf("a step's hold counted as stuck at %s", at))
			case at >= 17*time.Minute && !stuck:
				problems = append(problems, fmt.Sprintf("a release paused for %s raised nothing", at))
			}
		})
		return problems
	}
	check(t, file, run, neverFires(t, file, releaseStuck), broken{releaseStuck + " without its for", dropFor(t, file, releaseStuck)})
}
