package meshsim

import (
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbac "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"istio.io/istio/pilot/pkg/util/protoconv"
)

// TestRBACInterpreter pins the Envoy semantics rbacAdmits implements on shapes istiod does not
// generate for ctmd today, and that it refuses to guess at one it does not read.
func TestRBACInterpreter(t *testing.T) {
	path := func(m *matcher.StringMatcher) *rbac.Permission {
		return &rbac.Permission{Rule: &rbac.Permission_UrlPath{UrlPath: &matcher.PathMatcher{Rule: &matcher.PathMatcher_Path{Path: m}}}}
	}
	anyone := &rbac.Principal{Identifier: &rbac.Principal_Any{Any: true}}
	filter := func(action rbac.RBAC_Action, permission *rbac.Permission) []*hcm.HttpFilter {
		cfg := protoconv.MessageToAny(&rbachttp.RBAC{Rules: &rbac.RBAC{Action: action, Policies: map[string]*rbac.Policy{
			"p": {Permissions: []*rbac.Permission{permission}, Principals: []*rbac.Principal{anyone}},
		}}})
		return []*hcm.HttpFilter{{Name: rbacFilter, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: cfg}}}
	}
	apiPrefix := &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: "/api/"}, IgnoreCase: true}
	r := request{principal: "cluster.local/ns/a/sa/b", method: "GET", path: "/API/v1/currencies?x=1", port: 8080}
	for _, c := range []struct {
		name    string
		filters []*hcm.HttpFilter
		want    bool
		wantErr bool
	}{
		{"allow, ignore_case prefix, query stripped", filter(rbac.RBAC_ALLOW, path(apiPrefix)), true, false},
		{"allow, nothing matches", filter(rbac.RBAC_ALLOW, &rbac.Permission{Rule: &rbac.Permission_NotRule{NotRule: path(apiPrefix)}}), false, false},
		{"deny, matches", filter(rbac.RBAC_DENY, path(apiPrefix)), false, false},
		{"log only", filter(rbac.RBAC_LOG, path(apiPrefix)), true, false},
		{"unread permission", filter(rbac.RBAC_ALLOW, &rbac.Permission{Rule: &rbac.Permission_DestinationIp{DestinationIp: &core.CidrRange{AddressPrefix: "10.0.0.0"}}}), false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, enforcing, err := rbacAdmits(c.filters, r)
			if (err != nil) != c.wantErr || got != c.want || enforcing != 1 {
				t.Errorf("admitted %v, %d enforcing, error %v; want admitted %v, 1 enforcing, error %v", got, enforcing, err, c.want, c.wantErr)
			}
		})
	}
}
