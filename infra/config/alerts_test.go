package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/slo"
)

const receiverKey = "ctmd:alertReceiverUrl"

// defaultAlerts is what a target runs with when no alerting key is set: the targets;
// Managed Prometheus, and ownership of its Alertmanager configuration, only where the stack made
// the cluster; a silent API pages where the uptime check vouches for traffic, and is a ticket
// elsewhere.
func defaultAlerts(target config.Target) config.Alerts {
	if target == config.TargetGKE {
		return config.Alerts{AvailabilityObjective: 0.999, LatencyObjective: 0.99, LatencyThresholdMs: 250,
			ManagedPrometheus: true, ManageAlertmanager: true, NoTraffic: slo.Page}
	}
	return config.Alerts{AvailabilityObjective: 0.999, LatencyObjective: 0.99, LatencyThresholdMs: 250, NoTraffic: slo.Ticket}
}

func TestAlertsDefaults(t *testing.T) {
	for target, values := range map[config.Target]map[string]string{config.TargetGKE: gke(nil), config.TargetExisting: existing(nil)} {
		cfg, err := load(t, values, "ctmd:mongoConnectionString")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg.Alerts, defaultAlerts(target)) {
			t.Errorf("%s: alerts %+v, want %+v", target, cfg.Alerts, defaultAlerts(target))
		}
	}
}

func TestAlertsSetValues(t *testing.T) {
	const url = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
	cfg, err := load(t, existing(map[string]string{
		"ctmd:availabilityObjective": "99.95",
		"ctmd:latencyObjective":      "95",
		"ctmd:latencyThresholdMs":    "500",
		"ctmd:managedPrometheus":     "true",
		receiverKey:                  url,
	}), "ctmd:mongoConnectionString", receiverKey)
	if err != nil {
		t.Fatal(err)
	}
	// An existing cluster's Alertmanager configuration stays its owner's unless asked.
	want := config.Alerts{AvailabilityObjective: 0.9995, LatencyObjective: 0.95, LatencyThresholdMs: 500, ManagedPrometheus: true,
		Receiver: cfg.Alerts.Receiver, HasReceiver: true, SlackReceiver: true, NoTraffic: slo.Ticket}
	if !reflect.DeepEqual(cfg.Alerts, want) {
		t.Errorf("alerts %+v\nwant %+v", cfg.Alerts, want)
	}
	if v, secret := await(t, cfg.Alerts.Receiver); v != url || !secret {
		t.Errorf("receiver output: secret=%v, value matches=%v", secret, v == url)
	}
}

// The keys of the edge's alerting: who owns the Alertmanager configuration, the silent API's
// severity, and the uptime check's extra channels.
func TestAlertsOwnershipAndSeverities(t *testing.T) {
	const channel = "projects/ctmd-dev/notificationChannels/1234567890"
	cfg, err := load(t, gke(map[string]string{
		"ctmd:manageAlertmanager": "false", "ctmd:noTrafficAlert": "off",
		"ctmd:uptimeNotificationChannels": `["` + channel + `"]`,
	}), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Alerts; a.ManageAlertmanager || a.NoTraffic != "" || !reflect.DeepEqual(a.UptimeChannels, []string{channel}) {
		t.Errorf("alerts %+v", a)
	}
	cfg, err = load(t, existing(map[string]string{"ctmd:managedPrometheus": "true", "ctmd:manageAlertmanager": "true", "ctmd:noTrafficAlert": "page"}), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Alerts; !a.ManageAlertmanager || a.NoTraffic != slo.Page {
		t.Errorf("alerts %+v", a)
	}
}

func TestAlertsConfigErrors(t *testing.T) {
	const fix = "set it with pulumi config set --secret ctmd:alertReceiverUrl <https://hooks.slack.com/services/…>"
	for name, tc := range map[string]struct {
		values  map[string]string
		secrets []string
		want    string
	}{
		"objective not a number": {gke(map[string]string{"ctmd:availabilityObjective": "three nines"}), nil,
			`invalid config "ctmd:availabilityObjective" value "three nines": must be a percentage above 93.06 (below it the fastest burn-rate alert could never fire) and below 100; set it with pulumi config set ctmd:availabilityObjective 99.9`},
		"objective 100": {gke(map[string]string{"ctmd:availabilityObjective": "100"}), nil,
			`invalid config "ctmd:availabilityObjective" value "100": must be a percentage above 93.06`},
		"objective a share, not a percentage": {gke(map[string]string{"ctmd:latencyObjective": "0.99"}), nil,
			`invalid config "ctmd:latencyObjective" value "0.99": must be a percentage above 93.06 (below it the fastest burn-rate alert could never fire) and below 100; set it with pulumi config set ctmd:latencyObjective 99`},
		"threshold between buckets": {gke(map[string]string{"ctmd:latencyThresholdMs": "300"}), nil,
			`invalid config "ctmd:latencyThresholdMs" value "300": must be a bucket bound of Istio's request duration histogram in ms (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000); set it with pulumi config set ctmd:latencyThresholdMs 250`},
		"gke without managed prometheus": {gke(map[string]string{"ctmd:managedPrometheus": "false"}), nil,
			`invalid config "ctmd:managedPrometheus" value "false": the GKE cluster the stack creates always runs managed collection (false is for ctmd:target existing without it); remove it with pulumi config rm ctmd:managedPrometheus`},
		"receiver in plain text": {gke(map[string]string{receiverKey: "https://example.com/hook"}), nil,
			`config "ctmd:alertReceiverUrl" is stored in plain text: ` + fix},
		"receiver without alertmanager": {existing(map[string]string{receiverKey: "https://example.com/hook"}), []string{receiverKey},
			`config "ctmd:alertReceiverUrl" needs Managed Prometheus's Alertmanager (ctmd:managedPrometheus true): remove it with pulumi config rm ctmd:alertReceiverUrl, or set pulumi config set ctmd:managedPrometheus true`},
		"receiver not http": {gke(map[string]string{receiverKey: "slack://T000/B000/secret"}), []string{receiverKey},
			`invalid config "ctmd:alertReceiverUrl": it must be an https:// (or http://) URL; ` + fix},
		"receiver without host": {gke(map[string]string{receiverKey: "https:///services/secret"}), []string{receiverKey},
			`invalid config "ctmd:alertReceiverUrl": it has no host; ` + fix},
		"receiver with a space": {gke(map[string]string{receiverKey: "https://example.com/a secret"}), []string{receiverKey},
			`invalid config "ctmd:alertReceiverUrl": it contains spaces or control characters; ` + fix},
		"noTrafficAlert unknown": {gke(map[string]string{"ctmd:noTrafficAlert": "loud"}), nil,
			`invalid config "ctmd:noTrafficAlert" value "loud": must be one of page, ticket, off; set it with pulumi config set ctmd:noTrafficAlert page`},
		"manageAlertmanager without managed prometheus": {existing(map[string]string{"ctmd:manageAlertmanager": "true"}), nil,
			`config "ctmd:manageAlertmanager" needs Managed Prometheus's Alertmanager (ctmd:managedPrometheus true): remove it with pulumi config rm ctmd:manageAlertmanager, or set pulumi config set ctmd:managedPrometheus true`},
		"uptime channels on existing": {existing(map[string]string{"ctmd:uptimeNotificationChannels": `["projects/ctmd-dev/notificationChannels/1"]`}), nil,
			`config "ctmd:uptimeNotificationChannels" is only used with ctmd:target gke (the uptime check is a Cloud Monitoring resource): remove it with pulumi config rm ctmd:uptimeNotificationChannels`},
		"uptime channel not a name": {gke(map[string]string{"ctmd:uptimeNotificationChannels": `["slack-ops"]`}), nil,
			`invalid config "ctmd:uptimeNotificationChannels" value "slack-ops": must be a list of notification channel names projects/<project>/notificationChannels/<id>`},
		"receiver not a url": {gke(map[string]string{receiverKey: "https://exa%mple.com/secret"}), []string{receiverKey},
			`invalid config "ctmd:alertReceiverUrl": it is not a URL; ` + fix},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, tc.values, append([]string{"ctmd:mongoConnectionString"}, tc.secrets...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %s", err, tc.want)
			}
			if v := tc.values[receiverKey]; v != "" && strings.Contains(err.Error(), v) {
				t.Errorf("the error quotes the receiver: %v", err)
			}
		})
	}
}

// FuzzReceiverNeverInErrors sets arbitrary receiver values, valid or not, secret or plain, and
// checks that no error quotes any piece of them: the URL is a credential (a Slack webhook's path
// is its token). Each value carries a marker, and body, the fuzzed part, must not appear either
// once it is long enough to be told from the error's own words.
func FuzzReceiverNeverInErrors(f *testing.F) {
	for _, seed := range []string{"", "T000/B000/XXXX", "a b", "\x00", "%zz", "://", "@user:pass", "?token=1#x", "é"} {
		f.Add("https://hooks.slack.com/services/", seed, true)
		f.Add("slack://", seed, true)
		f.Add("https://", seed, false)
	}
	f.Fuzz(func(t *testing.T, prefix, body string, secret bool) {
		const marker = "Qz7Marker"
		value := prefix + marker + body
		var secrets []string
		if secret {
			secrets = []string{receiverKey}
		}
		_, err := load(t, gke(map[string]string{receiverKey: value}), append(secrets, "ctmd:mongoConnectionString")...)
		if err == nil {
			return
		}
		msg := err.Error()
		if strings.Contains(msg, marker) || (len(body) >= 8 && strings.Contains(msg, body)) {
			t.Fatalf("the receiver leaks into the error: %q", msg)
		}
	})
}
