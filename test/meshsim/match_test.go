package meshsim

import (
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
		fold = strings.ToLower
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

// headersMatch requires every matcher to accept the request's headers.
func headersMatch(matchers []*route.HeaderMatcher, headers http.Header) bool {
	for _, h := range matchers {
		values, present := headers[http.CanonicalHeaderKey(h.GetName())]
		ok := false
		switch {
		case h.GetPresentMatch():
			ok = present
		case h.GetStringMatch() != nil:
			ok = present && stringMatches(h.GetStringMatch(), strings.Join(values, ","))
		}
		if ok == h.GetInvertMatch() {
			return false
		}
	}
	return true
}

func stringMatches(m *matcher.StringMatcher, v string) bool {
	if m.GetIgnoreCase() {
		v = strings.ToLower(v)
	}
	fold := func(s string) string {
		if m.GetIgnoreCase() {
			return strings.ToLower(s)
		}
		return s
	}
	switch x := m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		return v == fold(x.Exact)
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(v, fold(x.Prefix))
	case *matcher.StringMatcher_SafeRegex:
		re, err := regexp.Compile("^(?:" + x.SafeRegex.GetRegex() + ")$")
		return err == nil && re.MatchString(v)
	}
	return false
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
