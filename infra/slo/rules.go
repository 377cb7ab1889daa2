package slo

import (
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// RuleFile is a Prometheus rule file (https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/);
// Managed Prometheus's Rules object takes the same groups as its spec.groups ("The format of the
// .spec.groups element is identical to the upstream Prometheus rule_group array",
// https://cloud.google.com/stackdriver/docs/managed-prometheus/rules-managed).
type RuleFile struct {
	Groups []Group `json:"groups"`
}

// Group is a rule group.
type Group struct {
	Name     string `json:"name"`
	Interval string `json:"interval"`
	Rules    []Rule `json:"rules"`
}

// Rule is a recording rule (Record) or an alerting rule (Alert).
type Rule struct {
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Options are what the rules depend on besides the SLOs.
type Options struct {
	Tracks Tracks
	// Canary adds the alert comparing the canary track with the stable one; only while a canary
	// runs, so a stack without one carries no rule about it.
	Canary bool
	// Runbook is the base of the runbook links: an alert's link is Runbook + "#" + its anchor.
	Runbook string
}

// Group names and their evaluation interval: Managed Prometheus's example interval, and what the
// PodMonitoring scrapes at.
const (
	RecordingGroup = "marketdata-slo-ratios"
	AlertingGroup  = "marketdata-slo-alerts"
	interval       = "30s"
)

// Alert names, one per SLO and severity, and the canary's.
func PageAlert(s SLO) string   { return "Marketdata" + title(s.Name) + "BudgetBurn" }
func TicketAlert(s SLO) string { return "Marketdata" + title(s.Name) + "BudgetDrain" }

const CanaryAlert = "MarketdataCanaryErrors"

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// Rules derives the rule groups: first the error ratio of every SLO over every window the alerts
// read, per track; then, per SLO, a page for the two fast burn rates and a ticket for the slow
// one, each firing only while both its windows burn faster than the rate; and the canary alert.
func Rules(slos []SLO, o Options) RuleFile {
	recording := Group{Name: RecordingGroup, Interval: interval}
	alerting := Group{Name: AlertingGroup, Interval: interval}
	for _, s := range slos {
		for _, w := range windows() {
			recording.Rules = append(recording.Rules, Rule{
				Record: ratioRecord(w),
				Expr:   s.errorRatio(w),
				Labels: map[string]string{"slo": s.Name},
			})
		}
		var page, ticket []string
		for _, w := range BurnWindows {
			threshold := formatFloat(w.Burn) + " * " + formatFloat(s.Budget())
			cond := fmt.Sprintf("(%s > %s and %s > %s)", ratioSeries(s, w.Long), threshold, ratioSeries(s, w.Short), threshold)
			if w.Severity == Page {
				page = append(page, cond)
			} else {
				ticket = append(ticket, cond)
			}
		}
		alerting.Rules = append(alerting.Rules,
			burnAlert(s, PageAlert(s), Page, page, "fast: at this rate the 30-day error budget is gone within days", o.Runbook),
			burnAlert(s, TicketAlert(s), Ticket, ticket, "slow but steady: at this rate the 30-day error budget runs out before the 30 days do", o.Runbook),
		)
	}
	if o.Canary {
		if a, ok := canaryAlert(slos, o); ok {
			alerting.Rules = append(alerting.Rules, a)
		}
	}
	return RuleFile{Groups: []Group{recording, alerting}}
}

func burnAlert(s SLO, name string, sev Severity, conds []string, pace, runbook string) Rule {
	return Rule{
		Alert:  name,
		Expr:   strings.Join(conds, "\nor\n"),
		Labels: map[string]string{"severity": string(sev), "slo": s.Name, "runbook_url": runbook + "#" + anchor(name)},
		Annotations: map[string]string{
			"summary": fmt.Sprintf("marketdata track {{ $labels.%s }} is burning its %s error budget %s", trackLabel, s.Name, pace),
			"description": fmt.Sprintf("The %s SLO wants %s%% of /api requests %s over 30 days; {{ $value | humanizePercentage }} of the track's recent requests were not.",
				s.Name, formatFloat(s.Objective*100), s.Good),
		},
	}
}

// canaryAlert fires while the canary's error ratio over 5 minutes exceeds the stable track's by
// more than the availability page's threshold: the canary alone would then burn the budget at the
// fast page's rate beyond what stable already does. Five minutes of it, so one unlucky scrape does
// not page, yet a bad canary pages before anyone promotes it.
func canaryAlert(slos []SLO, o Options) (Rule, bool) {
	for _, s := range slos {
		if s.Name != "availability" {
			continue
		}
		margin := formatFloat(FastestBurn) + " * " + formatFloat(s.Budget())
		track := func(v string) string { return ratioSeries(s, "5m", fmt.Sprintf("%s=%q", trackLabel, v)) }
		return Rule{
			Alert:  CanaryAlert,
			Expr:   fmt.Sprintf("%s - ignoring(%s) %s > %s", track(o.Tracks.Canary), trackLabel, track(o.Tracks.Stable), margin),
			For:    "5m",
			Labels: map[string]string{"severity": string(Page), "slo": s.Name, "runbook_url": o.Runbook + "#" + anchor(CanaryAlert)},
			Annotations: map[string]string{
				"summary":     "the marketdata canary answers more 5xx than the stable track: do not promote it",
				"description": "The canary's share of 5xx over 5 minutes is {{ $value | humanizePercentage }} above the stable track's.",
			},
		}, true
	}
	return Rule{}, false
}

// anchor is the README heading's anchor of an alert's runbook (GitHub lowercases headings).
func anchor(alert string) string { return strings.ToLower(alert) }

// YAML renders the rule file, the form promtool and a Prometheus server load.
func (f RuleFile) YAML() (string, error) {
	b, err := yaml.Marshal(f)
	return string(b), err
}

// Spec is the groups as the untyped value a Rules object's spec.groups takes: the same JSON.
func (f RuleFile) Spec() ([]any, error) {
	b, err := json.Marshal(f.Groups)
	if err != nil {
		return nil, err
	}
	var groups []any
	err = json.Unmarshal(b, &groups)
	return groups, err
}
