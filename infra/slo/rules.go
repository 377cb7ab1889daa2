package slo

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// RuleFile is a Prometheus rule file (https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/);
// Managed Prometheus's ClusterRules object takes the same groups as its spec.groups ("The format of the
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
	// Canary adds the alert comparing the canary track with the stable one: only while the two
	// share the traffic. A canary at weight 100 takes every request and is the whole service,
	// which the budget alerts judge; stable then has no ratio to compare with.
	Canary bool
	// NoTraffic is the severity of the alert on an API that receives no request at all; "" leaves
	// it out.
	NoTraffic Severity
	// Labels go on every alert: the namespace the Alertmanager routes ctmd's alerts by.
	Labels map[string]string
	// Runbook is the base of the runbook links: an alert's link is Runbook + "#" + its anchor.
	Runbook string
}

// Group names and their evaluation interval: Managed Prometheus's example interval, and what the
// PodMonitorings scrape at.
const (
	RecordingGroup = "marketdata-slo-ratios"
	AlertingGroup  = "marketdata-slo-alerts"
	Interval       = "30s"
)

// Alert names, one per SLO and severity, and the canary's and the silent API's.
func PageAlert(s SLO) string   { return "Marketdata" + title(s.Name) + "BudgetBurn" }
func TicketAlert(s SLO) string { return "Marketdata" + title(s.Name) + "BudgetDrain" }

const (
	CanaryAlert    = "MarketdataCanaryErrors"
	NoTrafficAlert = "MarketdataNoTraffic"
)

// Canary judgement: the 5-minute window, held for 5 minutes, so one unlucky scrape does not page,
// yet a bad canary pages before anyone promotes it.
const (
	canaryWindow        = "5m"
	canaryWindowSeconds = 300
	canaryFor           = "5m"
)

// No traffic: the 5-minute rate at zero or missing for 10 minutes more, so 15 minutes after the
// last request. On GKE the uptime check alone sends a request a minute from each of its regions
// through the gateway (infra/uptime), so silence there means the edge or its metrics are dark.
const noTrafficFor = "10m"

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// Rules derives the rule groups: first the request rate and error ratio of every SLO over every
// window the alerts read, of the whole service (and per track for the canary's); then, per SLO, a
// page for the two fast burn rates and a ticket for the slow one, each firing only while both its
// windows burn faster than the rate and the long one holds enough requests to judge; the canary
// alert; and the alert on an API that nobody reaches.
func Rules(slos []SLO, o Options) RuleFile {
	recording := Group{Name: RecordingGroup, Interval: Interval}
	alerting := Group{Name: AlertingGroup, Interval: Interval}
	for _, s := range slos {
		for _, w := range windows() {
			recording.Rules = append(recording.Rules, record(s, requestsRecord(w), ratioRecord(w), w, "")...)
		}
		var page, ticket []string
		for _, w := range BurnWindows {
			threshold := formatFloat(w.Burn) + " * " + formatFloat(s.Budget())
			cond := fmt.Sprintf("(%s > %s and %s > %s and %s * %d >= %d)",
				series(ratioRecord(w.Long), s), threshold, series(ratioRecord(w.Short), s), threshold,
				series(requestsRecord(w.Long), s), w.Seconds, MinRequests(w.Threshold(s)))
			if w.Severity == Page {
				page = append(page, cond)
			} else {
				ticket = append(ticket, cond)
			}
		}
		alerting.Rules = append(alerting.Rules,
			burnAlert(s, PageAlert(s), Page, page, "fast: at this rate the 30-day error budget is gone within days", o),
			burnAlert(s, TicketAlert(s), Ticket, ticket, "slow but steady: at this rate the 30-day error budget runs out before the 30 days do", o),
		)
	}
	if availability, ok := availabilitySLO(slos); ok {
		if o.Canary {
			recording.Rules = append(recording.Rules, record(availability, trackRequestsRecord(canaryWindow), trackRatioRecord(canaryWindow), canaryWindow, trackLabel)...)
			alerting.Rules = append(alerting.Rules, canaryAlert(availability, o))
		}
		if o.NoTraffic != "" {
			alerting.Rules = append(alerting.Rules, noTrafficAlert(availability, o))
		}
	}
	return RuleFile{Groups: []Group{recording, alerting}}
}

// record is the pair of recording rules of an SLO over a window: requests a second, and the share
// of them that were bad, summed by the given label ("" for the whole service). A set without a
// good request has no good series at all; "or 0 * all" gives it a ratio of 1 instead of none.
func record(s SLO, requests, ratio, window, by string) []Rule {
	sum := "sum"
	if by != "" {
		sum = fmt.Sprintf("sum by (%s)", by)
	}
	all := fmt.Sprintf("%s (%s)", sum, s.all(window))
	good := fmt.Sprintf("%s (%s)", sum, s.good(window))
	labels := map[string]string{"slo": s.Name}
	return []Rule{
		{Record: requests, Expr: all, Labels: labels},
		{Record: ratio, Expr: fmt.Sprintf("1 - (%s or 0 * %s) / %s", good, all, all), Labels: labels},
	}
}

func availabilitySLO(slos []SLO) (SLO, bool) {
	i := slices.IndexFunc(slos, func(s SLO) bool { return s.Name == "availability" })
	if i < 0 {
		return SLO{}, false
	}
	return slos[i], true
}

// AlertLabels are an alert's labels: the common ones (Options.Labels), its severity and its
// runbook section.
func AlertLabels(common map[string]string, runbook, alert string, sev Severity) map[string]string {
	labels := map[string]string{"severity": string(sev), "runbook_url": runbook + "#" + anchor(alert)}
	for k, v := range common {
		labels[k] = v
	}
	return labels
}

// alertLabels are an SLO alert's labels: AlertLabels and its SLO.
func alertLabels(o Options, name string, sev Severity, s SLO) map[string]string {
	labels := AlertLabels(o.Labels, o.Runbook, name, sev)
	labels["slo"] = s.Name
	return labels
}

func burnAlert(s SLO, name string, sev Severity, conds []string, pace string, o Options) Rule {
	return Rule{
		Alert:  name,
		Expr:   strings.Join(conds, "\nor\n"),
		Labels: alertLabels(o, name, sev, s),
		Annotations: map[string]string{
			"summary": fmt.Sprintf("marketdata is burning its %s error budget %s", s.Name, pace),
			"description": fmt.Sprintf("The %s SLO wants %s%% of /api requests %s over 30 days; {{ $value | humanizePercentage }} of the recent requests, as the ingress gateway and in-mesh callers saw them, were not.",
				s.Name, formatFloat(s.Objective*100), s.Good),
		},
	}
}

// canaryAlert fires while the canary's error ratio over 5 minutes exceeds the stable track's by
// more than the fast page's threshold (the canary alone would then burn the budget at the fast
// page's rate beyond what stable already does), and the canary answered enough requests in the
// window that one failure alone cannot cross that margin.
func canaryAlert(s SLO, o Options) Rule {
	margin := FastestBurn * s.Budget()
	track := func(record, v string) string { return series(record, s, fmt.Sprintf("%s=%q", trackLabel, v)) }
	return Rule{
		Alert: CanaryAlert,
		// ignoring drops the track from the difference's labels, so the "and" ignores it too.
		Expr: fmt.Sprintf("(%s - ignoring(%[2]s) %s > %s * %s) and ignoring(%[2]s) %[6]s * %[7]d >= %[8]d",
			track(trackRatioRecord(canaryWindow), o.Tracks.Canary), trackLabel, track(trackRatioRecord(canaryWindow), o.Tracks.Stable),
			formatFloat(FastestBurn), formatFloat(s.Budget()),
			track(trackRequestsRecord(canaryWindow), o.Tracks.Canary), canaryWindowSeconds, MinRequests(margin)),
		For:    canaryFor,
		Labels: alertLabels(o, CanaryAlert, Page, s),
		Annotations: map[string]string{
			"summary":     "the marketdata canary answers more 5xx than the stable track: do not promote it",
			"description": "The canary's share of 5xx over 5 minutes is {{ $value | humanizePercentage }} above the stable track's.",
		},
	}
}

// noTrafficAlert fires when neither the gateway nor any in-mesh caller has sent marketdata a
// request for a while: the budget alerts need traffic to judge, and an edge that is dark must not
// pass for one that is healthy.
func noTrafficAlert(s SLO, o Options) Rule {
	return Rule{
		Alert:  NoTrafficAlert,
		Expr:   fmt.Sprintf("absent(%s > 0)", series(requestsRecord(BurnWindows[0].Short), s)),
		For:    noTrafficFor,
		Labels: alertLabels(o, NoTrafficAlert, o.NoTraffic, s),
		Annotations: map[string]string{
			"summary":     "marketdata received no request for 15 minutes: the edge, or the metrics that watch it, is dark",
			"description": "Neither the ingress gateway nor an in-mesh caller reported a request to marketdata; the budget alerts cannot judge a service nobody reaches.",
		},
	}
}

// anchor is the docs/alerts.md heading's anchor of an alert's runbook (GitHub lowercases headings).
func anchor(alert string) string { return strings.ToLower(alert) }

// YAML renders the rule file, the form promtool and a Prometheus server load.
func (f RuleFile) YAML() (string, error) {
	b, err := yaml.Marshal(f)
	return string(b), err
}

// Spec is the groups as the untyped value a ClusterRules object's spec.groups takes: the same JSON.
func (f RuleFile) Spec() ([]any, error) {
	b, err := json.Marshal(f.Groups)
	if err != nil {
		return nil, err
	}
	var groups []any
	err = json.Unmarshal(b, &groups)
	return groups, err
}
