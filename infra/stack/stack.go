// Package stack is the ctmd Pulumi program: it loads the configuration, picks the cluster
// (created on GKE or adopted), installs Istio when asked, deploys marketdata and exports how to
// reach it. main.go runs it; mock tests and the e2e Automation API test call Deploy directly.
package stack

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/alerts"
	"github.com/cryptotracker/ctmd/infra/app"
	"github.com/cryptotracker/ctmd/infra/cluster"
	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/edge"
	"github.com/cryptotracker/ctmd/infra/gke"
	"github.com/cryptotracker/ctmd/infra/mesh"
	"github.com/cryptotracker/ctmd/infra/slo"
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

	var target *cluster.Cluster
	// On GKE the gateway takes a reserved address, known without reading the cluster back; nil
	// elsewhere, where the gateway's Service is read for its address.
	var reservedIngressIP pulumi.StringInput
	switch cfg.Target {
	case config.TargetGKE:
		g, err := gke.New(ctx, "gke", cfg)
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
	if cfg.InstallIstio {
		m, err := mesh.New(ctx, "istio", mesh.Args{
			Provider:              target.Provider,
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
		istioVersion, istioRevision = cfg.IstioVersion, m.Revision
	}

	var tls app.TLS
	if cfg.Edge.HTTPS() {
		if _, err := edge.New(ctx, "edge", edge.Args{
			Provider:         target.Provider,
			Edge:             cfg.Edge,
			ClusterName:      cfg.ClusterName,
			IngressIP:        reservedIngressIP,
			GatewayNamespace: gatewayNamespace(cfg),
			Gateway:          gateway,
		}); err != nil {
			return nil, err
		}
		tls = app.TLS{Domain: cfg.Edge.Domain, CredentialName: edge.CredentialName}
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
		Mesh:                  meshDeps,
		IstioRevision:         istioRevision,
		TLS:                   tls,
	})
	if err != nil {
		return nil, err
	}

	al, err := alerts.New(ctx, "alerts", alerts.Args{
		Provider:          target.Provider,
		Namespace:         a.Namespace,
		Rules:             alertRules(cfg),
		ManagedPrometheus: cfg.Alerts.ManagedPrometheus,
		Receiver:          cfg.Alerts.Receiver,
		HasReceiver:       cfg.Alerts.HasReceiver,
	})
	if err != nil {
		return nil, err
	}
	// The same groups as the Rules object, on every target: a cluster without Managed Prometheus
	// loads them into its own Prometheus, and promtool tests them.
	outputs["alertRules"] = al.RuleFile

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

// alertRules are the SLOs the configuration sets and the rules that watch them.
func alertRules(cfg *config.Config) slo.RuleFile {
	selector := slo.Selector(app.Namespace, app.Name)
	return slo.Rules([]slo.SLO{
		slo.Availability(cfg.Alerts.AvailabilityObjective, selector),
		slo.Latency(cfg.Alerts.LatencyObjective, cfg.Alerts.LatencyThresholdMs, selector),
	}, slo.Options{
		Tracks:  app.Tracks,
		Canary:  cfg.CanaryImage != "",
		Runbook: RunbookURL,
	})
}

// RunbookURL is the README the alerts link to; each alert has a section under "Alerts".
const RunbookURL = "https://github.com/cryptotracker/ctmd/blob/main/README.md"
