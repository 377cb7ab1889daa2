package crds

import (
	"slices"
	"testing"
)

// The names are those a v1.35 API server's /openapi/v2 holds for Istio's VirtualService and Argo
// Rollouts' Rollout: a wrong name would keep the hook waiting its whole bound on every update.
func TestOpenAPIDefinitionsNameEveryServedVersion(t *testing.T) {
	version := func(name string, served bool) any { return map[string]any{"name": name, "served": served} }
	crds := []map[string]any{
		{"spec": map[string]any{"group": "networking.istio.io", "names": map[string]any{"kind": "VirtualService"},
			"versions": []any{version("v1", true), version("v1alpha3", true), version("v1beta1", false)}}},
		{"spec": map[string]any{"group": "argoproj.io", "names": map[string]any{"kind": "Rollout"},
			"versions": []any{version("v1alpha1", true)}}},
	}
	got := openAPIDefinitions(crds)
	want := []string{"io.istio.networking.v1.VirtualService", "io.istio.networking.v1alpha3.VirtualService", "io.argoproj.v1alpha1.Rollout"}
	if !slices.Equal(got, want) {
		t.Fatalf("definitions %v, want %v", got, want)
	}
}
