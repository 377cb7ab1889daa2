package stack

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/app"
	"github.com/cryptotracker/ctmd/infra/cluster"
	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/delivery"
	"github.com/cryptotracker/ctmd/infra/slo"
)

// releases installs the rollout engine when releases are handed to it, and says how the app's
// Rollout uses it; nil in manual mode. The engine's controller is returned for its metrics.
func releases(ctx *pulumi.Context, cfg *config.Config, target *cluster.Cluster, after []pulumi.Resource) (*app.Rollout, pulumi.Resource, error) {
	d := cfg.Delivery
	if d.Engine != config.DeliveryArgoRollouts {
		return nil, nil, nil
	}
	engine, err := delivery.New(ctx, "delivery", delivery.Args{
		Provider:    target.Provider,
		Kubeconfig:  target.Kubeconfig,
		Delivery:    d,
		Project:     cfg.Project,
		ClusterName: cfg.ClusterName,
		After:       after,
	})
	if err != nil {
		return nil, nil, err
	}
	users := func(service string) slo.Users {
		return slo.Users{Namespace: app.Namespace, Service: service, GatewayNamespace: gatewayNamespace(cfg)}
	}
	return &app.Rollout{
		Steps:         d.Steps,
		StepDuration:  d.StepDuration,
		Gate:          slo.CanaryGate(cfg.Alerts.AvailabilityObjective, users(app.CanaryService), users(app.StableService), d.StepDuration),
		PrometheusURL: d.PrometheusURL,
		Engine:        []pulumi.Resource{engine.Ready},
	}, engine.Ready, nil
}

// RolloutStatusCommand prints where the engine's current release stands with kubectl alone (the
// rollouts plugin's kubectl argo rollouts get rollout marketdata -n ctmd shows more): the phase and
// its reason, the canary's share of the gateway's traffic, and the stable and wanted pod templates
// (equal once a release is promoted or rolled back).
const RolloutStatusCommand = `kubectl -n ctmd get rollout marketdata -o jsonpath='{.status.phase}: {.status.message}{"\n"}canary weight: {.status.canary.weights.canary.weight}%{"\n"}stable: {.status.stableRS}, wanted: {.status.currentPodHash}{"\n"}'`

// routedServices are the Services the gateway's routes name: with the engine, its two, and
// marketdata's own for the requests counted before a stack moved onto it.
func routedServices(cfg *config.Config) []string {
	if cfg.Delivery.Engine != config.DeliveryArgoRollouts {
		return nil
	}
	return []string{app.Name, app.StableService, app.CanaryService}
}
