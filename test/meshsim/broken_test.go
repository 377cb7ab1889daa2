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
	policyRule := func(t *testing.T, s scenario) map[string]any {
		return spec(s.first(t, "AuthorizationPolicy"))["rules"].([]any)[0].(map[string]any)
	}
	operation := func(t *testing.T, s scenario) map[string]any {
		return policyRule(t, s)["to"].([]any)[0].(map[string]any)["operation"].(map[string]any)
	}
	cases := []brokenCopy{{
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
		// On marketdata's host, the one a DestinationRule splits into subsets: the first route of a
		// scenario with the rollout engine names the engine's canary Service instead.
		name: "VirtualService subset no DestinationRule declares",
		breakIt: func(t *testing.T, s scenario) {
			d := destination(t, s)
			d["host"], d["subset"] = marketdata, "no-such-subset"
		},
		check: checkGateway, mention: "outbound|80|no-such-subset|marketdata.ctmd.svc.cluster.local, which the gateway does not have",
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
	}, {
		// What the policy was before: Istio compares it case-sensitively, the routes do not.
		name:    "AuthorizationPolicy paths in lower case only",
		breakIt: func(t *testing.T, s scenario) { operation(t, s)["paths"] = []any{"/api/*"} },
		check:   checkAuthorization, mention: "GET /API/v1/currencies from the gateway: refused",
	}, {
		name:    "AuthorizationPolicy without a path list",
		breakIt: func(t *testing.T, s scenario) { delete(operation(t, s), "paths") },
		check:   checkAuthorization, mention: "GET /metrics from the gateway: admitted",
	}, {
		name:    "AuthorizationPolicy without a method list",
		breakIt: func(t *testing.T, s scenario) { delete(operation(t, s), "methods") },
		check:   checkAuthorization, mention: "POST /api/v1/currencies from the gateway: admitted",
	}, {
		// What an empty principal list amounts to: no condition on the source.
		name:    "AuthorizationPolicy without sources",
		breakIt: func(t *testing.T, s scenario) { delete(policyRule(t, s), "from") },
		check:   checkAuthorization, mention: "GET /api/v1/currencies from an unknown identity: admitted",
	}, {
		name: "AuthorizationPolicy selecting no marketdata pod",
		breakIt: func(t *testing.T, s scenario) {
			spec(s.first(t, "AuthorizationPolicy"))["selector"] = map[string]any{"matchLabels": map[string]any{"app": "marketdata-v2"}}
		},
		check: checkAuthorization, mention: "has no RBAC filter",
	}}
	for _, s := range loadScenarios(t) {
		checkBrokenCopies(t, s, cases)
	}
}

// brokenCopy is one deliberate break of a rendered scenario and the problem its check must report.
type brokenCopy struct {
	name    string
	breakIt func(t *testing.T, s scenario)
	check   func(t *testing.T, s scenario) problems
	mention string
}

// checkBrokenCopies runs each case on s: the check passes on s itself and reports the case's
// problem on a copy of s broken by the case.
func checkBrokenCopies(t *testing.T, s scenario, cases []brokenCopy) {
	t.Helper()
	for _, c := range cases {
		t.Run(s.name+"/"+c.name, func(t *testing.T) {
			if p := c.check(t, s); len(p) > 0 {
				t.Fatalf("the unbroken scenario already fails: %v", p)
			}
			broken := s.clone(t)
			c.breakIt(t, broken)
			if p := c.check(t, broken); !p.mention(c.mention) {
				t.Errorf("broken copy: want a problem mentioning %q, got %q", c.mention, p)
			}
		})
	}
}
