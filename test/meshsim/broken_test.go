package meshsim

import (
	"testing"
)

// TestBrokenResourcesFail breaks one reference at a time in a copy of the rendered resources and
// expects the checks above to say so: proof that they look at what they claim to.
func TestBrokenResourcesFail(t *testing.T) {
	spec := func(doc map[string]any) map[string]any { return doc["spec"].(map[string]any) }
	destination := func(t *testing.T, s scenario) map[string]any {
		route := spec(s.first(t, "VirtualService"))["http"].([]any)[0].(map[string]any)["route"].([]any)
		return route[0].(map[string]any)["destination"].(map[string]any)
	}
	cases := []struct {
		name    string
		breakIt func(t *testing.T, s scenario)
		check   func(t *testing.T, s scenario) problems
		mention string
	}{{
		name: "Gateway selector matching no gateway pod",
		breakIt: func(t *testing.T, s scenario) {
			spec(s.first(t, "Gateway"))["selector"] = map[string]any{"istio": "ingress-gateway"}
		},
		check: checkGateway, mention: "no listener matched",
	}, {
		name:    "VirtualService host with no Service",
		breakIt: func(t *testing.T, s scenario) { destination(t, s)["host"] = "marketdata-v2" },
		check:   checkGateway, mention: "which the gateway does not have",
	}, {
		name:    "VirtualService subset no DestinationRule declares",
		breakIt: func(t *testing.T, s scenario) { destination(t, s)["subset"] = "no-such-subset" },
		check:   checkGateway, mention: "outbound|80|no-such-subset|marketdata.ctmd.svc.cluster.local, which the gateway does not have",
	}, {
		name: "ServiceEntry on a port the driver does not dial",
		breakIt: func(t *testing.T, s scenario) {
			spec(s.first(t, "ServiceEntry"))["ports"].([]any)[0].(map[string]any)["number"] = 27018
		},
		check: checkSidecar, mention: "want outbound|27017||",
	}, {
		name: "egress open to any address",
		breakIt: func(t *testing.T, s scenario) {
			s.proxies.MeshConfig["outboundTrafficPolicy"] = map[string]any{"mode": "ALLOW_ANY"}
		},
		check: checkSidecar, mention: "want " + blackHole,
	}}
	for _, s := range loadScenarios(t) {
		for _, c := range cases {
			t.Run(s.name+"/"+c.name, func(t *testing.T) {
				if p := c.check(t, s); len(p) > 0 {
					t.Fatalf("the unbroken scenario already fails: %v", p)
				}
				broken := s.clone(t)
				c.breakIt(t, broken)
				p := c.check(t, broken)
				if !p.mention(c.mention) {
					t.Errorf("broken copy: want a problem mentioning %q, got %q", c.mention, p)
				}
			})
		}
	}
}
