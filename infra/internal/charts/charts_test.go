package charts

import (
	"reflect"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Every object a chart renders is applied with force; its own annotations stay; the chart itself
// and anything that is not a Kubernetes object are left alone.
func TestWithPatchForce(t *testing.T) {
	obj := &pulumi.ResourceTransformArgs{Custom: true, Type: "kubernetes:apps/v1:Deployment", Props: pulumi.Map{
		"kind":     pulumi.String("Deployment"),
		"metadata": pulumi.Map{"name": pulumi.String("istiod"), "annotations": pulumi.Map{"a": pulumi.String("b")}},
	}}
	got := withPatchForce(t.Context(), obj)
	if got == nil {
		t.Fatal("a chart's Deployment was not changed")
	}
	want := pulumi.Map{
		"kind": pulumi.String("Deployment"),
		"metadata": pulumi.Map{"name": pulumi.String("istiod"), "annotations": pulumi.Map{
			"a": pulumi.String("b"), PatchForce: pulumi.String("true"),
		}},
	}
	if !reflect.DeepEqual(got.Props, want) {
		t.Errorf("props %v, want %v", got.Props, want)
	}
	if _, changed := obj.Props["metadata"].(pulumi.Map)["annotations"].(pulumi.Map)[PatchForce]; changed {
		t.Error("the transform changed its input")
	}
	for _, other := range []*pulumi.ResourceTransformArgs{
		{Custom: false, Type: "kubernetes:helm.sh/v4:Chart", Props: pulumi.Map{"metadata": pulumi.Map{}}},
		{Custom: true, Type: "gcp:compute/address:Address", Props: pulumi.Map{"metadata": pulumi.Map{}}},
		{Custom: true, Type: "kubernetes:core/v1:ConfigMapList", Props: pulumi.Map{}},
	} {
		if withPatchForce(t.Context(), other) != nil {
			t.Errorf("%s (custom %v) was changed", other.Type, other.Custom)
		}
	}
}
