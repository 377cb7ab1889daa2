package stack

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/admission"
	"github.com/cryptotracker/ctmd/infra/app"
	"github.com/cryptotracker/ctmd/infra/cluster"
	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/mesh"
)

// imagePolicy declares the app namespace's admission policy unless ctmd:imageAdmission is off,
// and returns what the app's pods wait for: a pod made before the binding exists is never judged,
// and during an Istio revision upgrade the new proxy image must be admitted before pods move to it.
func imagePolicy(ctx *pulumi.Context, cfg *config.Config, target *cluster.Cluster) ([]pulumi.Resource, error) {
	if cfg.SupplyChain.ImageAdmission == config.ImageAdmissionOff {
		return nil, nil
	}
	proxies := cfg.SupplyChain.ProxyImages
	if cfg.InstallIstio {
		proxies = []string{mesh.ProxyImage(cfg.IstioVersion)}
		if cfg.IstioCanaryVersion != "" {
			proxies = append(proxies, mesh.ProxyImage(cfg.IstioCanaryVersion))
		}
	}
	p, err := admission.New(ctx, "images", admission.Args{
		Namespace:   app.Namespace,
		Mode:        cfg.SupplyChain.ImageAdmission,
		Repository:  cfg.SupplyChain.AllowedRepository,
		ProxyImages: proxies,
	}, pulumi.Provider(target.Provider))
	if err != nil {
		return nil, err
	}
	return []pulumi.Resource{p.Binding}, nil
}
