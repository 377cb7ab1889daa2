// Package alerts puts marketdata's alert rules in front of Google Managed Prometheus: the
// PodMonitorings that collect what the rules read beyond the app's own pods (the ingress
// gateway's request metrics, cert-manager's certificate metrics), a ClusterRules object for the
// managed rule evaluator, and the managed Alertmanager's configuration, written only where the
// stack is allowed to own it. The rule file itself is exported on every target, for a Prometheus
// of one's own and for promtool.
package alerts

import (
	"maps"
	"slices"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/object"
	"github.com/cryptotracker/ctmd/infra/slo"
)

// Names Managed Prometheus fixes, and ours.
const (
	monitoringAPI = "monitoring.googleapis.com/v1"
	// RulesName is the ClusterRules object. Cluster-scoped, because the rules read series of three
	// namespaces (the gateway's, the app's and cert-manager's): a namespaced Rules object sees only
	// its own ("Alerting and recording rules defined in Rules are scoped to project_id, cluster,
	// and namespace of the resource",
	// https://cloud.google.com/stackdriver/docs/managed-prometheus/rules-managed), while
	// ClusterRules "are scoped to the current cluster. Only metric data from the current cluster is
	// processed" (https://github.com/GoogleCloudPlatform/prometheus-engine/blob/main/doc/api.md#clusterrules).
	// The name carries the app's namespace, as cluster-scoped names are shared by every team.
	RulesName = "ctmd-marketdata-slo"
	// GatewayMonitoring and CertManagerMonitoring are the PodMonitorings of the gateway's and
	// cert-manager's pods, each in its pods' namespace (a PodMonitoring selects pods of its own).
	GatewayMonitoring     = "ctmd-ingressgateway"
	CertManagerMonitoring = "ctmd-cert-manager"
	// The managed Alertmanager reads its configuration from the Secret "alertmanager", key
	// "alertmanager.yaml", in the public namespace gmp-public, unless the OperatorConfig's
	// managedAlertmanager.configSecret names another ("ConfigSecret refers to the name of a
	// single-key Secret in the public namespace that holds the managed Alertmanager config file",
	// https://github.com/GoogleCloudPlatform/prometheus-engine/blob/main/doc/api.md#managedalertmanagerspec).
	// One per cluster: the stack writes it only when it may own it (Args.ManageAlertmanager).
	AlertmanagerNamespace = "gmp-public"
	AlertmanagerSecret    = "alertmanager"
	AlertmanagerKey       = "alertmanager.yaml"
)

// Scrape is a set of pods whose metrics the rules read, collected by a PodMonitoring.
type Scrape struct {
	Namespace string
	Labels    map[string]string
	Port      int
	Path      string
	// After is what creates the namespace and pods (a chart).
	After pulumi.Resource
}

// Args configures the component.
type Args struct {
	Provider *kubernetes.Provider
	// Rules are the groups to evaluate.
	Rules slo.RuleFile
	// ManagedPrometheus declares the PodMonitorings, the ClusterRules object and, when allowed,
	// the Alertmanager Secret.
	ManagedPrometheus bool
	// Scrapes are the pods outside the app whose metrics the rules read and that the stack
	// installed (the gateway, cert-manager); what another team runs, the stack leaves alone.
	Scrapes map[string]Scrape
	// Receiver is the secret webhook or Slack URL; used only when HasReceiver.
	Receiver      pulumi.StringOutput
	HasReceiver   bool
	SlackReceiver bool
	// ManageAlertmanager lets the stack own the cluster's Alertmanager configuration; otherwise
	// it only exports the route to add to it.
	ManageAlertmanager bool
	// Namespace is the app's namespace: every ctmd alert carries it, and ctmd's route matches it.
	Namespace string
}

// Alerts is the component.
type Alerts struct {
	pulumi.ResourceState
	// RuleFile is the rule groups as a Prometheus rule file (YAML).
	RuleFile pulumi.StringOutput
	// Route is, when the stack may not write the Alertmanager configuration, the route and
	// receiver to add to it (secret: it holds the receiver); empty otherwise.
	Route pulumi.StringOutput
}

// New declares the PodMonitorings, the ClusterRules object and the Alertmanager configuration.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Alerts, error) {
	file, err := args.Rules.YAML()
	if err != nil {
		return nil, err
	}
	groups, err := args.Rules.Spec()
	if err != nil {
		return nil, err
	}
	a := &Alerts{RuleFile: pulumi.String(file).ToStringOutput(), Route: pulumi.String("").ToStringOutput()}
	if err := ctx.RegisterComponentResource("ctmd:alerts:Alerts", name, a, opts...); err != nil {
		return nil, err
	}
	child := func(after ...pulumi.Resource) []pulumi.ResourceOption {
		return []pulumi.ResourceOption{pulumi.Parent(a), pulumi.Provider(args.Provider), pulumi.DependsOn(slices.DeleteFunc(after, isNil))}
	}

	if args.ManagedPrometheus {
		for _, name := range slices.Sorted(maps.Keys(args.Scrapes)) {
			s := args.Scrapes[name]
			if _, err := object.New(ctx, monitoringAPI, "PodMonitoring", name, s.Namespace, podMonitoring(s), child(s.After)...); err != nil {
				return nil, err
			}
		}
		if _, err := object.New(ctx, monitoringAPI, "ClusterRules", RulesName, "", map[string]any{"groups": groups}, child()...); err != nil {
			return nil, err
		}
		switch {
		case !args.HasReceiver:
		case args.ManageAlertmanager:
			// The configuration holds the receiver URL, so it is built inside the receiver's
			// secret output (config.Load makes it one) and stays secret in the state;
			// StringData is the only place it goes.
			config := args.Receiver.ApplyT(func(url string) (string, error) {
				return alertmanagerConfig(receiver{url, args.SlackReceiver}, args.Namespace)
			}).(pulumi.StringOutput)
			if _, err := corev1.NewSecret(ctx, AlertmanagerSecret, &corev1.SecretArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Name:      pulumi.String(AlertmanagerSecret),
					Namespace: pulumi.String(AlertmanagerNamespace),
				},
				Type:       pulumi.String("Opaque"),
				StringData: pulumi.StringMap{AlertmanagerKey: config},
			}, child()...); err != nil {
				return nil, err
			}
		default:
			a.Route = pulumi.ToSecret(args.Receiver.ApplyT(func(url string) (string, error) { return routeToAdd(receiver{url, args.SlackReceiver}, args.Namespace) })).(pulumi.StringOutput)
		}
	}

	if err := ctx.RegisterResourceOutputs(a, pulumi.Map{"ruleFile": a.RuleFile}); err != nil {
		return nil, err
	}
	return a, nil
}

func isNil(r pulumi.Resource) bool { return r == nil }

// podMonitoring has managed collection scrape a set of pods at the rules' evaluation interval.
func podMonitoring(s Scrape) map[string]any {
	labels := map[string]any{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	return map[string]any{
		"selector":  map[string]any{"matchLabels": labels},
		"endpoints": []any{map[string]any{"port": s.Port, "path": s.Path, "interval": slo.Interval}},
	}
}
