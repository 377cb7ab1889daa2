package cluster

import (
	"os"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/utilities"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// CreateBehaviour is the kubernetes provider's configuration that the stack's recovery rests on,
// set on every provider it declares rather than left to a default upstream moves or to the
// environment of whoever runs pulumi up:
//   - enableServerSideApply: objects and chart objects are applied, never replaced by a client-side
//     update; the provider's default, which PULUMI_K8S_ENABLE_SERVER_SIDE_APPLY=false in a user's
//     shell would turn off (the provider reads that variable only when the key is unset).
//   - upsertExistingObjects: a create of an object that already exists applies over it. A killed
//     `pulumi up` leaves objects the state lists as pending creates; the next up creates them again,
//     and the Helm releases' move (infra/mesh/adopt.go) creates the chart objects over the releases'.
//     The pinned provider (4.25) upserts on every create under server-side apply and ignores the
//     key; from 4.29 on, creates are client-side and fail with AlreadyExists unless the key is true
//     (pulumi/pulumi-kubernetes#4278, "a new provider config upsertExistingObjects (default false)
//     restores the previous upsert behavior").
//
// TestInterruptedUp and TestIstioLayoutMigration fail on a provider that does not upsert.
var CreateBehaviour = map[string]bool{"enableServerSideApply": true, "upsertExistingObjects": true}

// NewProvider declares a kubernetes provider with CreateBehaviour, for the cluster kubeconfig
// (contents or a path) selects. The SDK's ProviderArgs of the pinned
// version has no upsertExistingObjects, so the provider is registered as kubernetes.NewProvider
// does, from a map: the same type, the SDK's version, and, given no kubeconfig, $KUBECONFIG.
func NewProvider(ctx *pulumi.Context, name string, kubeconfig pulumi.StringInput, opts ...pulumi.ResourceOption) (*kubernetes.Provider, error) {
	props := pulumi.Map{}
	for key, value := range CreateBehaviour {
		props[key] = pulumi.Bool(value)
	}
	if kubeconfig == nil {
		if path := os.Getenv("KUBECONFIG"); path != "" {
			kubeconfig = pulumi.String(path)
		}
	}
	if kubeconfig != nil {
		props["kubeconfig"] = kubeconfig
	}
	var provider kubernetes.Provider
	if err := ctx.RegisterResource("pulumi:providers:kubernetes", name, props, &provider, utilities.PkgResourceDefaultOpts(opts)...); err != nil {
		return nil, err
	}
	return &provider, nil
}
