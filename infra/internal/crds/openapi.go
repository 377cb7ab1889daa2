package crds

import (
	"context"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// openAPIWait bounds how long the hook waits for the API server's OpenAPI document to name the new
// kinds: its CRD controller adds them within a second of the CRDs being established.
const openAPIWait = 15 * time.Second

// warmOpenAPI asks the API server for its OpenAPI v2 document, as the kubernetes provider does each
// time it starts, once the document names every kind of crds. After a CRD change the server builds
// that document again on the first request that asks for it: about 1 s on two cores with Istio's
// CRDs, which the first `pulumi preview` after the `up` that installed them paid
// (docs/performance.md). Asked here, the `up` pays it. It only moves a cost, so it reports nothing:
// if the document is not ready in time, or the request fails, the next provider to start pays it
// as before. A CRD whose schema changed under kinds already named is not waited for.
func warmOpenAPI(ctx context.Context, config *rest.Config, crds []map[string]any) {
	// The discovery client's requests take no context: bound each one instead, so a server that
	// stops answering cannot hold the up.
	bounded := rest.CopyConfig(config)
	bounded.Timeout = openAPIWait
	client, err := discovery.NewDiscoveryClientForConfig(bounded)
	if err != nil {
		return
	}
	want := openAPIDefinitions(crds)
	ctx, cancel := context.WithTimeout(ctx, openAPIWait)
	defer cancel()
	for {
		doc, err := client.OpenAPISchema()
		if err != nil {
			return
		}
		served := map[string]bool{}
		for _, def := range doc.GetDefinitions().GetAdditionalProperties() {
			served[def.GetName()] = true
		}
		if !slices.ContainsFunc(want, func(name string) bool { return !served[name] }) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// openAPIDefinitions names the definitions the API server's OpenAPI v2 document holds for the kinds
// of crds: the group's labels reversed, the version and the kind, one per served version
// (networking.istio.io's VirtualService v1 is io.istio.networking.v1.VirtualService).
func openAPIDefinitions(crds []map[string]any) []string {
	var names []string
	for _, crd := range crds {
		spec, _ := crd["spec"].(map[string]any)
		group, _ := spec["group"].(string)
		specNames, _ := spec["names"].(map[string]any)
		kind, _ := specNames["kind"].(string)
		labels := strings.Split(group, ".")
		slices.Reverse(labels)
		versions, _ := spec["versions"].([]any)
		for _, v := range versions {
			version, _ := v.(map[string]any)
			if served, _ := version["served"].(bool); !served {
				continue
			}
			name, _ := version["name"].(string)
			names = append(names, strings.Join(labels, ".")+"."+name+"."+kind)
		}
	}
	return names
}
