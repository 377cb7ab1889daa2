package meshsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xdstest"
)

// defaultTrustDomain is the trust domain of workload identities when the mesh config names none.
const defaultTrustDomain = "cluster.local"

var (
	// The API's paths as clients may spell them: the gateway's routes and the service ignore case.
	mixedCasePaths = []string{"/API/v1/currencies", "/Api/V1/Currencies/BTC", "/aPI/SystemInfo"}
	// Methods the API does not serve.
	writeMethods = []string{http.MethodPost, http.MethodPut, http.MethodDelete}
)

// TestSidecarAuthorization sends requests into marketdata's sidecar as istiod configures it from
// the rendered AuthorizationPolicy: the gateway and the configured callers may read the API
// however its path is spelled, and nothing else; anyone else may do nothing.
func TestSidecarAuthorization(t *testing.T) {
	callers := false
	for _, s := range loadScenarios(t) {
		callers = callers || len(s.proxies.Callers) > 0
		t.Run(s.name, func(t *testing.T) { checkAuthorization(t, s).report(t) })
	}
	if !callers {
		t.Fatal("no rendered scenario has in-mesh callers: TestRenderMeshResources's atlas scenario should")
	}
}

func checkAuthorization(t *testing.T, s scenario) problems {
	t.Helper()
	var p problems
	sim := s.simulate(t, s.appProxy(t))
	port := s.appPort(t)
	expect := func(who, principal, method, path string, want bool) {
		r := request{principal: principal, method: method, path: path, port: port}
		admitted, err := sidecarAdmits(t, sim, r)
		switch {
		case err != nil:
			p.add("%s %s from %s (%s): %v", method, path, who, principal, err)
		case admitted != want:
			p.add("%s %s from %s: %s by marketdata's sidecar, want %s (principal %s)", method, path, who, verdict(admitted), verdict(want), principal)
		}
	}
	reader := func(who, principal string) {
		for _, path := range slices.Concat(apiPaths, mixedCasePaths) {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				expect(who, principal, method, path, true)
			}
		}
		for _, method := range writeMethods {
			for _, path := range []string{apiPaths[0], mixedCasePaths[0]} {
				expect(who, principal, method, path, false)
			}
		}
		// Outside the API, however a route got the request here.
		for _, path := range privatePaths {
			expect(who, principal, http.MethodGet, path, false)
			expect(who, principal, http.MethodGet, strings.ToUpper(path), false)
		}
	}
	reader("the gateway", s.gatewayPrincipal())
	for _, caller := range s.proxies.Callers {
		reader("caller", caller)
	}
	stranger := s.principal(s.appWorkload(t).Namespace, "default")
	for _, path := range []string{apiPaths[0], mixedCasePaths[0]} {
		expect("an unknown identity", stranger, http.MethodGet, path, false)
	}
	return p
}

func verdict(admitted bool) string {
	if admitted {
		return "admitted"
	}
	return "refused"
}

// sidecarAdmits sends a request to the app's port through the inbound listener istiod generated
// for marketdata's sidecar, on the filter chain Istio's simulation picks for an mTLS HTTP
// connection, and runs it through that chain's RBAC filters.
func sidecarAdmits(t *testing.T, sim *simulation.Simulation, r request) (bool, error) {
	t.Helper()
	var chain *listener.FilterChain
	res := sim.Run(simulation.Call{
		Port: int(r.port), Path: r.path, Protocol: simulation.HTTP, TLS: simulation.MTLS, CallMode: simulation.CallModeInbound,
		CustomListenerValidations: []simulation.CustomFilterChainValidation{func(fc *listener.FilterChain) error {
			chain = fc
			return nil
		}},
	})
	if res.Error != nil {
		return false, fmt.Errorf("inbound call: %w (listener %q, filter chain %q)", res.Error, res.ListenerMatched, res.FilterChainMatched)
	}
	if want := fmt.Sprintf("inbound|%d||", r.port); res.ClusterMatched != want {
		return false, fmt.Errorf("filter chain %q sends to %q, want %s", res.FilterChainMatched, res.ClusterMatched, want)
	}
	manager := xdstest.ExtractHTTPConnectionManager(t, chain)
	for _, vh := range manager.GetRouteConfig().GetVirtualHosts() {
		for _, rt := range vh.GetRoutes() {
			if rt.GetTypedPerFilterConfig()[rbacFilter] != nil || vh.GetTypedPerFilterConfig()[rbacFilter] != nil {
				return false, fmt.Errorf("route %q overrides the RBAC filter, which is not interpreted", rt.GetName())
			}
		}
	}
	admitted, enforcing, err := rbacAdmits(manager.GetHttpFilters(), r)
	if err == nil && enforcing == 0 {
		err = fmt.Errorf("filter chain %q has no RBAC filter: every identity is admitted", res.FilterChainMatched)
	}
	return admitted, err
}

// gatewayPrincipal is the identity the gateway's pods run as: the gateway chart names their
// service account after the release (manifests/charts/gateway/templates/_helpers.tpl,
// gateway.serviceAccountName).
func (s scenario) gatewayPrincipal() string {
	return s.principal(s.proxies.Gateway.Namespace, s.proxies.Gateway.Name)
}

// principal is a service account's identity in the mesh's trust domain.
func (s scenario) principal(namespace, serviceAccount string) string {
	domain, _ := s.proxies.MeshConfig["trustDomain"].(string)
	if domain == "" {
		domain = defaultTrustDomain
	}
	return fmt.Sprintf("%s/ns/%s/sa/%s", domain, namespace, serviceAccount)
}

// appPort is the port marketdata's pods listen on: the target of the Service's http port.
func (s scenario) appPort(t *testing.T) uint32 {
	t.Helper()
	for _, port := range s.mustService(t, marketdata)["spec"].(map[string]any)["ports"].([]any) {
		port := port.(map[string]any)
		if n, ok := port["targetPort"].(float64); ok && port["name"] == "http" {
			return uint32(n)
		}
	}
	t.Fatalf("scenario %s: the %s Service has no numeric targetPort on its http port", s.name, marketdata)
	return 0
}
