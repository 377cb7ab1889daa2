package alerts

import (
	"sigs.k8s.io/yaml"

	"github.com/cryptotracker/ctmd/infra/slo"
)

// receiverName names ctmd's receiver in an Alertmanager configuration
// (https://prometheus.io/docs/alerting/latest/configuration/).
const receiverName = "ctmd"

// alertmanagerConfig is a whole Alertmanager configuration, for a cluster whose configuration the
// stack owns: ctmd's route sends the alerts labelled with the app's namespace to ctmd's receiver,
// and the root route drops everything else, so another team's alert in the same cluster never
// reaches ctmd's receiver.
func alertmanagerConfig(r receiver, namespace string) (string, error) {
	return marshal(map[string]any{
		"route": map[string]any{
			"receiver": "unrouted",
			"routes":   []any{ctmdRoute(namespace)},
		},
		"receivers": []any{map[string]any{"name": "unrouted"}, r.config()},
	})
}

// routeToAdd is ctmd's route and receiver alone, for a cluster whose configuration belongs to
// someone else: they go under its route's routes and receivers (docs/alerts.md).
func routeToAdd(r receiver, namespace string) (string, error) {
	return marshal(map[string]any{
		"routes":    []any{ctmdRoute(namespace)},
		"receivers": []any{r.config()},
	})
}

// ctmdRoute matches ctmd's alerts by the namespace label every one of them carries; pages repeat
// hourly while they fire, tickets daily.
func ctmdRoute(namespace string) map[string]any {
	severity := func(s slo.Severity, repeat string) map[string]any {
		return map[string]any{"matchers": []any{`severity="` + string(s) + `"`}, "repeat_interval": repeat}
	}
	return map[string]any{
		"receiver": receiverName,
		"matchers": []any{`namespace="` + namespace + `"`},
		"group_by": []any{"alertname", "destination_version"},
		"routes":   []any{severity(slo.Page, "1h"), severity(slo.Ticket, "24h")},
	}
}

// receiver is where ctmd's alerts go: a Slack incoming webhook, or any other URL as a generic
// webhook.
type receiver struct {
	url   string
	slack bool
}

func (r receiver) config() map[string]any {
	if r.slack {
		return map[string]any{"name": receiverName, "slack_configs": []any{map[string]any{
			"api_url":       r.url,
			"send_resolved": true,
			"title":         `[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})`,
			"text":          `{{ range .Alerts }}{{ .Annotations.summary }} {{ .Labels.runbook_url }}{{ "\n" }}{{ end }}`,
		}}}
	}
	return map[string]any{"name": receiverName, "webhook_configs": []any{map[string]any{"url": r.url, "send_resolved": true}}}
}

func marshal(v any) (string, error) {
	b, err := yaml.Marshal(v)
	return string(b), err
}
