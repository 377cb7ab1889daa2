package meshsim

import (
	"testing"
)

// withCanary reshapes a copy of the rendered routing the way a canary release does (a
// DestinationRule with stable and canary subsets, a header route to the canary and a weighted,
// case-insensitive default route), so the header, weight and case checks run before the program
// renders canaries itself; headerFirst=false puts the header route where Envoy never reaches it.
func withCanary(t *testing.T, s scenario, headerFirst bool) scenario {
	t.Helper()
	c := s.clone(t)
	vs := c.first(t, "VirtualService")
	ns := vs["metadata"].(map[string]any)["namespace"]
	dest := func(subset string) map[string]any {
		return map[string]any{"host": marketdata, "subset": subset, "port": map[string]any{"number": 80}}
	}
	header := map[string]any{
		"match": []any{map[string]any{"uri": map[string]any{"prefix": "/api"},
			"headers": map[string]any{"x-ctmd-canary": map[string]any{"exact": "always"}}}},
		"route": []any{map[string]any{"destination": dest("canary")}},
	}
	weighted := map[string]any{
		"match": []any{map[string]any{"uri": map[string]any{"prefix": "/api"}, "ignoreUriCase": true}},
		"route": []any{
			map[string]any{"destination": dest(stableSubset), "weight": 90},
			map[string]any{"destination": dest("canary"), "weight": 10},
		},
	}
	routes := []any{header, weighted}
	if !headerFirst {
		routes = []any{weighted, header}
	}
	vs["spec"].(map[string]any)["http"] = routes
	c.istio = append(c.istio, map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
		"metadata": map[string]any{"name": marketdata, "namespace": ns},
		"spec": map[string]any{"host": marketdata, "subsets": []any{
			map[string]any{"name": stableSubset, "labels": map[string]any{"track": stableSubset}},
			map[string]any{"name": "canary", "labels": map[string]any{"track": "canary"}},
		}},
	})
	return c
}

func TestCanaryShapeIsChecked(t *testing.T) {
	s := loadScenarios(t)[0]
	canary := withCanary(t, s, true)
	if got := canary.marketdataCluster(t); got != "outbound|80|stable|marketdata.ctmd.svc.cluster.local" {
		t.Errorf("with a stable subset the API must go to it, checks expect %s", got)
	}
	checkGateway(t, canary).report(t)

	if p := checkGateway(t, withCanary(t, s, false)); !p.mention("matches on headers but comes after") {
		t.Errorf("a canary header route behind the default route went unnoticed: %q", p)
	}
}
