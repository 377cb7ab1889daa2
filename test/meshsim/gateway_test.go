package meshsim

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xdstest"
	"istio.io/istio/pkg/config/schema/gvk"
)

const (
	marketdata = "marketdata"
	// stableSubset is where requests without the canary header go once a DestinationRule splits
	// marketdata into subsets.
	stableSubset = "stable"
	// The rollout engine's two Services (infra/app/rollout.go): its api route splits between them
	// and its header route goes to the canary's, so with the engine, marketdata's own Service is
	// only the in-mesh callers'.
	stableService = marketdata + "-stable"
	canaryService = marketdata + "-canary"
)

var (
	// What the API serves, and what the gateway must send to marketdata.
	apiPaths = []string{"/api/v1/currencies", "/api/v1/currencies/BTC", "/api/systeminfo"}
	// Paths the app answers inside the mesh that must not be reachable from outside.
	privatePaths = []string{"/", "/healthz", "/readyz", "/metrics"}
)

func TestGateway(t *testing.T) {
	for _, s := range loadScenarios(t) {
		t.Run(s.name, func(t *testing.T) { checkGateway(t, s).report(t) })
	}
}

// checkGateway sends the API's requests through the ingress gateway's generated listeners and
// routes, and compares the generated routes with what the VirtualServices declare.
func checkGateway(t *testing.T, s scenario) problems {
	t.Helper()
	var p problems
	sim := s.simulate(t, s.gatewayProxy())
	clusters := xdstest.ExtractClusters(sim.Clusters)
	routeConfigs := xdstest.ExtractRouteConfigurations(sim.Routes)
	want := s.plainClusters(t)
	call := s.gatewayEntry(t).call

	for _, path := range apiPaths {
		r, err := plainRoute(sim, routeConfigs, call(path))
		if err != nil {
			p.add("%v", err)
			continue
		}
		if got := routeClusters(r); !reachesAny(got, want) {
			p.add("GET %s at the gateway goes to %v, want %s among them", path, got, strings.Join(want, " or "))
		}
	}
	for _, path := range privatePaths {
		if res := sim.Run(call(path)); !errors.Is(res.Error, simulation.ErrNoRoute) {
			p.add("GET %s at the gateway: got cluster %q, error %v; want no route", path, res.ClusterMatched, res.Error)
		}
	}

	res := sim.Run(call(apiPaths[0]))
	if res.Error == nil {
		vh := virtualHost(routeConfigs[res.RouteConfigMatched], res.VirtualHostMatched)
		p = append(p, compareRoutes(s.gatewayRoutes(t), vh)...)
		p = append(p, headerRoutesFirst(vh)...)
		for i, r := range vh.GetRoutes() {
			// A request carrying a route's headers (the canary's) must take that route.
			if len(r.GetMatch().GetHeaders()) > 0 && firstRoute(vh, apiPaths[0], requestFor(r)) != r {
				p.add("GET %s with headers %v does not take route %d (%q), which asks for them", apiPaths[0], requestFor(r), i+1, r.GetName())
			}
			// A case-insensitive route must let an upper-case API path through to marketdata.
			if cs := r.GetMatch().GetCaseSensitive(); cs != nil && !cs.GetValue() && len(r.GetMatch().GetHeaders()) == 0 {
				upper := strings.ToUpper(apiPaths[0])
				if got := firstRoute(vh, upper, http.Header{}); got == nil || !reachesAny(routeClusters(got), want) {
					p.add("GET %s at the gateway does not reach %s though route %d ignores case", upper, strings.Join(want, " or "), i+1)
				}
			}
			for _, c := range routeClusters(r) {
				if clusters[c] == nil {
					p.add("route %q sends to cluster %s, which the gateway does not have (a wrong host, port or subset?)", r.GetName(), c)
				}
			}
		}
	}
	return p
}

// plainRoute is the gateway route a GET without headers takes. The simulation matches paths
// only, so the route is picked among those of the virtual host it matched.
func plainRoute(sim *simulation.Simulation, routeConfigs map[string]*route.RouteConfiguration, call simulation.Call) (*route.Route, error) {
	res := sim.Run(call)
	if res.Error != nil {
		return nil, fmt.Errorf("GET %s at the gateway: %w (listener %q)", call.Path, res.Error, res.ListenerMatched)
	}
	vh := virtualHost(routeConfigs[res.RouteConfigMatched], res.VirtualHostMatched)
	r := firstRoute(vh, call.Path, http.Header{})
	if r == nil {
		return nil, fmt.Errorf("GET %s at the gateway: no route for a request without headers in %s", call.Path, res.VirtualHostMatched)
	}
	return r, nil
}

// plainClusters are the Envoy clusters where requests without the canary header belong, and the
// gateway must send them to one at least: with the rollout engine, its stable and canary Services,
// as the weights of the step decide (before promoting, the engine may give the canary all of it);
// else marketdata's, in its stable subset when a DestinationRule declares one.
func (s scenario) plainClusters(t *testing.T) []string {
	t.Helper()
	if s.service(stableService) != nil {
		return []string{s.serviceCluster(t, stableService, ""), s.serviceCluster(t, canaryService, "")}
	}
	return []string{s.serviceCluster(t, marketdata, stableSubset)}
}

func reachesAny(clusters, want []string) bool {
	return slices.ContainsFunc(clusters, func(c string) bool { return slices.Contains(want, c) })
}

// serviceCluster is the Envoy cluster of a rendered Service's http port, in subset if a
// DestinationRule of that host declares it.
func (s scenario) serviceCluster(t *testing.T, name, subset string) string {
	t.Helper()
	svc := s.mustService(t, name)
	var port any
	for _, p := range svc["spec"].(map[string]any)["ports"].([]any) {
		if p.(map[string]any)["name"] == "http" {
			port = p.(map[string]any)["port"]
		}
	}
	fqdn := qualify(name, svc["metadata"].(map[string]any)["namespace"].(string))
	declared := ""
	for _, cfg := range s.configs(t) {
		if cfg.GroupVersionKind != gvk.DestinationRule {
			continue
		}
		dr := cfg.Spec.(*networking.DestinationRule)
		if qualify(dr.GetHost(), cfg.Namespace) != fqdn {
			continue
		}
		for _, ss := range dr.GetSubsets() {
			if ss.GetName() == subset {
				declared = subset
			}
		}
	}
	return fmt.Sprintf("outbound|%v|%s|%s", port, declared, fqdn)
}

func (s scenario) mustService(t *testing.T, name string) map[string]any {
	t.Helper()
	svc := s.service(name)
	if svc == nil {
		t.Fatalf("scenario %s renders no %s Service", s.name, name)
	}
	return svc
}

// service is the rendered Service of that name, nil if there is none.
func (s scenario) service(name string) map[string]any {
	for _, doc := range s.kube {
		if doc["kind"] == "Service" && doc["metadata"].(map[string]any)["name"] == name {
			return doc
		}
	}
	return nil
}

// entry is how a client reaches the API at the gateway: plain HTTP on the HTTP server for any
// host, or, when the Gateway serves HTTPS, TLS to the HTTPS server with the domain as SNI and Host.
type entry struct {
	port int
	tls  simulation.TLSMode
	host string
}

func (e entry) call(path string) simulation.Call {
	return simulation.Call{Port: e.port, Path: path, Protocol: simulation.HTTP, TLS: e.tls, HostHeader: e.host, CallMode: simulation.CallModeGateway}
}

// gatewayEntry is the rendered Gateway's HTTPS server if it has one (the API is served there and
// the HTTP server only redirects), else its HTTP server.
func (s scenario) gatewayEntry(t *testing.T) entry {
	t.Helper()
	if srv := s.gatewayServer(t, "HTTPS"); srv != nil {
		return entry{port: int(srv.GetPort().GetNumber()), tls: simulation.TLS, host: srv.GetHosts()[0]}
	}
	if srv := s.gatewayServer(t, "HTTP"); srv != nil {
		return entry{port: int(srv.GetPort().GetNumber()), tls: simulation.Plaintext, host: "ctmd.example.com"}
	}
	t.Fatalf("scenario %s renders no Gateway with an HTTP or HTTPS server", s.name)
	return entry{}
}

// gatewayServer is the rendered Gateway's first server of a protocol, nil if it has none.
func (s scenario) gatewayServer(t *testing.T, protocol string) *networking.Server {
	t.Helper()
	for _, cfg := range s.configs(t) {
		if cfg.GroupVersionKind != gvk.Gateway {
			continue
		}
		for _, srv := range cfg.Spec.(*networking.Gateway).GetServers() {
			if srv.GetPort().GetProtocol() == protocol {
				return srv
			}
		}
	}
	return nil
}

// gatewayRoutes are the VirtualServices' HTTP routes bound to a Gateway, with their namespace.
func (s scenario) gatewayRoutes(t *testing.T) []declaredRoute {
	t.Helper()
	var out []declaredRoute
	for _, cfg := range s.configs(t) {
		if cfg.GroupVersionKind != gvk.VirtualService {
			continue
		}
		vs := cfg.Spec.(*networking.VirtualService)
		if len(vs.GetGateways()) == 0 {
			continue
		}
		for _, r := range vs.GetHttp() {
			out = append(out, declaredRoute{r, cfg.Namespace})
		}
	}
	return out
}

type declaredRoute struct {
	*networking.HTTPRoute
	namespace string
}
