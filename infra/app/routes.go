package app

// Subsets of the DestinationRule, by the pods' version label.
const (
	stableSubset = "stable"
	canarySubset = "canary"
	// CanaryHeader sent with the value "always" routes a request to the canary at any weight.
	CanaryHeader = "x-ctmd-canary"
)

// httpRoutes builds the VirtualService's routes, the one place that decides where /api traffic
// goes: all of it to the stable subset without a canary; with one, requests carrying the canary
// header first, then the rest split by weight. The prefix match ignores case, as the service's
// own routing does (ASP.NET Core's), which Istio applies to prefix and exact matches:
// https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPMatchRequest
func httpRoutes(canary bool, weight int) []any {
	match := func(headers map[string]any) []any {
		m := map[string]any{"uri": map[string]any{"prefix": "/api"}, "ignoreUriCase": true}
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

// destinationRule names the two tracks; it exists with or without a canary, so starting one
// changes only the routes' weights and adds the canary's own objects.
func destinationRule() map[string]any {
	subset := func(name, version string) map[string]any {
		return map[string]any{"name": name, "labels": map[string]any{"version": version}}
	}
	return map[string]any{
		"host":    Name,
		"subsets": []any{subset(stableSubset, stableVersion), subset(canarySubset, canaryVersion)},
	}
}
