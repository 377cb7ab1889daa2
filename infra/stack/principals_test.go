package stack

import (
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

// The AuthorizationPolicy admits exactly the configured gateway and caller identities, or the
// gateway ctmd installs when none is configured.
func TestAuthorizationPolicyPrincipals(t *testing.T) {
	const caller = "cluster.local/ns/shop/sa/checkout"
	for name, tt := range map[string]struct {
		values map[string]string
		want   string
	}{
		"gke": {gkeConfig(nil), `["cluster.local/ns/istio-ingress/sa/istio-ingressgateway"]`},
		"gke with callers": {gkeConfig(map[string]string{"ctmd:callerPrincipals": `["` + caller + `"]`}),
			`["cluster.local/ns/istio-ingress/sa/istio-ingressgateway", "` + caller + `"]`},
		"existing cluster's own istio": {existingConfig(map[string]string{"ctmd:callerPrincipals": `["` + caller + `"]`}),
			`["` + istioctlGateway + `", "` + caller + `"]`},
		"existing, istio installed by ctmd": {existingConfig(map[string]string{"ctmd:installIstio": "true", "ctmd:ingressPrincipals": "[]"}),
			`["cluster.local/ns/istio-ingress/sa/istio-ingressgateway"]`},
	} {
		t.Run(name, func(t *testing.T) {
			s := mustDeploy(t, tt.values)
			policy := mockstack.Plain(s.Find(t, "kubernetes:security.istio.io/v1:AuthorizationPolicy", "marketdata").Inputs)
			mockstack.AssertJSON(t, "AuthorizationPolicy rules", mockstack.Get(policy, "spec.rules"), `[{
				"from": [{"source": {"principals": `+tt.want+`}}],
				"to": `+apiOperations+`
			}]`)
		})
	}
}
