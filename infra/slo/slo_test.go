package slo

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var users = Users{Namespace: "ctmd", Service: "marketdata", GatewayNamespace: "istio-ingress"}

func testSLOs() []SLO {
	return []SLO{Availability(0.999, users), Latency(0.99, 250, users)}
}

// 1 - 0.999 is 0.0010000000000000009 in floating point; the rules must read 0.001.
func TestBudgetIsRounded(t *testing.T) {
	for objective, want := range map[float64]float64{0.999: 0.001, 0.99: 0.01, 0.9995: 0.0005} {
		if got := Availability(objective, users).Budget(); got != want {
			t.Errorf("budget of %v = %v, want %v", objective, got, want)
		}
	}
}

// One bad request alone never crosses a row's threshold: the minimum is the smallest count whose
// single failure stays at or below it.
func TestMinRequests(t *testing.T) {
	for _, tc := range []struct {
		threshold float64
		want      int
	}{{14.4 * 0.001, 70}, {6 * 0.001, 167}, {1 * 0.001, 1000}, {14.4 * 0.01, 7}} {
		got := MinRequests(tc.threshold)
		if got != tc.want || 1/float64(got) > tc.threshold || 1/float64(got-1) <= tc.threshold {
			t.Errorf("MinRequests(%v) = %d, want %d", tc.threshold, got, tc.want)
		}
	}
}

// Every series an alert reads is recorded, once per SLO, and every alert of an SLO reads only its
// own series.
func TestRulesRecordEverySeriesTheAlertsRead(t *testing.T) {
	f := Rules(testSLOs(), Options{Tracks: Tracks{Stable: "v1", Canary: "canary"}, Canary: true, NoTraffic: Page, Runbook: "https://example.test/README.md"})
	if len(f.Groups) != 2 || f.Groups[0].Name != RecordingGroup || f.Groups[1].Name != AlertingGroup {
		t.Fatalf("groups %+v", f.Groups)
	}
	recorded := map[string]bool{}
	for _, r := range f.Groups[0].Rules {
		key := r.Labels["slo"] + " " + r.Record
		if recorded[key] {
			t.Errorf("%s recorded twice", key)
		}
		recorded[key] = true
	}
	// Two series (requests, ratio) per SLO and window, and two per track for the canary.
	if want := 2*len(testSLOs())*len(windows()) + 2; len(recorded) != want {
		t.Errorf("%d recording rules, want %d", len(recorded), want)
	}
	reads := regexp.MustCompile(`(marketdata:\w+:rate\w+)\{slo="(\w+)"`)
	for _, a := range f.Groups[1].Rules {
		matches := reads.FindAllStringSubmatch(a.Expr, -1)
		if len(matches) == 0 {
			t.Errorf("%s reads no recorded series: %s", a.Alert, a.Expr)
		}
		for _, m := range matches {
			if !recorded[m[2]+" "+m[1]] {
				t.Errorf("%s reads %s of %s, which nothing records", a.Alert, m[1], m[2])
			}
			if m[2] != a.Labels["slo"] {
				t.Errorf("%s (slo %s) reads the %s SLO's series", a.Alert, a.Labels["slo"], m[2])
			}
		}
		if a.Labels["slo"] == "" || !slices.Contains([]string{"page", "ticket"}, a.Labels["severity"]) {
			t.Errorf("%s labels %v", a.Alert, a.Labels)
		}
	}
}

// The canary's rules and the no-traffic alert exist only when asked for.
func TestOptionalAlerts(t *testing.T) {
	names := func(o Options) (alerts []string, records int) {
		f := Rules(testSLOs(), o)
		for _, r := range f.Groups[1].Rules {
			alerts = append(alerts, r.Alert)
		}
		return alerts, len(f.Groups[0].Rules)
	}
	plain, plainRecords := names(Options{})
	if slices.Contains(plain, CanaryAlert) || slices.Contains(plain, NoTrafficAlert) {
		t.Errorf("alerts without options: %v", plain)
	}
	withCanary, canaryRecords := names(Options{Canary: true, Tracks: Tracks{Stable: "v1", Canary: "canary"}})
	if !slices.Contains(withCanary, CanaryAlert) || canaryRecords != plainRecords+2 {
		t.Errorf("with a canary: alerts %v, %d recording rules (without: %d)", withCanary, canaryRecords, plainRecords)
	}
	quiet, _ := names(Options{NoTraffic: Ticket})
	if !slices.Contains(quiet, NoTrafficAlert) {
		t.Errorf("NoTraffic set but alerts are %v", quiet)
	}
}

// Every request counts once, where its user is: the gateway's report of what it routed to the
// Service (pods ready or not), and the sidecars' report of what anyone else sent.
func TestRequestsAreCountedWhereUsersAre(t *testing.T) {
	expr := Availability(0.999, users).all("5m")
	for _, want := range []string{
		`reporter="source", source_workload_namespace="istio-ingress", destination_service_namespace="ctmd", destination_service_name="marketdata"`,
		`reporter="destination", source_workload_namespace!="istio-ingress", destination_workload_namespace="ctmd", destination_app="marketdata"`,
	} {
		if !strings.Contains(expr, want) {
			t.Errorf("requests %s\nlack %s", expr, want)
		}
	}
	// The gateway's series must not be narrowed to a pod: a request no pod answered has none.
	if strings.Contains(expr, "destination_workload=") {
		t.Errorf("requests are narrowed to a destination workload: %s", expr)
	}
}
