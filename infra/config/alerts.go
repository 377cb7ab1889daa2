package config

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/slo"
)

// Alerts is what the stack watches and whom it tells: the SLO targets its burn-rate alerts
// defend, and where Managed Prometheus's Alertmanager sends them.
type Alerts struct {
	// AvailabilityObjective and LatencyObjective are shares of good /api requests (0.999 for
	// 99.9%); LatencyThresholdMs is how fast a good request is answered.
	AvailabilityObjective float64
	LatencyObjective      float64
	LatencyThresholdMs    int
	// ManagedPrometheus says the cluster runs Google Managed Prometheus's managed collection, so
	// its kinds (PodMonitoring, Rules) exist: always on target gke, opt-in on existing clusters.
	ManagedPrometheus bool
	// Receiver is the secret webhook or Slack URL the managed Alertmanager notifies; HasReceiver
	// is false when none is set (alerts then show only in Cloud Monitoring).
	Receiver    pulumi.StringOutput
	HasReceiver bool
	// SlackReceiver says the receiver is a Slack incoming webhook (hooks.slack.com), which takes
	// Slack's own message format.
	SlackReceiver bool
	// ManageAlertmanager lets the stack write the cluster's one managed Alertmanager
	// configuration: the default where the stack made the cluster; on an existing cluster another
	// team's configuration may be there, so only when asked.
	ManageAlertmanager bool
	// NoTraffic is the severity of the alert on an API that receives no request at all, "" when
	// off: a page on gke, where the uptime check keeps requests coming; a ticket on an existing
	// cluster, whose traffic the stack cannot vouch for.
	NoTraffic slo.Severity
	// UptimeChannels are Cloud Monitoring notification channels (projects/<p>/notificationChannels/<id>)
	// the uptime check's alert policy notifies besides the receiver: Cloud Monitoring cannot post
	// to a Slack incoming webhook, so a Slack receiver needs a channel made in the console.
	UptimeChannels []string
}

// Defaults of the alerting keys: the example targets over 30 days. The latency threshold
// must be a bucket bound of Istio's request duration histogram, and 250 ms is the one nearest to
// the 300 ms a user starts to notice.
const (
	DefaultAvailabilityObjective = "99.9"
	DefaultLatencyObjective      = "99"
	DefaultLatencyThresholdMs    = 250
)

// alerts reads the alerting keys.
func (r *reader) alerts(target Target) Alerts {
	a := Alerts{
		AvailabilityObjective: r.objective("availabilityObjective", DefaultAvailabilityObjective),
		LatencyObjective:      r.objective("latencyObjective", DefaultLatencyObjective),
		LatencyThresholdMs:    r.bucket("latencyThresholdMs", DefaultLatencyThresholdMs),
		ManagedPrometheus:     r.boolean("managedPrometheus", target == TargetGKE),
	}
	if target == TargetGKE && !a.ManagedPrometheus {
		r.fail(fmt.Errorf(`invalid config %q value "false": the GKE cluster the stack creates always runs managed collection (false is for ctmd:target existing without it); remove it with pulumi config rm %[1]s`, Namespace+":managedPrometheus"))
	}
	a.ManageAlertmanager = r.boolean("manageAlertmanager", target == TargetGKE && a.ManagedPrometheus)
	if a.ManageAlertmanager && !a.ManagedPrometheus {
		r.fail(fmt.Errorf(`config %q needs Managed Prometheus's Alertmanager (ctmd:managedPrometheus true): remove it with pulumi config rm %[1]s, or set pulumi config set ctmd:managedPrometheus true`, Namespace+":manageAlertmanager"))
	}
	defNoTraffic := string(slo.Ticket)
	if target == TargetGKE {
		defNoTraffic = string(slo.Page)
	}
	if v := r.oneOf("noTrafficAlert", defNoTraffic, string(slo.Page), string(slo.Ticket), "off"); v != "off" {
		a.NoTraffic = slo.Severity(v)
	}
	a.UptimeChannels = r.listMatching("uptimeNotificationChannels", notificationChannelPattern,
		"a list of notification channel names projects/<project>/notificationChannels/<id> (gcloud beta monitoring channels list --format='value(name)')",
		"projects/<project>/notificationChannels/<id>")
	if target != TargetGKE && len(a.UptimeChannels) > 0 {
		r.fail(fmt.Errorf(`config %q is only used with ctmd:target gke (the uptime check is a Cloud Monitoring resource): remove it with pulumi config rm %[1]s`, Namespace+":uptimeNotificationChannels"))
	}
	const placeholder = "<https://hooks.slack.com/services/…>"
	receiver := r.secret("alertReceiverUrl", placeholder, false)
	switch {
	case receiver == nil:
		if a.ManagedPrometheus {
			r.warn("ctmd:alertReceiverUrl is not set: the SLO alerts fire in Cloud Monitoring but notify nobody; set a webhook or Slack URL with pulumi config set --secret ctmd:alertReceiverUrl " + placeholder)
		}
	case !a.ManagedPrometheus:
		r.fail(fmt.Errorf(`config %q needs Managed Prometheus's Alertmanager (ctmd:managedPrometheus true): remove it with pulumi config rm %[1]s, or set pulumi config set ctmd:managedPrometheus true`, Namespace+":alertReceiverUrl"))
	default:
		if problem := receiverProblem(*receiver); problem != "" {
			// The problem in words, never the value or a piece of it: the URL is a credential.
			r.fail(fmt.Errorf(`invalid config %q: %s; set it with pulumi config set --secret %[1]s %[3]s`, Namespace+":alertReceiverUrl", problem, placeholder))
			break
		}
		a.Receiver = pulumi.ToSecret(pulumi.String(*receiver)).(pulumi.StringOutput)
		a.HasReceiver = true
		u, _ := url.Parse(*receiver)
		a.SlackReceiver = u.Host == "hooks.slack.com"
	}
	if target == TargetGKE && a.SlackReceiver && len(a.UptimeChannels) == 0 {
		r.warn("ctmd:alertReceiverUrl is a Slack incoming webhook, which Cloud Monitoring cannot post to: the uptime check's alert policy notifies nobody until a Slack channel connected in Cloud Monitoring is listed with pulumi config set --path 'ctmd:uptimeNotificationChannels[0]' projects/<project>/notificationChannels/<id> (docs/alerts.md)")
	}
	r.alertmanagerMode(a)
	return a
}

// alertmanagerMode says at every preview who owns the cluster's Alertmanager configuration.
func (r *reader) alertmanagerMode(a Alerts) {
	switch {
	case !a.ManagedPrometheus || !a.HasReceiver:
	case a.ManageAlertmanager:
		r.info("ctmd manages the cluster's Alertmanager configuration (Secret gmp-public/alertmanager): alerts labelled namespace=\"ctmd\" go to ctmd:alertReceiverUrl, every other alert goes nowhere; another team's configuration would be replaced, so on a shared cluster set pulumi config set ctmd:manageAlertmanager false")
	default:
		r.warn("ctmd leaves the cluster's Alertmanager configuration alone (ctmd:manageAlertmanager is false): its alerts reach ctmd:alertReceiverUrl only once the route and receiver of pulumi stack output --show-secrets alertmanagerRoute are added to that configuration (docs/alerts.md)")
	}
}

// A notification channel's resource name
// (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.notificationChannels).
var notificationChannelPattern = regexp.MustCompile(`^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/notificationChannels/[0-9]+$`)

// receiverProblem describes what is wrong with a receiver URL without quoting any of it.
func receiverProblem(v string) string {
	if strings.ContainsFunc(v, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return "it contains spaces or control characters"
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "it is not a URL"
	case u.Scheme != "https" && u.Scheme != "http":
		return "it must be an https:// (or http://) URL"
	case u.Host == "":
		return "it has no host"
	}
	return ""
}

// objective reads a percentage such as 99.9 and returns it as a share (0.999).
func (r *reader) objective(key, def string) float64 {
	v, ok := r.get(key)
	if !ok {
		v = def
	}
	pct, err := strconv.ParseFloat(v, 64)
	// Below 100 - 100/14.4 (93.06%) even 100% errors burn slower than the fast page's rate.
	lowest := 100 - 100/slo.FastestBurn
	if err != nil || pct <= lowest || pct >= 100 {
		r.invalid(key, v, fmt.Sprintf("a percentage above %.2f (below it the fastest burn-rate alert could never fire) and below 100", lowest), scalarFix(key, def))
		d, _ := strconv.ParseFloat(def, 64)
		return d / 100
	}
	// Rounded to a billionth, so 99.9 reads 0.999 and not 0.9990000000000001.
	return math.Round(pct*1e7) / 1e9
}

// bucket reads a latency threshold in milliseconds that Istio's histogram has a bucket for.
func (r *reader) bucket(key string, def int) int {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || !slices.Contains(slo.IstioBuckets, n) {
		bounds := make([]string, len(slo.IstioBuckets))
		for i, b := range slo.IstioBuckets {
			bounds[i] = strconv.Itoa(b)
		}
		r.invalid(key, v, "a bucket bound of Istio's request duration histogram in ms ("+strings.Join(bounds, ", ")+")", scalarFix(key, strconv.Itoa(def)))
		return def
	}
	return n
}
