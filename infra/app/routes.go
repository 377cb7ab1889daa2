package app

// Subsets of the DestinationRule, by the pods' version label.
const (
	stableSubset = "stable"
	canarySubset = "canary"
	// CanaryHeader sent with the value "always" routes a request to the canary at any weight.
	CanaryHeader = "x-ctmd-canary"
	// apiPrefix is where the API lives: what the gateway routes and the AuthorizationPolicy admits.
	apiPrefix = "/api"
)

// httpRoutes builds the VirtualService's routes, the one place that decides where /api traffic
// goes: all of it to the stable subset without a canary; with one, requests carrying the canary
// header first, then the rest split by weight. The prefix match ignores case, as the service's
// own routing does (ASP.NET Core's), which Istio applies to prefix and exact matches:
// https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPMatchRequest
func httpRoutes(canary bool, weight int) []any {
	match := func(headers map[string]any) []any {
		m := map[string]any{"uri": map[string]any{"prefix": apiPrefix}, "ignoreUriCase": true}
		if headers != nil {
			m["headers"] = headers
		}
		return []any{m}
	}
	to := func(subset string, weight int) map[string]any {
		return map[string]any{
			"destination": map[string]any{"host": Name, "subset": subset, "port": map[string]any{"number": 80}},
			"weight":      weight,
		}
	}
	if !canary {
		return []any{map[string]any{"name": "api", "match": match(nil), "route": []any{to(stableSubset, 100)}}}
	}
	return []any{
		map[string]any{
			"name":  "canary-by-header",
			"match": match(map[string]any{CanaryHeader: map[string]any{"exact": "always"}}),
			"route": []any{to(canarySubset, 100)},
		},
		map[string]any{
			"name":  "api",
			"match": match(nil),
			"route": []any{to(stableSubset, 100-weight), to(canarySubset, weight)},
		},
	}
}

// destinationRule gives one track its subset. The stable track's rule always exists; the
// canary's comes and goes with the canary's other objects, as a rule of its own for the same
// host, which Istio merges into the stable one (subsets are concatenated:
// pilot/pkg/model/destination_rule.go, mergeDestinationRule; "Split large virtual services and
// destination rules into multiple resources" in
// https://istio.io/latest/docs/ops/best-practices/traffic-management/). A subset that selects no
// pods is an error to istioctl analyze (IST0173), and as an object of its own the canary subset
// is created before the routes that name it and deleted only after they stop naming it.
func destinationRule(subset, version string) map[string]any {
	return map[string]any{
		"host":    Name,
		"subsets": []any{map[string]any{"name": subset, "labels": map[string]any{"version": version}}},
	}
}
