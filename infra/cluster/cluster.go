// Package cluster describes the Kubernetes cluster the mesh and the app are deployed into, and
// adopts an existing one (ctmd:target existing). The gke package creates the other kind.
package cluster

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/config"
)

// Cluster is what the rest of the program needs from a cluster, whichever target made it.
type Cluster struct {
	Name pulumi.StringOutput
	// Kubeconfig is a secret; empty when the ambient kubeconfig is used.
	Kubeconfig pulumi.StringOutput
	// Provider deploys into the cluster; every Kubernetes resource is created through it.
	Provider *kubernetes.Provider
}

// existingComponent groups the adopted cluster's provider in the resource tree.
type existingComponent struct {
	pulumi.ResourceState
}

// Existing declares no cluster resource, only a provider for the cluster that cfg's kubeconfig
// points at: ctmd:kubeconfig when set, else whatever $KUBECONFIG or ~/.kube/config select (a
// provider given no kubeconfig reads those, as kubectl does).
func Existing(ctx *pulumi.Context, cfg *config.Config) (*Cluster, error) {
	comp := &existingComponent{}
	if err := ctx.RegisterComponentResource("ctmd:cluster:Existing", "existing", comp); err != nil {
		return nil, err
	}
	var given pulumi.StringInput
	kubeconfig := pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
	if cfg.HasKubeconfig {
		given, kubeconfig = cfg.Kubeconfig, cfg.Kubeconfig
	}
	provider, err := NewProvider(ctx, "existing", given, pulumi.Parent(comp))
	if err != nil {
		return nil, err
	}
	// The current-context is the only name an existing cluster reliably has.
	name := cfg.KubeContext
	if name == "" {
		name = "existing"
	}
	c := &Cluster{Name: pulumi.String(name).ToStringOutput(), Kubeconfig: kubeconfig, Provider: provider}
	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{"clusterName": c.Name}); err != nil {
		return nil, err
	}
	return c, nil
}
