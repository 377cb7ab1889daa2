package stack

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/alerts"
	"github.com/cryptotracker/ctmd/infra/app"
	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/delivery"
	"github.com/cryptotracker/ctmd/infra/edge"
	"github.com/cryptotracker/ctmd/infra/mesh"
	"github.com/cryptotracker/ctmd/infra/slo"
)

// alertRules are the SLOs the configuration sets, the rules that watch them, and, with a domain,
// the rules that watch its certificate. Every alert carries the app's namespace, which ctmd's
// Alertmanager route matches.
func alertRules(cfg *config.Config) slo.RuleFile {
	users := slo.Users{Namespace: app.Namespace, Service: app.Name, GatewayNamespace: gatewayNamespace(cfg), Routed: routedServices(cfg)}
	labels := map[string]string{"namespace": app.Namespace}
	rules := slo.Rules([]slo.SLO{
		slo.Availability(cfg.Alerts.AvailabilityObjective, users),
		slo.Latency(cfg.Alerts.LatencyObjective, cfg.Alerts.LatencyThresholdMs, users),
	}, slo.Options{
		Tracks:    app.Tracks,
		Canary:    cfg.CanaryImage != "" && cfg.CanaryWeight < 100,
		NoTraffic: cfg.Alerts.NoTraffic,
		Labels:    labels,
		Runbook:   RunbookURL,
	})
	if cfg.Edge.HTTPS() {
		rules.Groups = append(rules.Groups, alerts.CertificateRules(edge.CertificateName, labels, RunbookURL))
	}
	if cfg.Delivery.Engine == config.DeliveryArgoRollouts {
		rules.Groups = append(rules.Groups, alerts.ReleaseRules(app.Namespace, app.Name, cfg.Delivery.StepDuration, labels, RunbookURL))
	}
	return rules
}

// scrapes are the pods outside the app whose metrics the rules read, where the stack installed
// them: the ingress gateway (what users get), cert-manager (the certificate) and the rollout
// engine (the release). A gateway or cert-manager of the cluster's own is its owner's to scrape
// (docs/alerts.md).
func scrapes(cfg *config.Config, gateway, certManager, engine pulumi.Resource) map[string]alerts.Scrape {
	s := map[string]alerts.Scrape{}
	if cfg.InstallIstio {
		s[alerts.GatewayMonitoring] = alerts.Scrape{
			Namespace: mesh.GatewayNamespace, Labels: map[string]string{"istio": mesh.GatewayLabel},
			Port: app.MergedMetricsPort, Path: app.MergedMetricsPath, After: gateway,
		}
	}
	if certManager != nil {
		s[alerts.CertManagerMonitoring] = alerts.Scrape{
			Namespace: edge.CertManagerNamespace, Labels: edge.ControllerLabels,
			Port: edge.MetricsPort, Path: "/metrics", After: certManager,
		}
	}
	if engine != nil {
		s[alerts.RolloutsMonitoring] = alerts.Scrape{
			Namespace: delivery.Namespace, Labels: delivery.ControllerLabels,
			Port: delivery.MetricsPort, Path: delivery.MetricsPath, After: engine,
		}
	}
	return s
}
