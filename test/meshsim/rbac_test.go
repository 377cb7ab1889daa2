package meshsim

import (
	"fmt"
	"net/http"
	"strings"

	rbac "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// Neither the pinned Istio nor its dependencies hold an evaluator of Envoy's RBAC config that a
// test can call: grpc-go's engine (google.golang.org/grpc/internal/xds/rbac) is internal to grpc
// and evaluates every request as a gRPC POST, and no Envoy binary can be installed here. So this
// file reads the RBAC filters istiod generated as Envoy's RBAC filter documents them
// (https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/rbac/v3/rbac.proto), walking the
// whole permission and principal trees (and, or, not, any, header, url_path, destination_port,
// authenticated and filter_state principals). Anything else in them is an error, never a guess,
// so a change in what istiod generates fails the check instead of passing it unread.

// request is what an inbound RBAC filter sees of one HTTP request on an mTLS connection.
type request struct {
	// principal is the peer's identity as policies name it (<trust-domain>/ns/<ns>/sa/<sa>); its
	// certificate carries it as the URI SAN spiffe://<principal>.
	principal string
	method    string
	// path as the client sent it; url_path matchers see it without the query.
	path string
	port uint32
}

// peerPrincipalKey is the filter state Istio's sidecar fills with the peer's SPIFFE identity,
// which its RBAC principals match when they do not read the certificate directly
// (pilot/pkg/security/authz/model/principal.go, principalAuthenticated).
const peerPrincipalKey = "io.istio.peer_principal"

// rbacFilter is the name Envoy (and Istio) give the HTTP RBAC filter.
const rbacFilter = "envoy.filters.http.rbac"

func (r request) spiffeID() string { return "spiffe://" + r.principal }

func (r request) headers() http.Header {
	return http.Header{":method": {r.method}, ":path": {r.path}}
}

func (r request) urlPath() string {
	path, _, _ := strings.Cut(r.path, "?")
	return path
}

// rbacAdmits runs a request through the HTTP filters of a connection manager in order, as Envoy
// does: the first RBAC filter whose enforced rules refuse it decides. Shadow rules only count
// stats and are skipped. It also returns how many RBAC filters enforce rules, so a caller can
// tell "admitted" from "nothing checked".
func rbacAdmits(filters []*hcm.HttpFilter, r request) (admitted bool, enforcing int, err error) {
	for _, f := range filters {
		if !f.GetTypedConfig().MessageIs(&rbachttp.RBAC{}) {
			if f.GetName() == rbacFilter {
				return false, enforcing, fmt.Errorf("RBAC filter %s has no inline RBAC config, which is not interpreted", f.GetName())
			}
			continue
		}
		if f.GetDisabled() {
			return false, enforcing, fmt.Errorf("RBAC filter %s is disabled unless a route enables it: per-route config is not interpreted", f.GetName())
		}
		cfg := &rbachttp.RBAC{}
		if err := f.GetTypedConfig().UnmarshalTo(cfg); err != nil {
			return false, enforcing, err
		}
		if cfg.GetMatcher() != nil {
			return false, enforcing, fmt.Errorf("RBAC filter %s uses the matcher API, which is not interpreted", f.GetName())
		}
		rules := cfg.GetRules()
		if rules == nil {
			continue // "If absent, no enforcing RBAC policy will be applied."
		}
		enforcing++
		matched, err := anyPolicyMatches(rules, r)
		if err != nil {
			return false, enforcing, fmt.Errorf("RBAC filter %s: %w", f.GetName(), err)
		}
		switch rules.GetAction() {
		case rbac.RBAC_ALLOW:
			if !matched {
				return false, enforcing, nil
			}
		case rbac.RBAC_DENY:
			if matched {
				return false, enforcing, nil
			}
		case rbac.RBAC_LOG:
		default:
			return false, enforcing, fmt.Errorf("RBAC filter %s: action %v is not interpreted", f.GetName(), rules.GetAction())
		}
	}
	return true, enforcing, nil
}

// anyPolicyMatches: a policy matches when one of its permissions and one of its principals do.
func anyPolicyMatches(rules *rbac.RBAC, r request) (bool, error) {
	for name, p := range rules.GetPolicies() {
		if p.GetCondition() != nil || p.GetCheckedCondition() != nil {
			return false, fmt.Errorf("policy %s has a CEL condition, which is not interpreted", name)
		}
		permitted, err := anyOf(p.GetPermissions(), r, permissionMatches)
		if err != nil {
			return false, fmt.Errorf("policy %s: %w", name, err)
		}
		identified, err := anyOf(p.GetPrincipals(), r, principalMatches)
		if err != nil {
			return false, fmt.Errorf("policy %s: %w", name, err)
		}
		if permitted && identified {
			return true, nil
		}
	}
	return false, nil
}

func anyOf[T any](items []T, r request, match func(T, request) (bool, error)) (bool, error) {
	for _, item := range items {
		if ok, err := match(item, r); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func allOf[T any](items []T, r request, match func(T, request) (bool, error)) (bool, error) {
	for _, item := range items {
		if ok, err := match(item, r); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func permissionMatches(p *rbac.Permission, r request) (bool, error) {
	switch rule := p.GetRule().(type) {
	case *rbac.Permission_Any:
		return rule.Any, nil
	case *rbac.Permission_AndRules:
		return allOf(rule.AndRules.GetRules(), r, permissionMatches)
	case *rbac.Permission_OrRules:
		return anyOf(rule.OrRules.GetRules(), r, permissionMatches)
	case *rbac.Permission_NotRule:
		ok, err := permissionMatches(rule.NotRule, r)
		return !ok, err
	case *rbac.Permission_Header:
		return headerMatches(rule.Header, r.headers())
	case *rbac.Permission_UrlPath:
		return pathMatcherMatches(rule.UrlPath, r.urlPath())
	case *rbac.Permission_DestinationPort:
		return rule.DestinationPort == r.port, nil
	}
	return false, fmt.Errorf("permission %T is not interpreted", p.GetRule())
}

func principalMatches(p *rbac.Principal, r request) (bool, error) {
	switch id := p.GetIdentifier().(type) {
	case *rbac.Principal_Any:
		return id.Any, nil
	case *rbac.Principal_AndIds:
		return allOf(id.AndIds.GetIds(), r, principalMatches)
	case *rbac.Principal_OrIds:
		return anyOf(id.OrIds.GetIds(), r, principalMatches)
	case *rbac.Principal_NotId:
		ok, err := principalMatches(id.NotId, r)
		return !ok, err
	case *rbac.Principal_Authenticated_:
		// Unset, it admits any authenticated peer; set, it is matched against the URI SAN.
		if id.Authenticated.GetPrincipalName() == nil {
			return true, nil
		}
		return stringMatches(id.Authenticated.GetPrincipalName(), r.spiffeID())
	case *rbac.Principal_FilterState:
		sm, ok := id.FilterState.GetMatcher().(*matcher.FilterStateMatcher_StringMatch)
		if id.FilterState.GetKey() != peerPrincipalKey || !ok {
			return false, fmt.Errorf("filter state matcher on %q (%T) is not interpreted", id.FilterState.GetKey(), id.FilterState.GetMatcher())
		}
		return stringMatches(sm.StringMatch, r.spiffeID())
	case *rbac.Principal_Header:
		return headerMatches(id.Header, r.headers())
	case *rbac.Principal_UrlPath:
		return pathMatcherMatches(id.UrlPath, r.urlPath())
	}
	return false, fmt.Errorf("principal %T is not interpreted", p.GetIdentifier())
}

func pathMatcherMatches(m *matcher.PathMatcher, path string) (bool, error) {
	sm := m.GetPath()
	if sm == nil {
		return false, fmt.Errorf("path matcher %T is not interpreted", m.GetRule())
	}
	return stringMatches(sm, path)
}
