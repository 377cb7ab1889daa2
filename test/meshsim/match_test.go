package meshsim

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	networking "istio.io/api/networking/v1alpha3"
)

// Istio's simulation picks a route by its path alone, case-sensitively. These helpers read the
// rest of an Envoy route match (case_sensitive and header matchers), as Envoy's documentation
// describes them, so a request with or without the canary header lands where Envoy would send it.

// firstRoute is the route Envoy takes for a request: the first whose match accepts it.
func firstRoute(vh *route.VirtualHost, path string, headers http.Header) *route.Route {
	for _, r := range vh.GetRoutes() {
		if pathMatches(r.GetMatch(), path) && headersMatch(r.GetMatch().GetHeaders(), headers) {
			return r
		}
	}
	return nil
}

// pathMatches applies prefix, path_separated_prefix, path and safe_regex; case_sensitive (true
// when unset) applies to all but the regex.
func pathMatches(m *route.RouteMatch, path string) bool {
	fold := func(s string) string { return s }
	if cs := m.GetCaseSensitive(); cs != nil && !cs.GetValue() {
		fold = asciiLower
	}
	p := fold(path)
	switch x := m.GetPathSpecifier().(type) {
	case *route.RouteMatch_Prefix:
		return strings.HasPrefix(p, fold(x.Prefix))
	case *route.RouteMatch_PathSeparatedPrefix:
		prefix := fold(x.PathSeparatedPrefix)
		return p == prefix || strings.HasPrefix(p, prefix+"/")
	case *route.RouteMatch_Path:
		return p == fold(x.Path)
	case *route.RouteMatch_SafeRegex:
		re, err := regexp.Compile("^(?:" + x.SafeRegex.GetRegex() + ")$")
		return err == nil && re.MatchString(path)
	}
	return false
}

// headersMatch requires every matcher to accept the request's headers; a matcher of a kind
// headerMatches does not read accepts nothing, so the route checks report that route as not taken.
func headersMatch(matchers []*route.HeaderMatcher, headers http.Header) bool {
	for _, h := range matchers {
		if ok, err := headerMatches(h, headers); err != nil || !ok {
			return false
		}
	}
	return true
}

// headerMatches applies one Envoy HeaderMatcher (shared by routes and RBAC) to a request's
// headers, the values of one name joined with commas as Envoy joins them. A header the request
// lacks matches nothing, inverted or not, unless treat_missing_header_as_empty; present_match
// tests presence itself
// (https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-headermatcher).
// Kinds Istio does not generate are an error, never a guess.
func headerMatches(h *route.HeaderMatcher, headers http.Header) (bool, error) {
	values, present := headers[http.CanonicalHeaderKey(h.GetName())]
	if pm, ok := h.GetHeaderMatchSpecifier().(*route.HeaderMatcher_PresentMatch); ok {
		return (present == pm.PresentMatch) != h.GetInvertMatch(), nil
	}
	if !present {
		if !h.GetTreatMissingHeaderAsEmpty() {
			return false, nil
		}
		values = []string{""}
	}
	sm, ok := h.GetHeaderMatchSpecifier().(*route.HeaderMatcher_StringMatch)
	if !ok {
		return false, fmt.Errorf("header matcher %T on %s is not interpreted", h.GetHeaderMatchSpecifier(), h.GetName())
	}
	match, err := stringMatches(sm.StringMatch, strings.Join(values, ","))
	return match != h.GetInvertMatch(), err
}

// stringMatches applies an Envoy StringMatcher: ignore_case folds ASCII letters for exact,
// prefix, suffix and contains, and has no effect on safe_regex, which must match the whole value
// (https://www.envoyproxy.io/docs/envoy/latest/api-v3/type/matcher/v3/string.proto).
func stringMatches(m *matcher.StringMatcher, v string) (bool, error) {
	fold := func(s string) string { return s }
	if m.GetIgnoreCase() {
		fold = asciiLower
	}
	switch x := m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		return fold(v) == fold(x.Exact), nil
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(fold(v), fold(x.Prefix)), nil
	case *matcher.StringMatcher_Suffix:
		return strings.HasSuffix(fold(v), fold(x.Suffix)), nil
	case *matcher.StringMatcher_Contains:
		return strings.Contains(fold(v), fold(x.Contains)), nil
	case *matcher.StringMatcher_SafeRegex:
		re, err := regexp.Compile("^(?:" + x.SafeRegex.GetRegex() + ")$")
		if err != nil {
			return false, err
		}
		return re.MatchString(v), nil
	}
	return false, fmt.Errorf("string matcher %T is not interpreted", m.GetMatchPattern())
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// sameStringMatch says whether Istio carried a VirtualService header match into Envoy unchanged.
func sameStringMatch(sm *networking.StringMatch, h *route.HeaderMatcher) bool {
	m := h.GetStringMatch()
	switch x := sm.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		return m.GetExact() == x.Exact
	case *networking.StringMatch_Prefix:
		return m.GetPrefix() == x.Prefix
	case *networking.StringMatch_Regex:
		return m.GetSafeRegex().GetRegex() == x.Regex
	}
	return false
}

// requestFor builds headers a request needs to satisfy a route's exact header matchers.
func requestFor(r *route.Route) http.Header {
	h := http.Header{}
	for _, m := range r.GetMatch().GetHeaders() {
		if exact := m.GetStringMatch().GetExact(); exact != "" && !m.GetInvertMatch() {
			h.Set(m.GetName(), exact)
		}
	}
	return h
}
