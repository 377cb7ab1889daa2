package app

import (
	"errors"
	"slices"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/object"
)

const mongoPort = 27017

// meshResources routes /api from the ingress gateway to the Service's tracks, enforces mTLS,
// admits only the configured gateway and caller identities, and registers MongoDB as the one
// external destination (the mesh runs with REGISTRY_ONLY egress by default). The routes change
// only after routesAfter: the Deployments, rolled out, so traffic never moves to pods that are not
// ready yet, and away from the canary only once the stable track runs the promoted image; or the
// engine's Services, which select every marketdata pod until the engine narrows them. It returns
// the routes (the VirtualService).
func meshResources(ctx *pulumi.Context, args Args, policy map[string]any, opts []pulumi.ResourceOption, routesAfter []pulumi.Resource) (pulumi.Resource, error) {
	routesAfter = slices.Clip(routesAfter)
	if args.CanaryImage != "" {
		canary, err := object.New(ctx, "networking.istio.io/v1", "DestinationRule", Name+"-canary", Namespace, destinationRule(canarySubset, canaryVersion), opts...)
		if err != nil {
			return nil, err
		}
		routesAfter = append(routesAfter, canary)
	}
	resources := []struct {
		apiVersion, kind, name string
		spec                   map[string]any
		after                  []pulumi.Resource
		// engineWrites marks what the rollout engine also writes: the routes, whose weights it
		// sets with updates that make it the owner of spec.http (an atomic list). Server-side apply
		// then refuses the stack's next change of the routes as a conflict (found by the e2e on the
		// real controller), unless the provider forces it: the declared routes are the truth at rest,
		// and during a release the engine sets its weights again at its next sync
		// (https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/managing-resources-with-server-side-apply/#handle-field-conflicts-on-existing-resources).
		engineWrites bool
	}{
		{"networking.istio.io/v1", "Gateway", GatewayName, gateway(args.TLS), nil, false},
		{"networking.istio.io/v1", "VirtualService", RoutesName, virtualService(args.TLS, routing{canary: args.CanaryImage != "", weight: args.CanaryWeight, engine: args.Rollout != nil}), routesAfter, true},
		{"networking.istio.io/v1", "DestinationRule", Name, destinationRule(stableSubset, stableVersion), nil, false},
		{"networking.istio.io/v1", "ServiceEntry", "mongo-ext", mongoServiceEntry(args.MongoHosts), nil, false},
		{"security.istio.io/v1", "PeerAuthentication", "default", map[string]any{
			"mtls": map[string]any{"mode": "STRICT"},
		}, nil, false},
		{"security.istio.io/v1", "AuthorizationPolicy", Name, policy, nil, false},
	}
	var routes pulumi.Resource
	for _, r := range resources {
		meta := &metav1.ObjectMetaArgs{Name: pulumi.String(r.name), Namespace: pulumi.String(Namespace)}
		if r.engineWrites {
			meta.Annotations = pulumi.StringMap{"pulumi.com/patchForce": pulumi.String("true")}
		}
		res, err := object.NewWithMeta(ctx, r.apiVersion, r.kind, r.name, meta, r.spec, append(slices.Clip(opts), pulumi.DependsOn(r.after))...)
		if err != nil {
			return nil, err
		}
		if r.kind == "VirtualService" {
			routes = res
		}
	}
	return routes, nil
}

// authorizationPolicy admits GET and HEAD on the API from the given identities (the gateways and
// the in-mesh callers) and nothing else. The gateway's routes and the service match /api whatever
// its letter case, but an AuthorizationPolicy compares paths case-sensitively and offers no way to
// ignore case: Istio normalizes escapes, slashes and dots but not case
// (https://istio.io/latest/docs/reference/config/security/normalization/), its only documented
// remedy is a Lua filter that rewrites every path
// (https://istio.io/latest/docs/ops/best-practices/security/#case-normalization), and the request
// for an option was closed without one (https://github.com/istio/istio/issues/40541). So the policy lists
// every spelling of the /api/ prefix: /API/v1/currencies passes as the routes let it, and every
// path outside the API is still refused, whichever route brings it. Dropping the path list for the
// gateway would admit anything any VirtualService on that gateway sends here (on an existing
// cluster, other teams' routes share it), /metrics included. An empty principal list is refused
// rather than written: Istio reads it as no condition, "any principal is allowed"
// (https://istio.io/latest/docs/reference/config/security/authorization-policy/#Source).
func authorizationPolicy(principals []string) (map[string]any, error) {
	if len(principals) == 0 {
		return nil, errors.New("app: no principal to admit; an AuthorizationPolicy without principals would admit any identity")
	}
	var paths []any
	for _, prefix := range everySpelling(apiPrefix + "/") {
		paths = append(paths, prefix+"*")
	}
	return map[string]any{
		"selector": map[string]any{"matchLabels": map[string]any{"app": Name}},
		"action":   "ALLOW",
		"rules": []any{map[string]any{
			"from": []any{map[string]any{"source": map[string]any{"principals": toAny(principals)}}},
			"to": []any{map[string]any{"operation": map[string]any{
				"methods": []any{"GET", "HEAD"},
				"paths":   paths,
			}}},
		}},
	}, nil
}

// everySpelling lists a lower-case s with its ASCII letters in every combination of cases, s
// itself first. ASCII only, as the service folds case (service/api/routes.go).
func everySpelling(s string) []string {
	out := []string{""}
	for _, c := range []byte(s) {
		next := make([]string, 0, 2*len(out))
		for _, p := range out {
			next = append(next, p+string(c))
			if 'a' <= c && c <= 'z' {
				next = append(next, p+string(c-'a'+'A'))
			}
		}
		out = next
	}
	return out
}

// mongoServiceEntry allows TLS to the listed hosts (Atlas speaks TLS, which Istio cannot parse
// as Mongo, so SNI is what gets matched). With no hosts it falls back to any address on the
// Mongo port, which is as wide as the original deployment's rule.
func mongoServiceEntry(hosts []string) map[string]any {
	if len(hosts) == 0 {
		return map[string]any{
			"hosts":      []any{"mongo.external"},
			"addresses":  []any{"0.0.0.0/0"},
			"ports":      []any{map[string]any{"number": mongoPort, "name": "mongo", "protocol": "MONGO"}},
			"location":   "MESH_EXTERNAL",
			"resolution": "NONE",
		}
	}
	return map[string]any{
		"hosts":      toAny(hosts),
		"ports":      []any{map[string]any{"number": mongoPort, "name": "tls-mongo", "protocol": "TLS"}},
		"location":   "MESH_EXTERNAL",
		"resolution": "NONE",
	}
}

// toAny turns a list of strings into the []any an untyped spec holds.
func toAny(items []string) []any {
	list := make([]any, len(items))
	for i, item := range items {
		list[i] = item
	}
	return list
}
