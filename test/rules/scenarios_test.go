package slorules

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every scenario runs on the rules the program renders, where it must find nothing wrong, and on
// broken copies, each of which it must catch. The broken copies, and the test that catches each:
//
//   - an alert that can never fire (every alert)                       every scenario of that alert
//   - the SLI measured at marketdata's sidecars (the old rules: a
//     total outage is silence, retries inflate the ratio)              TestTotalOutagePages, TestRetriesDoNotInflate
//   - the SLI without the in-mesh callers                              TestCallersCount
//   - the budget alerts without their minimum of traffic               TestNearIdleStackWithOneErrorStaysQuiet
//   - the 6h/30m page row removed                                      TestEveryRowFiresAtItsRateAndNotBelow
//   - a ticket that reads the budget ten times too small               TestQuietOnHalfTheBudgetForThreeDays
//   - a latency alert ten times too sensitive                          TestEveryRowFiresAtItsRateAndNotBelow, TestHealthyLatencyStaysQuiet
//   - the le="250" spelling never matching                             TestEveryRowFiresAtItsRateAndNotBelow
//   - the canary alert without its for                                 TestFailingCanaryFiresTheCanaryAlert
//   - the canary alert with a zero margin                              TestCanaryWithinMarginStaysQuiet
//   - the canary alert reading the canary alone                        TestCanaryAlertComparesWithStable
//   - the canary alert without its minimum of canary requests          TestCanaryWithFewRequestsStaysQuiet
//   - the certificate's not-Ready alert without its hour               TestCertificateNotReady
//
// And TestMain fails if a rule of the program's files is never exercised.

// The alerts the scenarios expect; the program names them in infra/slo and infra/alerts.
const (
	availabilityPage     = "MarketdataAvailabilityBudgetBurn"
	availabilityTicket   = "MarketdataAvailabilityBudgetDrain"
	latencyPage          = "MarketdataLatencyBudgetBurn"
	latencyTicket        = "MarketdataLatencyBudgetDrain"
	canaryAlert          = "MarketdataCanaryErrors"
	noTrafficAlert       = "MarketdataNoTraffic"
	certExpiring         = "MarketdataCertificateExpiring"
	certExpiringSoon     = "MarketdataCertificateExpiringSoon"
	certNotReady         = "MarketdataCertificateNotReady"
	requestsRecordPrefix = "marketdata:slo_requests"
	ratioRecordPrefix    = "marketdata:slo_error_ratio"
)

// A scenario evaluates a rule file and returns what went wrong.
type scenario func(t *testing.T, file []byte) []string

// broken is a copy of the rule file broken on purpose.
type broken struct {
	what string
	file []byte
}

func check(t *testing.T, file []byte, run scenario, copies ...broken) {
	t.Helper()
	if problems := run(t, file); len(problems) > 0 {
		t.Errorf("with the program's rules:\n%s", strings.Join(problems, "\n"))
	}
	for _, b := range copies {
		if problems := run(t, b.file); len(problems) == 0 {
			t.Errorf("with %s the scenario still passes: it cannot catch that", b.what)
		}
	}
}

// logProgram logs a measurement of the program's rules (not of a broken copy's).
func logProgram(t *testing.T, file []byte, format string, args ...any) {
	t.Helper()
	if isProgramFile(file) {
		t.Logf(format, args...)
	}
}

// Broken copies shared by several scenarios.

func neverFires(t *testing.T, file []byte, alert string) broken {
	return broken{alert + " never firing", breakRules(t, file, alert, func(expr string) string { return "(" + expr + ") > 1e9" })}
}

func isRecord(name string) bool { return strings.HasPrefix(name, "marketdata:slo_") }

// sidecarSLI is the rules as they were: every request marketdata's sidecars report, the gateway's
// (per attempt) included, and nothing the gateway answered itself.
func sidecarSLI(t *testing.T, file []byte) broken {
	return broken{"the SLI measured at marketdata's sidecars", editRules(t, file, isRecord, func(expr string) string {
		expr = strings.ReplaceAll(expr, `reporter="source"`, `reporter="nobody"`)
		return strings.ReplaceAll(expr, `source_workload_namespace!="istio-ingress", `, "")
	})}
}

// minimum matches a budget row's (inside its parentheses) or the canary alert's (at its end)
// minimum of requests.
var minimum = regexp.MustCompile(`>= [0-9]+(\)|$)`)

// startingUp is the no-traffic alert pending in a run's first minutes: the 5-minute rate needs
// two samples of series that start with the run.
func startingUp(a active, at time.Duration) bool {
	return a.Name == noTrafficAlert && a.State == "pending" && at < 5*time.Minute
}

// 100 requests a second (6000 a minute).
const perMinute = 6000

func gw(track string, phases ...trafficPhase) flow { return flow{track: track, phases: phases} }

// hours of healthy traffic at perMinute.
func healthy(d time.Duration) trafficPhase {
	return trafficPhase{minutes: int(d / time.Minute), perMinute: perMinute}
}

// A 2% error ratio burns the 99.9% budget at 20x. After healthy hours, the 1-hour window's ratio
// reaches the page's 14.4x (1.44%) after 14.4 / 20 of an hour, 43.2 minutes: the workbook's
// detection time, (1 - SLO) / error ratio * window * burn rate. The page must not fire before
// and must fire soon after (one 30 s evaluation and a minute of scrape granularity). The healthy
// stretch outlasts the 6-hour window, whose pair would otherwise read a short history as a burn.
// The failed requests are retried twice behind the gateway, so the sidecars see three times as
// many: measured there, the page fires far too early.
func TestFastPageOnTwoPercentErrors(t *testing.T) {
	file := ruleFile(t, "default")
	const onset = 7 * time.Hour
	const detection = 43*time.Minute + 12*time.Second
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		var firedAt time.Duration = -1
		evaluateFrom(t, file, series(gw("v1", healthy(onset), trafficPhase{minutes: 60, perMinute: perMinute, errors: 0.02, attempts: 3})),
			onset-time.Minute, 30*time.Second, onset+60*time.Minute, func(at time.Duration, alerts []active) {
				if len(firing(alerts, availabilityPage)) > 0 && firedAt < 0 {
					firedAt = at
				}
				for _, a := range alerts {
					if a.Name != availabilityPage && a.Name != availabilityTicket && !startingUp(a, at) {
						problems = append(problems, "unexpected "+a.String()+" at "+at.String())
					}
				}
			})
		switch {
		case firedAt < 0:
			return append(problems, "the fast page never fired")
		case firedAt < onset+detection-time.Minute || firedAt > onset+detection+2*time.Minute:
			problems = append(problems, "the fast page fired "+(firedAt-onset).String()+" after the errors began, want about "+detection.String())
		}
		logProgram(t, file, "the fast page fired %s after the errors began", firedAt-onset)
		return problems
	}
	check(t, file, run, neverFires(t, file, availabilityPage), sidecarSLI(t, file))
}

// A new deployment answering 2% errors from its first request pages within 10 minutes: both page
// windows hold nothing but those minutes.
func TestFastPageOnNewDeploymentWithTwoPercentErrors(t *testing.T) {
	file := ruleFile(t, "default")
	run := func(t *testing.T, file []byte) []string {
		fired := false
		evaluate(t, file, series(gw("v1", trafficPhase{minutes: 10, perMinute: perMinute, errors: 0.02})),
			30*time.Second, 10*time.Minute, func(at time.Duration, alerts []active) {
				fired = fired || len(firing(alerts, availabilityPage)) > 0
			})
		if !fired {
			return []string{"10 minutes of 2% errors paged nobody"}
		}
		return nil
	}
	check(t, file, run, neverFires(t, file, availabilityPage))
}

// After six healthy hours every pod turns not ready (the database is down): the pods leave the
// Service's endpoints, the gateway answers every request itself with 503 UH, and the sidecars see
// nothing. The page fires within 5 minutes and is still firing 10 and 40 minutes in.
func TestTotalOutagePages(t *testing.T) {
	file := ruleFile(t, "default")
	const onset = 6 * time.Hour
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		var firedAt time.Duration = -1
		evaluateFrom(t, file, series(gw("v1", healthy(onset), trafficPhase{minutes: 41, perMinute: perMinute, noPod: true})),
			onset-time.Minute, 30*time.Second, onset+40*time.Minute, func(at time.Duration, alerts []active) {
				paged := len(firing(alerts, availabilityPage)) > 0
				if paged && firedAt < 0 {
					firedAt = at
				}
				if (at == onset+10*time.Minute || at == onset+40*time.Minute) && !paged {
					problems = append(problems, fmt.Sprintf("no page %s into the outage", at-onset))
				}
			})
		if firedAt < 0 || firedAt > onset+5*time.Minute {
			return append(problems, fmt.Sprintf("the outage did not page within 5 minutes (fired at %s)", firedAt-onset))
		}
		logProgram(t, file, "the total outage paged %s after it began", firedAt-onset)
		return problems
	}
	check(t, file, run, neverFires(t, file, availabilityPage), sidecarSLI(t, file))
}

// 0.5% of the users' requests fail, under the slow page's 0.6%; marketdata's sidecars see each of
// them three times (Istio's two retries), 1.5% of what they count. What users got does not page.
func TestRetriesDoNotInflate(t *testing.T) {
	file := ruleFile(t, "default")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		evaluate(t, file, series(gw("v1", trafficPhase{minutes: 90, perMinute: perMinute, errors: 0.005, attempts: 3})),
			time.Minute, 90*time.Minute, func(at time.Duration, alerts []active) {
				for _, a := range firing(alerts, availabilityPage) {
					problems = append(problems, a.String()+" at "+at.String())
				}
			})
		return problems
	}
	check(t, file, run, sidecarSLI(t, file))
}

// An in-mesh caller's requests count: 2% errors from it alone page.
func TestCallersCount(t *testing.T) {
	file := ruleFile(t, "default")
	run := func(t *testing.T, file []byte) []string {
		fired := false
		evaluate(t, file, series(flow{track: "v1", caller: true, phases: []trafficPhase{{minutes: 10, perMinute: perMinute, errors: 0.02}}}),
			30*time.Second, 10*time.Minute, func(at time.Duration, alerts []active) {
				fired = fired || len(firing(alerts, availabilityPage)) > 0
			})
		if !fired {
			return []string{"2% errors of an in-mesh caller paged nobody"}
		}
		return nil
	}
	noCallers := broken{"the SLI without in-mesh callers", editRules(t, file, isRecord, func(expr string) string {
		return strings.ReplaceAll(expr, `reporter="destination"`, `reporter="nobody"`)
	})}
	check(t, file, run, noCallers)
}

// A stack with almost no traffic (a request a minute) and one failed request fires nothing: not
// the page, not the ticket, and not the no-traffic alert. The 503 series exists from an earlier
// failure, at the start (Prometheus cannot see a series' first increment, so a first failure
// would prove nothing).
func TestNearIdleStackWithOneErrorStaysQuiet(t *testing.T) {
	file := ruleFile(t, "default")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		evaluate(t, file, series(gw("v1",
			trafficPhase{minutes: 1, perMinute: 1, errors: 1},
			trafficPhase{minutes: 6 * 60, perMinute: 1},
			trafficPhase{minutes: 1, perMinute: 1, errors: 1},
			trafficPhase{minutes: 60, perMinute: 1},
		)), time.Minute, 7*time.Hour, func(at time.Duration, alerts []active) {
			for _, a := range alerts {
				if a.State == "firing" {
					problems = append(problems, a.String()+" at "+at.String())
				}
			}
		})
		return problems
	}
	noMinimum := broken{"the budget alerts without a minimum of traffic", editRules(t, file,
		func(n string) bool { return n == availabilityPage || n == availabilityTicket },
		func(expr string) string { return minimum.ReplaceAllString(expr, ">= 0$1") })}
	check(t, file, run, noMinimum)
}

// 0.05% errors is half the 99.9% budget's pace: three days of it fire nothing, neither page nor
// ticket, nor anything pending.
func TestQuietOnHalfTheBudgetForThreeDays(t *testing.T) {
	file := ruleFile(t, "default")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		evaluate(t, file, series(gw("v1", trafficPhase{minutes: 3 * 24 * 60, perMinute: perMinute, errors: 0.0005})),
			10*time.Minute, 3*24*time.Hour, func(at time.Duration, alerts []active) {
				for _, a := range alerts {
					if !startingUp(a, at) {
						problems = append(problems, a.String()+" at "+at.String())
					}
				}
			})
		return problems
	}
	tooSmall := broken{"a ticket reading the budget ten times too small", breakRules(t, file, availabilityTicket, func(expr string) string {
		return strings.ReplaceAll(expr, "1 * 0.001", "0.1 * 0.001")
	})}
	check(t, file, run, tooSmall)
}

// workbookRow is a row of the SRE workbook's table, written here independently of the program.
type workbookRow struct {
	long, short string
	window      time.Duration
	burn        float64
	page        bool
}

var workbook = []workbookRow{
	{"1h", "5m", time.Hour, 14.4, true},
	{"6h", "30m", 6 * time.Hour, 6, true},
	{"3d", "6h", 72 * time.Hour, 1, false},
}

// Every row of every budget alert fires when its windows burn 10% faster than its rate, and stays
// quiet at 10% slower, alone (the other rows removed); the latency rows with both spellings of
// the bucket bound (le="250" as Envoy writes it, le="250.0" as Prometheus 3 stores it).
func TestEveryRowFiresAtItsRateAndNotBelow(t *testing.T) {
	file := ruleFile(t, "default")
	type sloCase struct {
		name         string
		page, ticket string
		budget       float64
		spellings    []string
	}
	slos := []sloCase{
		{"availability", availabilityPage, availabilityTicket, 0.001, []string{""}},
		{"latency", latencyPage, latencyTicket, 0.01, []string{"250", "250.0"}},
	}
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		for _, s := range slos {
			for _, row := range workbook {
				alert := s.ticket
				if row.page {
					alert = s.page
				}
				only, ok := onlyRow(t, file, alert, row)
				if !ok {
					problems = append(problems, fmt.Sprintf("%s has no %s/%s row", alert, row.long, row.short))
					continue
				}
				for _, le := range s.spellings {
					for _, factor := range []float64{1.1, 0.9} {
						ratio := row.burn * s.budget * factor
						p := trafficPhase{minutes: int((row.window + 10*time.Minute) / time.Minute), perMinute: perMinute}
						if s.name == "latency" {
							p.slow = ratio
						} else {
							p.errors = ratio
						}
						end := row.window + 9*time.Minute
						fired := false
						evaluate(t, only, series(flow{track: "v1", phases: []trafficPhase{p}, le: le}), end/2, end, func(at time.Duration, alerts []active) {
							fired = fired || (at == end && len(firing(alerts, alert)) > 0)
						})
						if want := factor > 1; fired != want {
							problems = append(problems, fmt.Sprintf("%s %s/%s row at %.2fx its burn rate (le %q): fired %v, want %v", alert, row.long, row.short, factor, le, fired, want))
						}
					}
				}
			}
		}
		return problems
	}
	no6h := broken{"the page without its 6h/30m row", breakRules(t, file, availabilityPage, func(expr string) string {
		first, _, _ := strings.Cut(expr, "\nor\n")
		return first
	})}
	tooSensitive := broken{"a latency page ten times too sensitive", breakRules(t, file, latencyPage, func(expr string) string {
		return strings.ReplaceAll(expr, "* 0.01 ", "* 0.001 ")
	})}
	oneSpelling := broken{`the le="250" spelling never matching`, editRules(t, file, isRecord, func(expr string) string {
		return strings.ReplaceAll(expr, `le=~"250(\\.0)?"`, `le="250.0"`)
	})}
	check(t, file, run, no6h, tooSensitive, oneSpelling, neverFires(t, file, availabilityTicket), neverFires(t, file, latencyTicket))
}

// onlyRow is the rule file with alert's expression cut to the row of the given windows.
func onlyRow(t *testing.T, file []byte, alert string, row workbookRow) ([]byte, bool) {
	found := false
	out := breakRules(t, file, alert, func(expr string) string {
		for _, r := range strings.Split(expr, "\nor\n") {
			if strings.Contains(r, ":rate"+row.long+"{") && strings.Contains(r, ":rate"+row.short+"{") {
				found = true
				return r
			}
		}
		return expr
	})
	return out, found
}

// Half the requests turning slower than 250 ms burns the 99% latency budget at 50x: the latency
// page fires (after 14.4 / 50 of an hour in the 1-hour window, about 17 minutes), and no
// availability alert does. The bucket is spelt as Prometheus 3 stores it (le="250.0").
func TestLatencyRegressionPages(t *testing.T) {
	file := ruleFile(t, "default")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		fired := false
		evaluate(t, file, series(flow{track: "v1", phases: []trafficPhase{
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
	check(t, file, run, neverFires(t, file, latencyPage))
}

// 0.5% of requests slower than 250 ms is half the 99% latency budget: seven hours of it fire
// nothing.
func TestHealthyLatencyStaysQuiet(t *testing.T) {
	file := ruleFile(t, "default")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		evaluate(t, file, series(gw("v1", trafficPhase{minutes: 7 * 60, perMinute: perMinute, slow: 0.005})),
			5*time.Minute, 7*time.Hour, func(at time.Duration, alerts []active) {
				for _, a := range alerts {
					if !startingUp(a, at) {
						problems = append(problems, a.String()+" at "+at.String())
					}
				}
			})
		return problems
	}
	tooSensitive := broken{"a latency ticket ten times too sensitive", breakRules(t, file, latencyTicket, func(expr string) string {
		return strings.ReplaceAll(expr, "* 0.01 ", "* 0.001 ")
	})}
	check(t, file, run, tooSensitive)
}

// The API stops receiving requests (the gateway is gone: its series go stale): the no-traffic
// alert fires about 15 minutes after the last request (the 5-minute rate needs two samples, then
// 10 minutes held), and never while requests come, even one a minute.
func TestNoTrafficFires(t *testing.T) {
	file := ruleFile(t, "default")
	// The last request is in minute 59's sample.
	const last = 59 * time.Minute
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		var firedAt time.Duration = -1
		evaluate(t, file, series(gw("v1", trafficPhase{minutes: 60, perMinute: 1})),
			30*time.Second, last+30*time.Minute, func(at time.Duration, alerts []active) {
				if len(firing(alerts, noTrafficAlert)) > 0 {
					if at < last {
						problems = append(problems, "no-traffic alert while requests come, at "+at.String())
					}
					if firedAt < 0 {
						firedAt = at
					}
				}
			})
		if firedAt < last+12*time.Minute || firedAt > last+16*time.Minute {
			problems = append(problems, fmt.Sprintf("the no-traffic alert fired %s after the last request, want about 15m", firedAt-last))
		}
		logProgram(t, file, "the no-traffic alert fired %s after the last request", firedAt-last)
		return problems
	}
	check(t, file, run, neverFires(t, file, noTrafficAlert))
}

// A canary answering 10% errors beside a healthy stable track fires the canary alert, not before
// it has done so for 5 minutes; the service as a whole (1% errors) pages nobody.
func TestFailingCanaryFiresTheCanaryAlert(t *testing.T) {
	file := ruleFile(t, "canary")
	const onset = 30 * time.Minute
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		var firedAt time.Duration = -1
		evaluate(t, file, series(
			gw("v1", trafficPhase{minutes: 61, perMinute: 0.9 * perMinute}),
			gw("canary", trafficPhase{minutes: 30, perMinute: 0.1 * perMinute}, trafficPhase{minutes: 31, perMinute: 0.1 * perMinute, errors: 0.1}),
		), 30*time.Second, 60*time.Minute, func(at time.Duration, alerts []active) {
			if len(firing(alerts, canaryAlert)) > 0 && firedAt < 0 {
				firedAt = at
			}
			// The service as a whole answers 1% errors: below both pages' rates.
			for _, a := range append(firing(alerts, availabilityPage), firing(alerts, latencyPage)...) {
				problems = append(problems, "unexpected "+a.String()+" at "+at.String())
			}
		})
		switch {
		case firedAt < 0:
			problems = append(problems, "a canary with 10% errors beside a healthy stable track fired no canary alert")
		case firedAt < onset+5*time.Minute || firedAt > onset+12*time.Minute:
			problems = append(problems, fmt.Sprintf("the canary alert fired %s after the errors began, want between its 5-minute for and 12 minutes", firedAt-onset))
		}
		return problems
	}
	check(t, file, run, neverFires(t, file, canaryAlert), broken{"the canary alert without its for", dropFor(t, file, canaryAlert)})
}

// The canary alert compares: a canary no worse than stable (both at 10% errors, a database
// outage rather than a bad release) does not fire it, though the budget pages do.
func TestCanaryAlertComparesWithStable(t *testing.T) {
	file := ruleFile(t, "canary")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		paged := false
		evaluate(t, file, series(
			gw("v1", trafficPhase{minutes: 60, perMinute: 0.9 * perMinute, errors: 0.1}),
			gw("canary", trafficPhase{minutes: 60, perMinute: 0.1 * perMinute, errors: 0.1}),
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
	alone := broken{"the canary alert reading the canary alone", breakRules(t, file, canaryAlert, func(expr string) string {
		canary, _, _ := strings.Cut(strings.TrimPrefix(expr, "("), " - ")
		return canary + " > 0.0144"
	})}
	check(t, file, run, alone)
}

// A canary 1 point worse than stable (1.5% against 0.5%) is within the 1.44-point margin: no
// canary alert.
func TestCanaryWithinMarginStaysQuiet(t *testing.T) {
	file := ruleFile(t, "canary")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		evaluate(t, file, series(
			gw("v1", trafficPhase{minutes: 40, perMinute: 0.9 * perMinute, errors: 0.005}),
			gw("canary", trafficPhase{minutes: 40, perMinute: 0.1 * perMinute, errors: 0.015}),
		), 30*time.Second, 40*time.Minute, func(at time.Duration, alerts []active) {
			for _, a := range firing(alerts, canaryAlert) {
				problems = append(problems, a.String()+" at "+at.String())
			}
		})
		return problems
	}
	zeroMargin := broken{"the canary alert with a zero margin", breakRules(t, file, canaryAlert, func(expr string) string {
		return strings.Replace(expr, "> 14.4 * 0.001", "> 0 * 0.001", 1)
	})}
	check(t, file, run, zeroMargin)
}

// A canary that sees a handful of requests (0.1 a second beside a busy stable track) and fails
// three of them in three minutes fires no canary alert: under 70 requests in 5 minutes, a few
// failures are no evidence (the budget alerts and the canary's own dashboards judge it then). Its
// 503 series exists from a failure at the start, which Prometheus cannot see.
func TestCanaryWithFewRequestsStaysQuiet(t *testing.T) {
	file := ruleFile(t, "canary")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		evaluate(t, file, series(
			gw("v1", trafficPhase{minutes: 40, perMinute: perMinute}),
			gw("canary", trafficPhase{minutes: 1, perMinute: 6, errors: 1.0 / 6}, trafficPhase{minutes: 19, perMinute: 6},
				trafficPhase{minutes: 3, perMinute: 6, errors: 1.0 / 6}, trafficPhase{minutes: 17, perMinute: 6}),
		), 30*time.Second, 40*time.Minute, func(at time.Duration, alerts []active) {
			for _, a := range firing(alerts, canaryAlert) {
				problems = append(problems, a.String()+" at "+at.String())
			}
		})
		return problems
	}
	noMinimum := broken{"the canary alert without its minimum of requests", breakRules(t, file, canaryAlert, func(expr string) string {
		return minimum.ReplaceAllString(expr, ">= 0$1")
	})}
	check(t, file, run, noMinimum)
}

// A canary that never becomes ready: the gateway answers its share (10%) with 503 UH, which no
// track owns; the service's own ratio is 10%, and the budget page fires within minutes.
func TestUnreadyCanaryPages(t *testing.T) {
	file := ruleFile(t, "canary")
	run := func(t *testing.T, file []byte) []string {
		fired := false
		evaluate(t, file, series(
			gw("v1", trafficPhase{minutes: 10, perMinute: 0.9 * perMinute}),
			gw("canary", trafficPhase{minutes: 10, perMinute: 0.1 * perMinute, noPod: true}),
		), 30*time.Second, 10*time.Minute, func(at time.Duration, alerts []active) {
			fired = fired || len(firing(alerts, availabilityPage)) > 0
		})
		if !fired {
			return []string{"a canary that never became ready paged nobody"}
		}
		return nil
	}
	check(t, file, run, sidecarSLI(t, file))
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

// certSeries is cert-manager's controller metrics of the Certificate ctmd-edge as Managed
// Prometheus stores them (the metric's own namespace label renamed exported_namespace, the
// scraped pod's namespace as namespace): its expiry, fixed, and its Ready condition per minute.
func certSeries(expiresAt time.Duration, minutes int, ready func(minute int) bool) string {
	labels := `name="ctmd-edge", exported_namespace="istio-ingress", issuer_name="ctmd-acme", issuer_kind="ClusterIssuer", issuer_group="cert-manager.io", ` + managed("cert-manager", "ctmd-cert-manager")
	var b strings.Builder
	b.WriteString("load 1m\n")
	fmt.Fprintf(&b, "  certmanager_certificate_expiration_timestamp_seconds{%s} %.0fx%d\n", labels, expiresAt.Seconds(), minutes)
	for _, cond := range []string{"True", "False"} {
		fmt.Fprintf(&b, "  certmanager_certificate_ready_status{%s, condition=%q}", labels, cond)
		for m := 0; m <= minutes; m++ {
			v := ready(m) == (cond == "True")
			fmt.Fprintf(&b, " %d", map[bool]int{true: 1, false: 0}[v])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func alwaysReady(int) bool { return true }

// The certificate's expiry: 14 days left is a ticket, 3 days a page, more is quiet.
func TestCertificateExpiry(t *testing.T) {
	file := ruleFile(t, "https")
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		for _, tc := range []struct {
			expires      time.Duration
			ticket, page bool
		}{
			{20 * 24 * time.Hour, false, false},
			{13 * 24 * time.Hour, true, false},
			{2 * 24 * time.Hour, true, true},
		} {
			var ticket, page bool
			evaluate(t, file, certSeries(tc.expires, 10, alwaysReady), 5*time.Minute, 10*time.Minute, func(at time.Duration, alerts []active) {
				ticket = ticket || len(firing(alerts, certExpiring)) > 0
				page = page || len(firing(alerts, certExpiringSoon)) > 0
			})
			if ticket != tc.ticket || page != tc.page {
				problems = append(problems, fmt.Sprintf("expiring in %s: ticket %v page %v, want %v %v", tc.expires, ticket, page, tc.ticket, tc.page))
			}
		}
		return problems
	}
	check(t, file, run, neverFires(t, file, certExpiring), neverFires(t, file, certExpiringSoon))
}

// A Certificate not Ready for an hour is a ticket; one that recovers within the hour, or stays
// Ready, is not. Missing metrics count as not Ready.
func TestCertificateNotReady(t *testing.T) {
	file := ruleFile(t, "https")
	far := 60 * 24 * time.Hour
	run := func(t *testing.T, file []byte) []string {
		var problems []string
		for _, tc := range []struct {
			name   string
			series string
			want   bool
		}{
			{"ready", certSeries(far, 90, alwaysReady), false},
			{"not ready for 40 minutes", certSeries(far, 90, func(m int) bool { return m < 10 || m > 50 }), false},
			{"not ready from minute 10", certSeries(far, 90, func(m int) bool { return m < 10 }), true},
			{"no metrics at all", "load 1m\n  up{job=\"other\"} 1x90\n", true},
		} {
			var firedAt time.Duration = -1
			evaluate(t, file, tc.series, time.Minute, 90*time.Minute, func(at time.Duration, alerts []active) {
				if len(firing(alerts, certNotReady)) > 0 && firedAt < 0 {
					firedAt = at
				}
			})
			switch {
			case (firedAt >= 0) != tc.want:
				problems = append(problems, fmt.Sprintf("%s: fired %v, want %v", tc.name, firedAt >= 0, tc.want))
			case tc.want && firedAt < 60*time.Minute:
				problems = append(problems, fmt.Sprintf("%s: fired after %s, before its hour", tc.name, firedAt))
			}
		}
		return problems
	}
	check(t, file, run, neverFires(t, file, certNotReady), broken{"the not-Ready alert without its hour", dropFor(t, file, certNotReady)})
}
