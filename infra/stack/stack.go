// Package stack is the ctmd Pulumi program: it loads the configuration, picks the cluster
// (created on GKE or adopted), installs Istio when asked, deploys marketdata and exports how to
// reach it. main.go runs it; mock tests and the e2e Automation API test call Deploy directly.
package stack

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/alerts"
	"github.com/cryptotracker/ctmd/infra/app"
	"github.com/cryptotracker/ctmd/infra/binauthz"
	"github.com/cryptotracker/ctmd/infra/cluster"
	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/delivery"
	"github.com/cryptotracker/ctmd/infra/edge"
	"github.com/cryptotracker/ctmd/infra/gke"
	"github.com/cryptotracker/ctmd/infra/mesh"
	"github.com/cryptotracker/ctmd/infra/uptime"
)

// Deploy is the program body.
func Deploy(ctx *pulumi.Context) error {
	outputs, err := build(ctx)
	if err != nil {
		return err
	}
	for name, value := range outputs {
		ctx.Export(name, value)
	}
	return nil
}

// build declares every resource and returns the stack outputs.
func build(ctx *pulumi.Context) (pulumi.Map, error) {
	cfg, err := config.Load(ctx)
	if err != nil {
		return nil, err
	}
	outputs := pulumi.Map{}
	// Before anything is declared: a cluster the stack creates runs no cert-manager but its own, and
	// only a stack that writes the A record (gke) reads the zone.
	if cfg.Target == config.TargetExisting && cfg.Edge.InstallCertManager {
		found, err := cluster.ExistingDeployments(ctx.Context(), cfg, edge.ControllerSelector)
		if err != nil {
			return nil, fmt.Errorf("looking for a cert-manager the cluster already runs: %w", err)
		}
		if err := edge.ForeignCertManager(found); err != nil {
			return nil, err
		}
	}
	if cfg.Target == config.TargetExisting && cfg.Delivery.Engine == config.DeliveryArgoRollouts {
		found, err := cluster.ExistingDeployments(ctx.Context(), cfg, delivery.ControllerSelector)
		if err != nil {
			return nil, fmt.Errorf("looking for an Argo Rollouts the cluster already runs: %w", err)
		}
		if err := delivery.ForeignEngine(found); err != nil {
			return nil, err
		}
	}
	if cfg.Edge.WriteDNS {
		if err := edge.CheckZone(ctx, cfg.Edge); err != nil {
			return nil, err
		}
	}

	var target *cluster.Cluster
	// On GKE the gateway takes a reserved address, known without reading the cluster back; nil
	// elsewhere, where the gateway's Service is read for its address.
	var reservedIngressIP pulumi.StringInput
	switch cfg.Target {
	case config.TargetGKE:
		// The project's Binary Authorization policy is in force before the cluster that checks it exists.
		policy, err := binauthz.New(ctx, "binauthz", cfg)
		if err != nil {
			return nil, err
		}
		g, err := gke.New(ctx, "gke", cfg, policy)
		if err != nil {
			return nil, err
		}
		target = g.Cluster
		outputs["imageRepository"] = g.ImageRepository
		outputs["egressIps"] = g.EgressIPs
		reservedIngressIP = g.IngressIP
	case config.TargetExisting:
		if target, err = cluster.Existing(ctx, cfg); err != nil {
			return nil, err
		}
	}

	// Without Istio installed here, the stack neither waits for it nor knows its gateway: the
	// ingress address is then the existing installation's business and reported empty.
	var meshDeps []pulumi.Resource
	// The gateway's own resource, when the stack installs it: what its TLS credential waits for.
	var gateway pulumi.Resource
	ingressIP := pulumi.String("").ToStringOutput()
	istioVersion, istioRevision := "", ""
	// The control planes kept, which the app's pods must leave before one goes.
	var istioRevisions []string
	if cfg.InstallIstio {
		m, err := mesh.New(ctx, "istio", mesh.Args{
			Provider:              target.Provider,
			Kubeconfig:            target.Kubeconfig,
			Version:               cfg.IstioVersion,
			CanaryVersion:         cfg.IstioCanaryVersion,
			ChartRepository:       cfg.IstioChartRepository,
			OutboundTrafficPolicy: cfg.OutboundTrafficPolicy,
			LoadBalancerIP:        reservedIngressIP,
			GatewayMinReplicas:    cfg.Operations.GatewayMinReplicas,
			IstiodMinReplicas:     cfg.Operations.IstiodMinReplicas,
		})
		if err != nil {
			return nil, err
		}
		meshDeps = []pulumi.Resource{m.ControlPlane}
		gateway = m.Gateway
		ingressIP = m.IngressIP
		if reservedIngressIP != nil {
			ingressIP = reservedIngressIP.ToStringOutput()
		}
		istioVersion, istioRevision, istioRevisions = cfg.IstioVersion, m.Revision, m.Revisions
	}

	var tls app.TLS
	// The edge component, when it installs cert-manager: what the certificate's metrics wait for.
	var certManager pulumi.Resource
	if cfg.Edge.HTTPS() {
		e, err := edge.New(ctx, "edge", edge.Args{
			Provider:         target.Provider,
			Kubeconfig:       target.Kubeconfig,
			Edge:             cfg.Edge,
			ClusterName:      cfg.ClusterName,
			IngressIP:        reservedIngressIP,
			GatewayNamespace: gatewayNamespace(cfg),
			Gateway:          gateway,
		})
		if err != nil {
			return nil, err
		}
		if cfg.Edge.InstallCertManager {
			certManager = e
		}
		tls = app.TLS{Domain: cfg.Edge.Domain, CredentialName: edge.CredentialName}
	}

	admitted, err := imagePolicy(ctx, cfg, target)
	if err != nil {
		return nil, err
	}
	rollout, engine, err := releases(ctx, cfg, target, meshDeps)
	if err != nil {
		return nil, err
	}
	a, err := app.New(ctx, "marketdata", app.Args{
		Provider:              target.Provider,
		Image:                 cfg.Image,
		Replicas:              cfg.Replicas,
		MongoConnectionString: cfg.MongoConnectionString,
		MongoHosts:            cfg.MongoHosts,
		CanaryImage:           cfg.CanaryImage,
		CanaryWeight:          cfg.CanaryWeight,
		IngressPrincipals:     cfg.IngressPrincipals,
		CallerPrincipals:      cfg.CallerPrincipals,
		ManagedPrometheus:     cfg.Alerts.ManagedPrometheus,
		Mesh:                  append(meshDeps, admitted...),
		IstioRevision:         istioRevision,
		TLS:                   tls,
		Rollout:               rollout,
	})
	if err != nil {
		return nil, err
	}

	if cfg.InstallIstio {
		if _, err := mesh.NewRevisionGuard(ctx, "istio", mesh.GuardArgs{
			Provider:   target.Provider,
			Kubeconfig: target.Kubeconfig,
			Revisions:  istioRevisions,
			Namespace:  app.Namespace,
			Annotation: app.RevisionAnnotation,
			After:      []pulumi.Resource{a},
		}); err != nil {
			return nil, err
		}
	}

	al, err := alerts.New(ctx, "alerts", alerts.Args{
		Provider:           target.Provider,
		Rules:              alertRules(cfg),
		ManagedPrometheus:  cfg.Alerts.ManagedPrometheus,
		Scrapes:            scrapes(cfg, gateway, certManager, engine),
		Receiver:           cfg.Alerts.Receiver,
		HasReceiver:        cfg.Alerts.HasReceiver,
		SlackReceiver:      cfg.Alerts.SlackReceiver,
		ManageAlertmanager: cfg.Alerts.ManageAlertmanager,
		Namespace:          app.Namespace,
	})
	if err != nil {
		return nil, err
	}
	// The same groups as the ClusterRules object, on every target: a cluster without Managed
	// Prometheus loads them into its own Prometheus, and promtool tests them.
	outputs["alertRules"] = al.RuleFile
	if cfg.Alerts.ManagedPrometheus && cfg.Alerts.HasReceiver && !cfg.Alerts.ManageAlertmanager {
		outputs["alertmanagerRoute"] = al.Route
	}

	if cfg.Target == config.TargetGKE {
		host := reservedIngressIP
		if cfg.Edge.HTTPS() {
			host = pulumi.String(cfg.Edge.Domain)
		}
		if _, err := uptime.New(ctx, "uptime", uptime.Args{
			Project:       cfg.Project,
			Name:          cfg.ClusterName,
			Host:          host,
			HTTPS:         cfg.Edge.HTTPS(),
			Receiver:      cfg.Alerts.Receiver,
			HasReceiver:   cfg.Alerts.HasReceiver,
			SlackReceiver: cfg.Alerts.SlackReceiver,
			Channels:      cfg.Alerts.UptimeChannels,
			Runbook:       RunbookURL + "#marketdata-unreachable-from-outside",
		}); err != nil {
			return nil, err
		}
	}

	outputs["clusterName"] = target.Name
	outputs["kubeconfig"] = pulumi.ToSecret(target.Kubeconfig)
	outputs["ingressIp"] = ingressIP
	outputs["url"] = ingressIP.ApplyT(func(ip string) string {
		switch {
		case cfg.Edge.HTTPS():
			return "https://" + cfg.Edge.Domain + "/api/v1/currencies"
		case ip == "":
			return ""
		}
		return "http://" + ip + "/api/v1/currencies"
	}).(pulumi.StringOutput)
	outputs["istioVersion"] = pulumi.String(istioVersion)
	outputs["istioCanaryVersion"] = pulumi.String(cfg.IstioCanaryVersion)
	outputs["istioRevision"] = pulumi.String(istioRevision)
	if cfg.InstallIstio {
		// How Istio is installed, for the next update to know (mesh.legacyReleases).
		outputs[mesh.LayoutOutput] = pulumi.String(mesh.Layout)
	}
	outputs["namespace"] = a.Namespace
	// What the gateway sends where: empty and 0 without a canary.
	canaryWeight := 0
	if cfg.CanaryImage != "" {
		canaryWeight = cfg.CanaryWeight
	}
	outputs["canaryImage"] = pulumi.String(cfg.CanaryImage)
	outputs["canaryWeight"] = pulumi.Int(canaryWeight)
	if rollout != nil {
		outputs["rolloutStatus"] = pulumi.String(RolloutStatusCommand)
	}
	return outputs, nil
}

// gatewayNamespace is where the ingress gateway runs: the one ctmd installs, or else the one the
// configured gateway identity names (cluster.local/ns/<namespace>/sa/<account>), since a Gateway's
// credential must be a Secret in its proxy's namespace.
func gatewayNamespace(cfg *config.Config) string {
	if cfg.InstallIstio {
		return mesh.GatewayNamespace
	}
	_, rest, _ := strings.Cut(cfg.IngressPrincipals[0], "/ns/")
	ns, _, _ := strings.Cut(rest, "/")
	return ns
}

// RunbookURL is the page the alerts link to; each alert has a section there.
const RunbookURL = "https://github.com/cryptotracker/ctmd/blob/main/docs/alerts.md"
