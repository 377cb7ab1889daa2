package meshsim

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xdstest"
)

// TestHTTPSEdge: where the Gateway serves a domain over HTTPS (TestGateway checks that the API's
// requests there, with the domain as SNI, reach marketdata's stable subset, and the canary by
// header), plain HTTP for the domain is redirected to https, and a TLS client asking for another
// name (SNI) finds no server, so the gateway never presents the domain's certificate to it.
func TestHTTPSEdge(t *testing.T) {
	found := false
	for _, s := range loadScenarios(t) {
		if s.gatewayServer(t, "HTTPS") == nil {
			continue
		}
		found = true
		t.Run(s.name, func(t *testing.T) { checkEdge(t, s).report(t) })
	}
	if !found {
		t.Fatal("no rendered scenario serves HTTPS: TestRenderMeshResources's https scenario should")
	}
}

func checkEdge(t *testing.T, s scenario) problems {
	t.Helper()
	var p problems
	sim := s.simulate(t, s.gatewayProxy())
	https := s.gatewayEntry(t)
	plain := s.gatewayServer(t, "HTTP")
	if plain == nil {
		p.add("the Gateway serves HTTPS but has no HTTP server to redirect plain requests")
		return p
	}
	for _, path := range slices.Concat(apiPaths, privatePaths) {
		call := simulation.Call{Port: int(plain.GetPort().GetNumber()), Path: path, Protocol: simulation.HTTP,
			HostHeader: https.host, CallMode: simulation.CallModeGateway}
		if res := sim.Run(call); !errors.Is(res.Error, simulation.ErrTLSRedirect) {
			p.add("plain GET http://%s%s: cluster %q, error %v; want the redirect to https", https.host, path, res.ClusterMatched, res.Error)
		}
	}
	// HSTS on every HTTPS answer of the API (infra/app, virtualService): the header the route adds.
	routeConfigs := xdstest.ExtractRouteConfigurations(sim.Routes)
	for _, path := range apiPaths {
		res := sim.Run(https.call(path))
		if res.Error != nil {
			continue // checkGateway reports a request that goes nowhere
		}
		r := firstRoute(virtualHost(routeConfigs[res.RouteConfigMatched], res.VirtualHostMatched), path, http.Header{})
		if got := responseHeader(r, "Strict-Transport-Security"); got != hsts {
			p.add("GET https://%s%s: the answer's Strict-Transport-Security is %q, want %q", https.host, path, got, hsts)
		}
	}
	for _, sni := range []string{"other.example.com", "ctmd.example.com"} {
		call := https.call(apiPaths[0])
		call.HostHeader, call.Sni = sni, sni
		res := sim.Run(call)
		if !errors.Is(res.Error, simulation.ErrNoFilterChain) && !errors.Is(res.Error, simulation.ErrNoListener) {
			p.add("TLS with SNI %q at port %d: filter chain %q, cluster %q, error %v; want no server for that name",
				sni, https.port, res.FilterChainMatched, res.ClusterMatched, res.Error)
		}
	}
	return p
}

// hsts is what the gateway must add to each HTTPS answer of the API.
const hsts = "max-age=31536000; includeSubDomains"

// responseHeader is the value an Envoy route sets on its answers for a header, "" for none.
func responseHeader(r *route.Route, name string) string {
	for _, h := range r.GetResponseHeadersToAdd() {
		if strings.EqualFold(h.GetHeader().GetKey(), name) {
			return h.GetHeader().GetValue()
		}
	}
	return ""
}

// TestBrokenEdgeFails breaks the HTTPS edge in copies of each HTTPS scenario and expects the
// checks to say so: proof that they look at what they claim to.
func TestBrokenEdgeFails(t *testing.T) {
	servers := func(t *testing.T, s scenario) []any {
		return s.first(t, "Gateway")["spec"].(map[string]any)["servers"].([]any)
	}
	server := func(t *testing.T, s scenario, protocol string) map[string]any {
		for _, srv := range servers(t, s) {
			if srv.(map[string]any)["port"].(map[string]any)["protocol"] == protocol {
				return srv.(map[string]any)
			}
		}
		t.Fatalf("no %s server", protocol)
		return nil
	}
	cases := []brokenCopy{{
		name:    "HTTPS server for any name",
		breakIt: func(t *testing.T, s scenario) { server(t, s, "HTTPS")["hosts"] = []any{"*"} },
		check:   checkEdge, mention: "want no server for that name",
	}, {
		name:    "HTTP server without the redirect",
		breakIt: func(t *testing.T, s scenario) { delete(server(t, s, "HTTP"), "tls") },
		check:   checkEdge, mention: "want the redirect to https",
	}, {
		name: "VirtualService bound to another name",
		breakIt: func(t *testing.T, s scenario) {
			s.first(t, "VirtualService")["spec"].(map[string]any)["hosts"] = []any{"www.example.com"}
		},
		check: checkGateway, mention: "GET /api/v1/currencies at the gateway",
	}, {
		name: "answers without HSTS",
		breakIt: func(t *testing.T, s scenario) {
			for _, r := range s.first(t, "VirtualService")["spec"].(map[string]any)["http"].([]any) {
				delete(r.(map[string]any), "headers")
			}
		},
		check: checkEdge, mention: "Strict-Transport-Security",
	}, {
		name: "HTTPS server dropped",
		breakIt: func(t *testing.T, s scenario) {
			spec := s.first(t, "Gateway")["spec"].(map[string]any)
			spec["servers"] = slices.DeleteFunc(servers(t, s), func(srv any) bool {
				return srv.(map[string]any)["port"].(map[string]any)["protocol"] == "HTTPS"
			})
		},
		// The entry falls back to the HTTP server, which serves the domain only to redirect it.
		check: checkGateway, mention: "GET /api/v1/currencies at the gateway:",
	}}
	found := false
	for _, s := range loadScenarios(t) {
		if s.gatewayServer(t, "HTTPS") == nil {
			continue
		}
		found = true
		checkBrokenCopies(t, s, cases)
	}
	if !found {
		t.Fatal("no rendered scenario serves HTTPS")
	}
}
