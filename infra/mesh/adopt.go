package mesh

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// LayoutOutput is the stack output saying how the stack installs Istio: Layout since the charts
// are applied object by object. Stacks made before hold Helm releases and export no such output.
const (
	LayoutOutput = "istioLayout"
	Layout       = "charts"
)

// legacyReleases returns the Helm releases (helm.v3.Release, each named after its chart) that the
// stack's last update left in its state, if it installed Istio before the charts were applied
// object by object; nil otherwise. The state is not visible to a program, so it asks the stack's
// own last outputs, through a stack reference to itself: Istio's version without LayoutOutput.
// The revision layout's releases are named after their chart; the layout before it had one
// release "istiod" for its control plane, which is left to be uninstalled, as before.
//
// The reference is a child of the stack, not of the mesh component: an update that skips the
// component, such as the README's targeted up of the cluster layer, still reads it, and a read
// under a parent that the update did not create fails the snapshot's check ("refers to missing
// parent"), the whole update with it.
func legacyReleases(ctx *pulumi.Context) (map[string]bool, error) {
	self := fmt.Sprintf("%s/%s/%s", ctx.Organization(), ctx.Project(), ctx.Stack())
	ref, err := pulumi.NewStackReference(ctx, "last-update", &pulumi.StackReferenceArgs{Name: pulumi.String(self)})
	if err != nil {
		return nil, err
	}
	output := func(name string) (string, error) {
		d, err := ref.GetOutputDetails(name)
		if err != nil {
			return "", fmt.Errorf("reading the stack's last output %s: %w", name, err)
		}
		v, _ := d.Value.(string)
		return v, nil
	}
	outputs := map[string]string{}
	for _, name := range []string{LayoutOutput, "istioVersion", "istioCanaryVersion", "istioRevision"} {
		if outputs[name], err = output(name); err != nil {
			return nil, err
		}
	}
	if outputs[LayoutOutput] != "" || outputs["istioVersion"] == "" {
		return nil, nil
	}
	releases := map[string]bool{"istio-base": true, GatewayRelease: true}
	if outputs["istioRevision"] != "" {
		for _, version := range []string{outputs["istioVersion"], outputs["istioCanaryVersion"]} {
			if version != "" {
				releases["istiod-"+Revision(version)] = true
			}
		}
	}
	return releases, nil
}

// relinquish reads the Helm release a chart replaces under the release's own name and id. A read
// of a resource the state holds as managed, with the same id, takes it out of Pulumi's management
// without deleting it ("relinquish", pulumi/pkg resource/deploy/step_generator.go): no `helm
// uninstall` runs, and the chart's objects are applied over the release's (charts.New applies them with force). Helm's own
// record of the release (Secrets sh.helm.release.v1.<name>.v<n>) stays in the cluster, inert.
// Once the update has exported LayoutOutput, the next one reads nothing and the engine drops the
// read from the state.
//
// It reads by type token what the SDK's helmv3.GetRelease reads, without importing the SDK's helm/v3
// package: that one imports the package of every Kubernetes kind, 4.5 more minutes of a cold build
// on two cores (measured), paid by make test, make e2e and a user's first pulumi up alike.
func relinquish(ctx *pulumi.Context, name, namespace string, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	release := &struct{ pulumi.CustomResourceState }{}
	if err := ctx.ReadResource(ReleaseType, name, pulumi.ID(namespace+"/"+name), nil, release, opts...); err != nil {
		return nil, err
	}
	return release, nil
}

// ReleaseType is the type token of a Helm release of the kubernetes provider (helm.v3.Release).
const ReleaseType = "kubernetes:helm.sh/v3:Release"
