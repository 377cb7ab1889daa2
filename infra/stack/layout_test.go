package stack

import (
	"slices"
	"testing"

	"github.com/cryptotracker/ctmd/infra/mesh"
)

// A stack whose last update installed Istio as Helm releases (no istioLayout output) reads each
// release a chart replaces, under the release's own name and id: the engine then lets go of the
// release instead of deleting it (which would run helm uninstall), and the chart waits for that.
// Releases no chart replaces (the layout before revisions had "istiod") are left to be deleted.
func TestLegacyHelmReleasesAreRelinquished(t *testing.T) {
	const release, chart = "kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"
	next := mesh.Revision("1.32.0")
	tests := []struct {
		name        string
		lastOutputs map[string]string
		want        []string
	}{
		{"revision layout", map[string]string{"istioVersion": "1.31.4", "istioRevision": defaultRevision},
			[]string{"istio-base", "istio-ingressgateway", istiodName}},
		{"revision layout during an upgrade", map[string]string{"istioVersion": "1.31.4", "istioCanaryVersion": "1.32.0", "istioRevision": next},
			[]string{"istio-base", "istio-ingressgateway", istiodName}},
		{"layout before revisions", map[string]string{"istioVersion": "1.31.4"},
			[]string{"istio-base", "istio-ingressgateway"}},
		{"charts already", map[string]string{"istioVersion": "1.31.4", "istioRevision": defaultRevision, mesh.LayoutOutput: mesh.Layout}, nil},
		{"new stack", nil, nil},
		{"Istio not installed by the stack", map[string]string{"istioVersion": ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := deployAfter(t, existingConfig(map[string]string{"ctmd:installIstio": "true"}), tt.lastOutputs)
			if err != nil {
				t.Fatal(err)
			}
			var read []string
			for _, r := range s.Resources {
				if r.Type != release {
					continue
				}
				read = append(read, r.Name)
				namespace := "istio-system"
				if r.Name == mesh.GatewayRelease {
					namespace = "istio-ingress"
				}
				if !r.Read || r.ID != namespace+"/"+r.Name || r.Parent != "ctmd:mesh:Istio::istio" || r.Provider != "pulumi:providers:kubernetes::existing" {
					t.Errorf("release %s: read=%v id=%q parent=%q provider=%q, want a read of %s/%s in the mesh component",
						r.Name, r.Read, r.ID, r.Parent, r.Provider, namespace, r.Name)
				}
				assertDependsOn(t, s.Find(t, chart, r.Name), release+"::"+r.Name)
			}
			slices.Sort(read)
			if !slices.Equal(read, tt.want) {
				t.Errorf("releases read %v, want %v", read, tt.want)
			}
		})
	}
}
