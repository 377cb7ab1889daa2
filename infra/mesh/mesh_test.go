package mesh

import (
	"reflect"
	"testing"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// A load balancer still pending must give an empty address, never an error.
func TestLoadBalancerAddress(t *testing.T) {
	ip, host, empty := "198.51.100.7", "lb.example.net", ""
	tests := []struct {
		name   string
		status *corev1.ServiceStatus
		want   string
	}{
		{"no status", nil, ""},
		{"no load balancer", &corev1.ServiceStatus{}, ""},
		{"pending", &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{}}, ""},
		{"empty entry", &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{
			Ingress: []corev1.LoadBalancerIngress{{Ip: &empty}}}}, ""},
		{"ip", &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{
			Ingress: []corev1.LoadBalancerIngress{{Ip: &ip}}}}, ip},
		{"hostname only", &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{
			Ingress: []corev1.LoadBalancerIngress{{Hostname: &host}}}}, host},
		{"first usable entry", &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{
			Ingress: []corev1.LoadBalancerIngress{{}, {Ip: &ip, Hostname: &host}}}}, ip},
	}
	for _, tt := range tests {
		if got := loadBalancerAddress(tt.status); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

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
			"a": pulumi.String("b"), patchForce: pulumi.String("true"),
		}},
	}
	if !reflect.DeepEqual(got.Props, want) {
		t.Errorf("props %v, want %v", got.Props, want)
	}
	if _, changed := obj.Props["metadata"].(pulumi.Map)["annotations"].(pulumi.Map)[patchForce]; changed {
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
