package slorules

import (
	"strings"
	"testing"
	"time"
)

// The alerts the scenarios expect; the program names them in infra/slo.
const (
	availabilityPage   = "MarketdataAvailabilityBudgetBurn"
	availabilityTicket = "MarketdataAvailabilityBudgetDrain"
	latencyPage        = "MarketdataLatencyBudgetBurn"
	canaryAlert        = "MarketdataCanaryErrors"
)

// neverFires breaks an alert so that it cannot fire.
func neverFires(expr string) string { return "(" + expr + ") > 1e9" }

// A scenario evaluates a rule file and returns what went wrong; each test runs it on the rules
// the program renders, where it must find nothing, and on the rules with its alert broken on
// purpose, where it must find something.
type scenario func(t *testing.T, file []byte) []string

func check(t *testing.T, file, broken []byte, run scenario) {
	t.Helper()
	if problems := run(t, file); len(problems) > 0 {
		t.Errorf("with the program's rules:\n%s", strings.Join(problems, "\n"))
	}
	if problems := run(t, broken); len(problems) == 0 {
		t.Errorf("with the alert broken on purpose the scenario still passes: it cannot fail")
	}
}

// 100 requests a second (6000 a minute) on the stable track.
const perMinute = 6000

// A 2% error ratio burns the 99.9% budget at 20x. After healthy hours, the 1-hour window's ratio
// reaches the page's 14.4x (1.44%) after 14.4 / 20 of an hour, 43.2 minutes: the workbook's
// detection time, (1 - SLO) / error ratio * window * burn rate. The page must not fire before
// and must fire soon after (one 30 s evaluation and a minute of scrape granularity). The healthy
// stretch outlasts the 6-hour window, whose pair would otherwise read a short history as a burn.
func TestFastPageOnTwoPercentErrors(t *testing.T) {
	file := ruleFile(t, "default")
	const onset = 7 * time.Hour
	const detection = 43*time.Minute + 12*time.Second
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		var firedAt time.Duration = -1
		evaluate(t, file, series(traffic{track: "v1", phases: []trafficPhase{
			{minutes: int(onset / time.Minute), perMinute: perMinute},
			{minutes: 60, perMinute: perMinute, errors: 0.02},
		}}), 30*time.Second, onset+60*time.Minute, func(at time.Duration, alerts []active) {
			if len(firing(alerts, availabilityPage)) > 0 && firedAt < 0 {
				firedAt = at
			}
			for _, a := range alerts {
				if a.Name != availabilityPage && a.Name != availabilityTicket {
					problems = append(problems, "unexpected "+a.String()+" at "+at.String())
				}
			}
		})
		switch {
		case firedAt < 0:
			problems = append(problems, "the fast page never fired")
			return problems
		case firedAt < onset+detection-time.Minute || firedAt > onset+detection+2*time.Minute:
			problems = append(problems, "the fast page fired "+(firedAt-onset).String()+" after the errors began, want about "+detection.String())
		}
		t.Logf("the fast page fired %s after the errors began", firedAt-onset)
		return problems
	}
	check(t, file, breakAlert(t, file, availabilityPage, neverFires), run)
}

// A new deployment answering 2% errors from its first request pages within 10 minutes: both page
// windows hold nothing but those minutes.
func TestFastPageOnNewDeploymentWithTwoPercentErrors(t *testing.T) {
	file := ruleFile(t, "default")
	run := func(t *testing.T, file []byte) []string {
		var fired bool
		evaluate(t, file, series(traffic{track: "v1", phases: []trafficPhase{{minutes: 10, perMinute: perMinute, errors: 0.02}}}),
			30*time.Second, 10*time.Minute, func(at time.Duration, alerts []active) {
				fired = fired || len(firing(alerts, availabilityPage)) > 0
			})
		if !fired {
			return []string{"10 minutes of 2% errors paged nobody"}
		}
		return nil
	}
	check(t, file, breakAlert(t, file, availabilityPage, neverFires), run)
}

// 0.05% errors is half the 99.9% budget's pace: three days of it fire nothing, neither page nor
// ticket, nor anything pending. Broken: a ticket that reads the budget ten times too small.
func TestQuietOnHalfTheBudgetForThreeDays(t *testing.T) {
	file := ruleFile(t, "default")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		evaluate(t, file, series(traffic{track: "v1", phases: []trafficPhase{{minutes: 3 * 24 * 60, perMinute: perMinute, errors: 0.0005}}}),
			5*time.Minute, 3*24*time.Hour, func(at time.Duration, alerts []active) {
				for _, a := range alerts {
					problems = append(problems, a.String()+" at "+at.String())
				}
			})
		return problems
	}
	broken := breakAlert(t, file, availabilityTicket, func(expr string) string {
		return strings.ReplaceAll(expr, "1 * 0.001", "0.1 * 0.001")
	})
	check(t, file, broken, run)
}

// Half the requests turning slower than 250 ms burns the 99% latency budget at 50x: the latency
// page fires (after 14.4 / 50 of an hour in the 1-hour window, about 17 minutes), and no
// availability alert does. The bucket is spelt as Prometheus 3 stores it (le="250.0").
func TestLatencyRegressionPages(t *testing.T) {
	file := ruleFile(t, "default")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		fired := false
		evaluate(t, file, series(traffic{track: "v1", phases: []trafficPhase{
			{minutes: 60, perMinute: perMinute},
			{minutes: 30, perMinute: perMinute, slow: 0.5},
		}, le: "250.0"}), 30*time.Second, 90*time.Minute, func(at time.Duration, alerts []active) {
			fired = fired || len(firing(alerts, latencyPage)) > 0
			for _, a := range alerts {
				if strings.HasPrefix(a.Name, "MarketdataAvailability") {
					problems = append(problems, "unexpected "+a.String()+" at "+at.String())
				}
			}
		})
		if !fired {
			problems = append(problems, "30 minutes of half the requests over the threshold fired no latency page")
		}
		return problems
	}
	check(t, file, breakAlert(t, file, latencyPage, neverFires), run)
}

// A canary answering 10% errors beside a healthy stable track fires the canary alert, and nothing
// fires about the stable track. The canary's own burn-rate alerts may fire too: its users do
// burn the budget.
func TestFailingCanaryFiresTheCanaryAlert(t *testing.T) {
	file := ruleFile(t, "canary")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		fired := false
		evaluate(t, file, series(
			traffic{track: "v1", phases: []trafficPhase{{minutes: 60, perMinute: 0.9 * perMinute}}},
			traffic{track: "canary", phases: []trafficPhase{{minutes: 60, perMinute: 0.1 * perMinute, errors: 0.1}}},
		), 30*time.Second, 30*time.Minute, func(at time.Duration, alerts []active) {
			fired = fired || len(firing(alerts, canaryAlert)) > 0
			for _, a := range alerts {
				if a.Labels.Get("destination_version") == "v1" {
					problems = append(problems, "stable track alert "+a.String()+" at "+at.String())
				}
			}
		})
		if !fired {
			problems = append(problems, "a canary with 10% errors beside a healthy stable track fired no canary alert")
		}
		return problems
	}
	check(t, file, breakAlert(t, file, canaryAlert, neverFires), run)
}

// The canary alert compares: a canary no worse than stable (both at 10% errors, a database
// outage rather than a bad release) does not fire it, though the burn-rate pages do. Broken: an
// alert that looks at the canary alone.
func TestCanaryAlertComparesWithStable(t *testing.T) {
	file := ruleFile(t, "canary")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		paged := false
		evaluate(t, file, series(
			traffic{track: "v1", phases: []trafficPhase{{minutes: 60, perMinute: 0.9 * perMinute, errors: 0.1}}},
			traffic{track: "canary", phases: []trafficPhase{{minutes: 60, perMinute: 0.1 * perMinute, errors: 0.1}}},
		), 30*time.Second, 30*time.Minute, func(at time.Duration, alerts []active) {
			paged = paged || len(firing(alerts, availabilityPage)) > 0
			for _, a := range alerts {
				if a.Name == canaryAlert {
					problems = append(problems, a.String()+" at "+at.String())
				}
			}
		})
		if !paged {
			problems = append(problems, "10% errors on both tracks paged nobody")
		}
		return problems
	}
	broken := breakAlert(t, file, canaryAlert, func(expr string) string {
		canary, _, _ := strings.Cut(expr, " - ")
		return canary + " > 0.0144"
	})
	check(t, file, broken, run)
}

// Without a canary the rule file has no canary alert at all.
func TestNoCanaryAlertWithoutCanary(t *testing.T) {
	if strings.Contains(string(ruleFile(t, "default")), canaryAlert) {
		t.Errorf("the rules of a stack without a canary hold %s", canaryAlert)
	}
	if !strings.Contains(string(ruleFile(t, "canary")), canaryAlert) {
		t.Errorf("the rules of a stack with a canary lack %s", canaryAlert)
	}
}
