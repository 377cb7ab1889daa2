// Package alerts puts marketdata's SLO rules (infra/slo) in front of Google Managed Prometheus: a
// Rules object in the app's namespace for the managed rule evaluator, and the managed
// Alertmanager's configuration with the stack's receiver. The rule file itself is exported on
// every target, for a Prometheus of one's own and for promtool.
package alerts

import (
	"net/url"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"sigs.k8s.io/yaml"

	"github.com/cryptotracker/ctmd/infra/slo"
)

// Names Managed Prometheus fixes, and ours.
const (
	// RulesName is the Rules object in the app's namespace.
	RulesName = "marketdata-slo"
	// The managed Alertmanager reads its configuration from the Secret "alertmanager", key
	// "alertmanager.yaml", in the public namespace gmp-public, unless the OperatorConfig's
	// managedAlertmanager.configSecret names another ("ConfigSecret refers to the name of a
	// single-key Secret in the public namespace that holds the managed Alertmanager config file",
	// https://github.com/GoogleCloudPlatform/prometheus-engine/blob/main/doc/api.md#managedalertmanagerspec;
	// https://cloud.google.com/stackdriver/docs/managed-prometheus/rules-managed). The
	// default name is used, so the OperatorConfig is left as GKE made it.
	AlertmanagerNamespace = "gmp-public"
	AlertmanagerSecret    = "alertmanager"
	AlertmanagerKey       = "alertmanager.yaml"
)

// Args configures the component.
type Args struct {
	Provider *kubernetes.Provider
	// Namespace is the app's namespace (an output of it, so the Rules object waits for it).
	Namespace pulumi.StringOutput
	// Rules are the groups to evaluate.
	Rules slo.RuleFile
	// ManagedPrometheus declares the Rules object and, with a receiver, the Alertmanager Secret.
	ManagedPrometheus bool
	// Receiver is the secret webhook or Slack URL; used only when HasReceiver.
	Receiver    pulumi.StringOutput
	HasReceiver bool
}

// Alerts is the component.
type Alerts struct {
	pulumi.ResourceState
	// RuleFile is the rule groups as a Prometheus rule file (YAML).
	RuleFile pulumi.StringOutput
}

// New declares the Rules object and the Alertmanager configuration.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Alerts, error) {
	file, err := args.Rules.YAML()
	if err != nil {
		return nil, err
	}
	groups, err := args.Rules.Spec()
	if err != nil {
		return nil, err
	}
	a := &Alerts{RuleFile: pulumi.String(file).ToStringOutput()}
	if err := ctx.RegisterComponentResource("ctmd:alerts:Alerts", name, a, opts...); err != nil {
		return nil, err
	}
	child := []pulumi.ResourceOption{pulumi.Parent(a), pulumi.Provider(args.Provider)}

	if args.ManagedPrometheus {
		if _, err := apiextensions.NewCustomResource(ctx, RulesName, &apiextensions.CustomResourceArgs{
			ApiVersion:  pulumi.String("monitoring.googleapis.com/v1"),
			Kind:        pulumi.String("Rules"),
			Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(RulesName), Namespace: args.Namespace},
			OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{"groups": groups}},
		}, child...); err != nil {
			return nil, err
		}
		if args.HasReceiver {
			// The configuration holds the receiver URL, so it is built inside the receiver's
			// secret output (config.Load makes it one) and stays secret in the state;
			// StringData is the only place it goes.
			config := args.Receiver.ApplyT(alertmanagerConfig).(pulumi.StringOutput)
			if _, err := corev1.NewSecret(ctx, AlertmanagerSecret, &corev1.SecretArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Name:      pulumi.String(AlertmanagerSecret),
					Namespace: pulumi.String(AlertmanagerNamespace),
				},
				Type:       pulumi.String("Opaque"),
				StringData: pulumi.StringMap{AlertmanagerKey: config},
			}, child...); err != nil {
				return nil, err
			}
		}
	}

	if err := ctx.RegisterResourceOutputs(a, pulumi.Map{"ruleFile": a.RuleFile}); err != nil {
		return nil, err
	}
	return a, nil
}

// alertmanagerConfig is an Alertmanager configuration
// (https://prometheus.io/docs/alerting/latest/configuration/) sending every alert to the one
// receiver: Slack's incoming webhooks by their host, any other URL as a generic webhook. Pages
// repeat hourly while they fire, tickets daily.
func alertmanagerConfig(receiver string) (string, error) {
	integration := map[string]any{"webhook_configs": []any{map[string]any{"url": receiver, "send_resolved": true}}}
	if u, err := url.Parse(receiver); err == nil && u.Host == "hooks.slack.com" {
		integration = map[string]any{"slack_configs": []any{map[string]any{
			"api_url":       receiver,
			"send_resolved": true,
			"title":         `[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})`,
			"text":          `{{ range .Alerts }}{{ .Annotations.summary }} {{ .Labels.runbook_url }}{{ "\n" }}{{ end }}`,
		}}}
	}
	integration["name"] = "ctmd"
	route := func(severity, repeat string) map[string]any {
		return map[string]any{"matchers": []any{`severity="` + severity + `"`}, "repeat_interval": repeat}
	}
	config := map[string]any{
		"route": map[string]any{
			"receiver": "ctmd",
			"group_by": []any{"alertname", "destination_version"},
			"routes":   []any{route(string(slo.Page), "1h"), route(string(slo.Ticket), "24h")},
		},
		"receivers": []any{integration},
	}
	b, err := yaml.Marshal(config)
	return string(b), err
}
