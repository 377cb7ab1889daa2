package meshsim

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/config/schema/gvk"
)

const (
	// mongoPort is where MongoDB (and Atlas) listen; the app's driver dials it.
	mongoPort = 27017
	// blackHole is the cluster REGISTRY_ONLY sends unregistered destinations to.
	blackHole = "BlackHoleCluster"
	// outsider is an external address on a port nothing registers (PostgreSQL's).
	outsider     = "203.0.113.99"
	outsiderPort = 5432
)

func TestSidecar(t *testing.T) {
	for _, s := range loadScenarios(t) {
		t.Run(s.name, func(t *testing.T) { checkSidecar(t, s).report(t) })
	}
}

// checkSidecar calls out of the app's sidecar: every host the Mongo ServiceEntry registers must
// reach its cluster on the Mongo port, and anything else must fall into the black hole.
func checkSidecar(t *testing.T, s scenario) problems {
	t.Helper()
	var p problems
	sim := s.simulate(t, s.appProxy(t))
	expect := func(what string, call simulation.Call, want string) {
		call.CallMode = simulation.CallModeOutbound
		res := sim.Run(call)
		if res.Error != nil || res.ClusterMatched != want {
			p.add("%s from the app: cluster %q, error %v; want %s", what, res.ClusterMatched, res.Error, want)
		}
	}
	entries := 0
	for _, cfg := range s.configs(t) {
		if cfg.GroupVersionKind != gvk.ServiceEntry {
			continue
		}
		se := cfg.Spec.(*networking.ServiceEntry)
		if se.GetLocation() != networking.ServiceEntry_MESH_EXTERNAL {
			continue
		}
		entries++
		tls := false
		for _, port := range se.GetPorts() {
			tls = tls || port.GetProtocol() == "TLS"
		}
		for _, h := range se.GetHosts() {
			call := simulation.Call{Address: addressIn(se.GetAddresses()), Port: mongoPort, Protocol: simulation.TCP}
			if tls {
				// Atlas speaks TLS: the sidecar tells its hosts apart by SNI.
				call.TLS, call.Sni = simulation.TLS, strings.ReplaceAll(h, "*", "cluster0-shard-00-00")
			}
			expect(fmt.Sprintf("TCP to %s:%d (ServiceEntry %s host %s)", call.Address, mongoPort, cfg.Name, h), call,
				fmt.Sprintf("outbound|%d||%s", mongoPort, h))
		}
		if tls {
			expect("TLS to db.example.org on the Mongo port",
				simulation.Call{Address: outsider, Port: mongoPort, Protocol: simulation.TCP, TLS: simulation.TLS, Sni: "db.example.org"}, blackHole)
		}
	}
	if entries == 0 {
		p.add("no MESH_EXTERNAL ServiceEntry: the app cannot reach MongoDB under REGISTRY_ONLY")
	}
	expect(fmt.Sprintf("TCP to %s:%d", outsider, outsiderPort),
		simulation.Call{Address: outsider, Port: outsiderPort, Protocol: simulation.TCP}, blackHole)
	return p
}

// addressIn is an address a ServiceEntry's addresses cover (Atlas's own when it lists none).
func addressIn(addresses []string) string {
	const atlas = "198.51.100.27"
	for _, a := range addresses {
		if prefix, err := netip.ParsePrefix(a); err == nil {
			if prefix.Bits() == 0 {
				return atlas
			}
			return prefix.Addr().String()
		}
		if addr, err := netip.ParseAddr(a); err == nil {
			return addr.String()
		}
	}
	return atlas
}
