package meshsim

import (
	"slices"
	"testing"
)

// TestCanaryRouteOrderIsChecked moves the canary's header route behind the default route in each
// rendered scenario that has one: Envoy would never take it, and the gateway checks must say so.
func TestCanaryRouteOrderIsChecked(t *testing.T) {
	found := false
	for _, s := range loadScenarios(t) {
		broken := s.clone(t)
		spec := broken.first(t, "VirtualService")["spec"].(map[string]any)
		routes := spec["http"].([]any)
		i := slices.IndexFunc(routes, func(r any) bool {
			return slices.ContainsFunc(r.(map[string]any)["match"].([]any), func(m any) bool {
				return m.(map[string]any)["headers"] != nil
			})
		})
		if i < 0 || len(routes) < 2 {
			continue
		}
		found = true
		t.Run(s.name, func(t *testing.T) {
			spec["http"] = append(slices.Delete(slices.Clone(routes), i, i+1), routes[i])
			if p := checkGateway(t, broken); !p.mention("matches on headers but comes after") {
				t.Errorf("a header route behind the default route went unnoticed: %q", p)
			}
		})
	}
	if !found {
		t.Fatal("no rendered scenario routes on a header: TestRenderMeshResources's canary scenario should")
	}
}
