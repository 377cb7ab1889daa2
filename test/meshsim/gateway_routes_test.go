package meshsim

import (
	"fmt"
	"slices"
	"strings"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	networking "istio.io/api/networking/v1alpha3"
)

// How the generated gateway routes are read and compared with what the VirtualServices declare.

// compareRoutes checks each generated route against the VirtualService route and match it
// comes from (Istio emits one Envoy route per match, in order): header matchers, case
// sensitivity and the destination clusters with their weights.
func compareRoutes(declared []declaredRoute, vh *route.VirtualHost) problems {
	var p problems
	got := vh.GetRoutes()
	i := 0
	for _, d := range declared {
		matches := d.GetMatch()
		if len(matches) == 0 {
			matches = []*networking.HTTPMatchRequest{nil}
		}
		for _, m := range matches {
			if i >= len(got) {
				p.add("virtual host %s has %d routes, fewer than the VirtualServices declare", vh.GetName(), len(got))
				return p
			}
			r := got[i]
			i++
			where := fmt.Sprintf("route %d (%q)", i, r.GetName())
			for name, sm := range m.GetHeaders() {
				if !slices.ContainsFunc(r.GetMatch().GetHeaders(), func(h *route.HeaderMatcher) bool {
					return h.GetName() == name && sameStringMatch(sm, h)
				}) {
					p.add("%s: no header matcher %s %v among %v", where, name, sm, r.GetMatch().GetHeaders())
				}
			}
			caseSensitive := r.GetMatch().GetCaseSensitive() == nil || r.GetMatch().GetCaseSensitive().GetValue()
			if m.GetIgnoreUriCase() == caseSensitive {
				p.add("%s: case_sensitive is %v, but the VirtualService says ignoreUriCase: %v", where, caseSensitive, m.GetIgnoreUriCase())
			}
			want := declaredClusters(d)
			if gotW := weightedClusters(r); !slices.Equal(gotW, want) {
				p.add("%s: sends to %v, the VirtualService declares %v", where, gotW, want)
			}
		}
	}
	if i != len(got) {
		p.add("virtual host %s has %d routes, the VirtualServices declare %d", vh.GetName(), len(got), i)
	}
	return p
}

// headerRoutesFirst: Envoy takes the first matching route, so a route that needs a header (the
// canary's) after one that needs none would never be taken.
func headerRoutesFirst(vh *route.VirtualHost) problems {
	var p problems
	plain := -1
	for i, r := range vh.GetRoutes() {
		switch {
		case len(r.GetMatch().GetHeaders()) == 0 && plain < 0:
			plain = i
		case len(r.GetMatch().GetHeaders()) > 0 && plain >= 0:
			p.add("route %d (%q) matches on headers but comes after route %d, which matches without", i+1, r.GetName(), plain+1)
		}
	}
	return p
}

// weighted is a destination cluster with its weight ("" weight for a single cluster).
type weighted struct {
	cluster string
	weight  uint32
}

func weightedClusters(r *route.Route) []weighted {
	if c := r.GetRoute().GetCluster(); c != "" {
		return []weighted{{c, 0}}
	}
	var out []weighted
	for _, c := range r.GetRoute().GetWeightedClusters().GetClusters() {
		out = append(out, weighted{c.GetName(), c.GetWeight().GetValue()})
	}
	return out
}

func routeClusters(r *route.Route) []string {
	var out []string
	for _, w := range weightedClusters(r) {
		out = append(out, w.cluster)
	}
	return out
}

// declaredClusters is what Istio should make of a route's destinations: one cluster, or the
// weighted ones (Istio drops a zero weight when there are several).
func declaredClusters(d declaredRoute) []weighted {
	dests := d.GetRoute()
	cluster := func(dst *networking.Destination) string {
		return fmt.Sprintf("outbound|%d|%s|%s", dst.GetPort().GetNumber(), dst.GetSubset(), qualify(dst.GetHost(), d.namespace))
	}
	if len(dests) == 1 {
		return []weighted{{cluster(dests[0].GetDestination()), 0}}
	}
	var out []weighted
	for _, dst := range dests {
		if dst.GetWeight() != 0 {
			out = append(out, weighted{cluster(dst.GetDestination()), uint32(dst.GetWeight())})
		}
	}
	return out
}

// qualify turns a short Kubernetes service name into the FQDN Istio resolves it to.
func qualify(host, namespace string) string {
	if strings.Contains(host, ".") || strings.Contains(host, "*") {
		return host
	}
	return host + "." + namespace + ".svc." + clusterDomain
}

func virtualHost(rc *route.RouteConfiguration, name string) *route.VirtualHost {
	for _, vh := range rc.GetVirtualHosts() {
		if vh.GetName() == name {
			return vh
		}
	}
	return nil
}
