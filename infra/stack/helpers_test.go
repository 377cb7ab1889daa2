package stack

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
	"github.com/cryptotracker/ctmd/infra/mesh"
)

const (
	mongoURI     = "mongodb+srv://marketdata:Sup3r-s3cret@cluster0.abcde.mongodb.net/admin"
	mongoSecret  = "Sup3r-s3cret"
	project      = "ctmd-dev-123"
	k8sProvider  = "pulumi:providers:kubernetes::ctmd-cluster"
	appComponent = "ctmd:app:Marketdata::marketdata"
	// createBehaviour is what every kubernetes provider must say, whatever its defaults: a killed
	// up's creates, and the charts' take-over of the Helm releases, apply over what exists
	// (infra/cluster/provider.go). Written out, so that a change to cluster.CreateBehaviour fails.
	createBehaviour = `"enableServerSideApply": true, "upsertExistingObjects": true`
	// istioctlGateway is the identity of the ingress gateway istioctl installs.
	istioctlGateway = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
	// apiOperations is what the AuthorizationPolicy lets its principals do: read the API, under
	// every spelling of /api/, since the routes and the service ignore case and Istio's policy
	// paths cannot.
	apiOperations = `[{"operation": {"methods": ["GET", "HEAD"],
		"paths": ["/api/*", "/apI/*", "/aPi/*", "/aPI/*", "/Api/*", "/ApI/*", "/APi/*", "/API/*"]}}]`
)

// defaultRevision is the control plane a stack runs without an upgrade under way; istiodRef is its
// release, what the workloads wait for.
var (
	defaultRevision = mesh.Revision(config.DefaultIstioVersion)
	istiodName      = "istiod-" + defaultRevision
	istiodRef       = "kubernetes:helm.sh/v4:Chart::" + istiodName
)

// output is a stack output as the engine would record it.
type output struct {
	Value  any
	Secret bool
}

type run struct {
	*mockstack.Stack
	outputs map[string]output
}

// deploy runs the program under mocks with the connection string stored as a secret, plus
// values, and resolves every stack output.
func deploy(t *testing.T, values map[string]string) (*run, error) {
	t.Helper()
	return deployAfter(t, values, nil)
}

// deployAfter is deploy on a stack whose last update exported lastOutputs.
func deployAfter(t *testing.T, values, lastOutputs map[string]string) (*run, error) {
	t.Helper()
	cfg := map[string]string{"ctmd:mongoConnectionString": mongoURI}
	for k, v := range values {
		cfg[k] = v
	}
	secrets := []string{"ctmd:mongoConnectionString"}
	for _, key := range []string{"ctmd:kubeconfig", "ctmd:alertReceiverUrl"} {
		if _, ok := cfg[key]; ok {
			secrets = append(secrets, key)
		}
	}
	r := &run{outputs: map[string]output{}}
	var err error
	r.Stack, err = mockstack.Run(t, mockstack.Config{Values: cfg, Secrets: secrets, LastOutputs: lastOutputs}, func(ctx *pulumi.Context) error {
		outs, err := build(ctx)
		if err != nil {
			return err
		}
		for name, in := range outs {
			res, err := internals.UnsafeAwaitOutput(ctx.Context(), pulumi.ToOutput(in))
			if err != nil {
				return err
			}
			r.outputs[name] = output{Value: res.Value, Secret: res.Secret}
		}
		return nil
	})
	return r, err
}

func mustDeploy(t *testing.T, values map[string]string) *run {
	t.Helper()
	r, err := deploy(t, values)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Released versions pinned by digest, as the admission policy requires: gkeImage in the repository
// a gke stack creates, existingImage in the allowed repository of the existing-cluster stacks.
const (
	gkeImage       = gkeRepository + "/marketdata:v1.4.0" + digestA
	gkeRepository  = "europe-west1-docker.pkg.dev/" + project + "/ctmd-cluster"
	existingImage  = "registry.example/ctmd/marketdata:v1" + digestA
	gkeCanaryImage = gkeRepository + "/marketdata:v1.5.0" + digestB
	digestA        = "@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB        = "@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// gkeConfig is a gke stack's config; unless extra sets ctmd:image, the image is gkeImage's version
// in the repository that stack creates (its zone's region, ctmd:repositoryId or cluster name).
func gkeConfig(extra map[string]string) map[string]string {
	v := map[string]string{"gcp:project": project}
	for k, val := range extra {
		v[k] = val
	}
	if _, ok := v["ctmd:image"]; !ok {
		zone := cmp.Or(v["gcp:zone"], "europe-west1-b")
		repo := cmp.Or(v["ctmd:repositoryId"], v["ctmd:clusterName"], "ctmd-cluster")
		v["ctmd:image"] = zone[:strings.LastIndex(zone, "-")] + "-docker.pkg.dev/" + project + "/" + repo + "/marketdata:v1.4.0" + digestA
	}
	return v
}

func existingConfig(extra map[string]string) map[string]string {
	v := map[string]string{
		"ctmd:target":                 "existing",
		"ctmd:installIstio":           "false",
		"ctmd:image":                  existingImage,
		"ctmd:allowedImageRepository": "registry.example/ctmd",
		// What istioctl install names its gateway: the stack must not assume ctmd's own.
		"ctmd:ingressPrincipals": `["` + istioctlGateway + `"]`,
	}
	for k, val := range extra {
		v[k] = val
	}
	// The cluster's own Istio: its proxy image, which the admission policy admits.
	if _, ok := v["ctmd:proxyImages"]; !ok && v["ctmd:installIstio"] == "false" {
		v["ctmd:proxyImages"] = `["` + clusterProxyImage + `"]`
	}
	return v
}

// clusterProxyImage is the proxy of the Istio an existing cluster runs (istioctl's install).
const clusterProxyImage = "docker.io/istio/proxyv2:1.30.2"

// assertOutputs checks that the kubeconfig output is secret and contains kubeconfigHas, and
// every other output exactly.
func assertOutputs(t *testing.T, s *run, kubeconfigHas, want string) {
	t.Helper()
	others := maps.Clone(s.outputs)
	kubeconfig := others["kubeconfig"]
	delete(others, "kubeconfig")
	if v, _ := kubeconfig.Value.(string); !kubeconfig.Secret || !strings.Contains(v, kubeconfigHas) {
		t.Errorf("kubeconfig output must be secret and contain %q: secret=%v", kubeconfigHas, kubeconfig.Secret)
	}
	// Every target exports its rule file; TestAlertRules checks its content.
	if rules, _ := others["alertRules"].Value.(string); others["alertRules"].Secret || !strings.HasPrefix(rules, "groups:") {
		t.Errorf("alertRules output must be a plain rule file, got secret=%v %.40q", others["alertRules"].Secret, rules)
	}
	delete(others, "alertRules")
	mockstack.AssertJSON(t, "outputs", others, want)
}

// assertResource checks a resource's complete inputs, its parent, and its provider.
func assertResource(t *testing.T, s *run, typ, name, parent, provider, inputs string) mockstack.Resource {
	t.Helper()
	r := s.Find(t, typ, name)
	mockstack.AssertJSON(t, typ+" "+name, mockstack.Plain(r.Inputs), inputs)
	if r.Parent != parent {
		t.Errorf("%s %s: parent %q, want %q", typ, name, r.Parent, parent)
	}
	if r.Provider != provider {
		t.Errorf("%s %s: provider %q, want %q", typ, name, r.Provider, provider)
	}
	return r
}

func assertDependsOn(t *testing.T, r mockstack.Resource, refs ...string) {
	t.Helper()
	for _, ref := range refs {
		if !slices.Contains(r.DependsOn, ref) {
			t.Errorf("%s %s depends on %v, want it to include %s", r.Type, r.Name, r.DependsOn, ref)
		}
	}
}

func assertNotDependsOn(t *testing.T, r mockstack.Resource, prefix string) {
	t.Helper()
	for _, dep := range r.DependsOn {
		if strings.HasPrefix(dep, prefix) {
			t.Errorf("%s %s depends on %s", r.Type, r.Name, dep)
		}
	}
}

// hit is a place a string was found in resource inputs.
type hit struct {
	Where  string
	Secret bool
}

// find walks every input of every resource for needle, noting whether it sat inside a secret.
func find(s *mockstack.Stack, needle string) []hit {
	var hits []hit
	var walk func(where string, v resource.PropertyValue, secret bool)
	walk = func(where string, v resource.PropertyValue, secret bool) {
		switch {
		case v.IsSecret():
			walk(where, v.SecretValue().Element, true)
		case v.IsOutput():
			walk(where, v.OutputValue().Element, secret || v.OutputValue().Secret)
		case v.IsString():
			if strings.Contains(v.StringValue(), needle) {
				hits = append(hits, hit{where, secret})
			}
		case v.IsArray():
			for _, e := range v.ArrayValue() {
				walk(where+"[]", e, secret)
			}
		case v.IsObject():
			for k, e := range v.ObjectValue() {
				walk(where+"."+string(k), e, secret)
			}
		}
	}
	for _, r := range s.Resources {
		walk(r.Type+" "+r.Name, resource.NewProperty(r.Inputs), false)
	}
	return hits
}
