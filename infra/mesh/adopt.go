package mesh

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// adoptRelease lets a chart take over, in place, the Helm release (helm.v3.Release) of the same
// name that stacks made before ctmd rendered the charts itself still hold in their state. The
// alias makes the engine see one resource changing its kind instead of a Release to delete: a
// deleted Release would run `helm uninstall`, removing the objects the chart has just applied.
// The chart's objects are applied over the release's with server-side apply, so nothing in the
// cluster is recreated. Helm's own record of the release (Secrets sh.helm.release.v1.<name>.v<n>)
// is left behind, and is inert.
func adoptRelease(name string) pulumi.ResourceOption {
	return pulumi.Aliases([]pulumi.Alias{{Name: pulumi.String(name), Type: pulumi.String("kubernetes:helm.sh/v3:Release")}})
}
