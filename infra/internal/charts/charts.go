// Package charts installs a Helm chart the way ctmd installs all of them: rendered by Pulumi
// (helm.v4.Chart) and applied object by object with server-side apply, from an HTTP(S) Helm
// repository or an OCI registry. infra/mesh says why not as a Helm release (helm.v3.Release): an
// interrupted `pulumi up` is finished by the next one.
package charts

import (
	"context"
	"maps"
	"strings"

	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args is one chart installation.
type Args struct {
	// Repository is a Helm repository URL, or an oci:// registry path holding the chart.
	Repository string
	// Chart is the chart's name in the repository, Version its version.
	Chart, Version string
	Namespace      pulumi.StringPtrInput
	Values         pulumi.Map
}

// New declares the chart under the release name name (what the templates see as .Release.Name).
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*helmv4.Chart, error) {
	source := chartSource(args.Repository, args.Chart)
	return helmv4.NewChart(ctx, name, &helmv4.ChartArgs{
		Name:           pulumi.String(name),
		Chart:          source.Chart,
		Version:        pulumi.String(args.Version),
		Namespace:      args.Namespace,
		RepositoryOpts: source.RepositoryOpts,
		Values:         args.Values,
	}, append(opts, forceApply())...)
}

// chartSource says where one chart comes from. The Chart resource takes an OCI chart as a full
// oci:// reference with no repository (the provider hands it to Helm's registry client), and any
// other chart as a name within a Helm repository.
func chartSource(repository, chart string) helmv4.ChartArgs {
	if ref, oci := OCIReference(repository, chart); oci {
		return helmv4.ChartArgs{Chart: pulumi.String(ref)}
	}
	return helmv4.ChartArgs{
		Chart:          pulumi.String(chart),
		RepositoryOpts: &helmv4.RepositoryOptsArgs{Repo: pulumi.String(repository)},
	}
}

// OCIReference is the full reference of chart in repository, and whether repository is an OCI
// registry (oci://...) rather than a Helm repository.
func OCIReference(repository, chart string) (string, bool) {
	return repository + "/" + chart, strings.HasPrefix(repository, "oci://")
}

// forceApply marks every object a chart renders so that Pulumi's server-side apply takes over the
// fields another field manager holds instead of failing on them
// (https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/managing-resources-with-server-side-apply/#handle-field-conflicts-on-existing-resources):
// the fields Helm applied in a stack made before the charts (infra/mesh relinquish; without the
// force the takeover fails on istiod's webhook configurations, TestIstioLayoutMigration), and any
// a killed update applied under a field manager of its own (each create gets a new one). The
// declared value wins, as it did with `helm upgrade`.
func forceApply() pulumi.ResourceOption {
	return pulumi.Transforms([]pulumi.ResourceTransform{withPatchForce})
}

func withPatchForce(_ context.Context, a *pulumi.ResourceTransformArgs) *pulumi.ResourceTransformResult {
	metadata, isObject := a.Props["metadata"].(pulumi.Map)
	if !a.Custom || !strings.HasPrefix(a.Type, "kubernetes:") || !isObject {
		return nil
	}
	annotations, _ := metadata["annotations"].(pulumi.Map)
	annotations = maps.Clone(annotations)
	if annotations == nil {
		annotations = pulumi.Map{}
	}
	annotations[PatchForce] = pulumi.String("true")
	metadata = maps.Clone(metadata)
	metadata["annotations"] = annotations
	props := maps.Clone(a.Props)
	props["metadata"] = metadata
	return &pulumi.ResourceTransformResult{Props: props, Opts: a.Opts}
}

// PatchForce is the kubernetes provider's annotation for a forced server-side apply; every object
// a chart of ctmd applies carries it, which tells ctmd's objects from those of the same names that
// another tool applied (infra/edge, ForeignCertManager).
const PatchForce = "pulumi.com/patchForce"
