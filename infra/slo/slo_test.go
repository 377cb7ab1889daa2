package slo

import (
	"regexp"
	"slices"
	"testing"
)

// 1 - 0.999 is 0.0010000000000000009 in floating point; the rules must read 0.001.
func TestBudgetIsRounded(t *testing.T) {
	for objective, want := range map[float64]float64{0.999: 0.001, 0.99: 0.01, 0.9995: 0.0005} {
		if got := Availability(objective, "").Budget(); got != want {
			t.Errorf("budget of %v = %v, want %v", objective, got, want)
		}
	}
}

// Every window an alert reads has its recording rule, once per SLO, and every alert of an SLO
// reads only its own ratios.
func TestRulesRecordEveryWindowTheAlertsRead(t *testing.T) {
	slos := []SLO{Availability(0.999, Selector("ctmd", "marketdata")), Latency(0.99, 250, Selector("ctmd", "marketdata"))}
	f := Rules(slos, Options{Tracks: Tracks{Stable: "v1", Canary: "canary"}, Canary: true, Runbook: "https://example.test/README.md"})
	if len(f.Groups) != 2 || f.Groups[0].Name != RecordingGroup || f.Groups[1].Name != AlertingGroup {
		t.Fatalf("groups %+v", f.Groups)
	}
	recorded := map[string]bool{}
	for _, r := range f.Groups[0].Rules {
		recorded[r.Labels["slo"]+" "+r.Record] = true
	}
	if want := len(slos) * len(windows()); len(recorded) != want {
		t.Errorf("%d recording rules, want %d (one per SLO and window)", len(recorded), want)
	}
	reads := regexp.MustCompile(`(marketdata:slo_error_ratio:rate\w+)\{slo="(\w+)"`)
	for _, a := range f.Groups[1].Rules {
		matches := reads.FindAllStringSubmatch(a.Expr, -1)
		if len(matches) == 0 {
			t.Errorf("%s reads no recorded ratio: %s", a.Alert, a.Expr)
		}
		for _, m := range matches {
			if !recorded[m[2]+" "+m[1]] {
				t.Errorf("%s reads %s of %s, which nothing records", a.Alert, m[1], m[2])
			}
			if m[2] != a.Labels["slo"] {
				t.Errorf("%s (slo %s) reads the %s SLO's ratios", a.Alert, a.Labels["slo"], m[2])
			}
		}
		if a.Labels["slo"] == "" || !slices.Contains([]string{"page", "ticket"}, a.Labels["severity"]) {
			t.Errorf("%s labels %v", a.Alert, a.Labels)
		}
	}
}
