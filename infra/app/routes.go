package app

// Subsets of the DestinationRule, by the pods' version label.
const (
	stableSubset = "stable"
	canarySubset = "canary"
	// CanaryHeader sent with the value "always" routes a request to the canary at any weight.
	CanaryHeader = "x-ctmd-canary"
	// apiPrefix is where the API lives: what the gateway routes and the AuthorizationPolicy admits.
	apiPrefix = "/api"
)

// routing says where the api route sends the gateway's /api traffic: to the stable subset alone;
// with a manual canary, weight percent to the canary's subset; or, with the engine, between its
// stable and canary Services, whose weights the engine sets (declared at rest: all to stable).
type routing struct {
	canary bool
	weight int
	engine bool
}

// httpRoutes builds the VirtualService's routes, the one place that decides where /api traffic
// goes: all of it to the stable track without a canary; with one, requests carrying the canary
// header first, then the rest split by weight. The prefix match ignores case, as the service's
// own routing does (ASP.NET Core's), which Istio applies to prefix and exact matches:
// https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPMatchRequest
func httpRoutes(r routing) []any {
	match := func(headers map[string]any) []any {
		m := map[string]any{"uri": map[string]any{"prefix": apiPrefix}, "ignoreUriCase": true}
		if headers != nil {
			m["headers"] = headers
		}
		return []any{m}
	}
	to := func(host, subset string, weight int) map[string]any {
		dest := map[string]any{"host": host, "port": map[string]any{"number": 80}}
		if subset != "" {
			dest["subset"] = subset
		}
		return map[string]any{"destination": dest, "weight": weight}
	}
	stable, canary := to(Name, stableSubset, 100-r.weight), to(Name, canarySubset, r.weight)
	switch {
	case r.engine:
		stable, canary = to(StableService, "", 100), to(CanaryService, "", 0)
	case !r.canary:
		return []any{map[string]any{"name": apiRoute, "match": match(nil), "route": []any{to(Name, stableSubset, 100)}}}
	}
	header := map[string]any{CanaryHeader: map[string]any{"exact": "always"}}
	byHeader := to(Name, canarySubset, 100)
	if r.engine {
		byHeader = to(CanaryService, "", 100)
	}
	return []any{
		map[string]any{"name": "canary-by-header", "match": match(header), "route": []any{byHeader}},
		map[string]any{"name": apiRoute, "match": match(nil), "route": []any{stable, canary}},
	}
}

// TLS is the HTTPS edge: the public name the gateway serves and the Secret (in the gateway's
// namespace) that holds its certificate. The zero value keeps the plain HTTP edge.
type TLS struct {
	Domain, CredentialName string
}

// gateway builds the Gateway's servers, the other half of the routing: plain HTTP for any host, or,
// with a domain, HTTPS for that name alone and port 80 redirecting to it.
//   - credentialName: "the secret (of type generic) should contain the following keys and values:
//     key: <privateKey>, cert: <serverCert>" or a kubernetes.io/tls Secret (tls.key, tls.crt),
//     which cert-manager writes; the Secret "must exist in the same namespace as the proxy where
//     the gateway is deployed"
//     (https://istio.io/latest/docs/reference/config/networking/gateway/#ServerTLSSettings,
//     https://istio.io/latest/docs/tasks/traffic-management/ingress/secure-ingress/).
//   - httpsRedirect: "If set to true, the load balancer will send a 301 redirect for all http
//     connections, asking the clients to use HTTPS" (same reference).
//
// The HTTPS server's hosts are what the gateway matches the TLS SNI against: a name other than the
// domain finds no server, so the gateway never answers with the certificate of a name it was not
// asked for.
func gateway(tls TLS) map[string]any {
	selector := map[string]any{"istio": "ingressgateway"}
	if tls.Domain == "" {
		return map[string]any{"selector": selector, "servers": []any{map[string]any{
			"port":  map[string]any{"number": 80, "name": "http", "protocol": "HTTP"},
			"hosts": []any{"*"},
		}}}
	}
	return map[string]any{"selector": selector, "servers": []any{
		map[string]any{
			"port":  map[string]any{"number": 443, "name": "https", "protocol": "HTTPS"},
			"hosts": []any{tls.Domain},
			"tls":   map[string]any{"mode": "SIMPLE", "credentialName": tls.CredentialName},
		},
		map[string]any{
			"port":  map[string]any{"number": 80, "name": "http", "protocol": "HTTP"},
			"hosts": []any{tls.Domain},
			"tls":   map[string]any{"httpsRedirect": true},
		},
	}}
}

// virtualService binds httpRoutes to the Gateway for the hosts it serves: the same /api routes,
// canary header and weights included, reach marketdata whether the request came over HTTP or was
// decrypted by the HTTPS server, whose answers carry HSTS.
func virtualService(tls TLS, r routing) map[string]any {
	hosts := []any{"*"}
	if tls.Domain != "" {
		hosts = []any{tls.Domain}
	}
	routes := httpRoutes(r)
	if tls.Domain != "" {
		for _, r := range routes {
			r.(map[string]any)["headers"] = map[string]any{"response": map[string]any{"set": map[string]any{"Strict-Transport-Security": hsts}}}
		}
	}
	return map[string]any{
		"hosts":    hosts,
		"gateways": []any{GatewayName},
		"http":     routes,
	}
}

// hsts tells browsers to use only HTTPS for the domain (and names under it) for a year (RFC 6797;
// the OWASP HTTP Strict Transport Security cheat sheet's "max-age=31536000; includeSubDomains").
// Every answer the routes give is an HTTPS one once a domain is set: port 80 only redirects.
const hsts = "max-age=31536000; includeSubDomains"

// destinationRule gives one track its subset. The stable track's rule always exists; the
// canary's comes and goes with the canary's other objects, as a rule of its own for the same
// host, which Istio merges into the stable one (subsets are concatenated:
// pilot/pkg/model/destination_rule.go, mergeDestinationRule; "Split large virtual services and
// destination rules into multiple resources" in
// https://istio.io/latest/docs/ops/best-practices/traffic-management/). A subset that selects no
// pods is an error to istioctl analyze (IST0173), and as an object of its own the canary subset
// is created before the routes that name it and deleted only after they stop naming it.
func destinationRule(subset, version string) map[string]any {
	return map[string]any{
		"host":    Name,
		"subsets": []any{map[string]any{"name": subset, "labels": map[string]any{"version": version}}},
	}
}
