package stack

import (
	"bytes"
	"cmp"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
	"github.com/cryptotracker/ctmd/infra/mesh"
)

// renderDirEnv names the directory TestRenderMeshResources writes to (make meshsim sets it and
// hands the same directory to test/meshsim); unset, it renders into a temporary directory.
const renderDirEnv = "CTMD_MESH_RENDER_DIR"

// meshScenarios are the configurations whose mesh resources test/meshsim runs through Istio's
// own config-to-Envoy translation, one directory each.
var meshScenarios = map[string]map[string]string{
	// The defaults: no mongoHosts, so the ServiceEntry admits any address on the Mongo port.
	"default": nil,
	// What the README recommends: only the Atlas cluster's hosts, matched by SNI; and an in-mesh
	// caller besides the gateway (its optional callerPrincipals).
	"atlas": {"ctmd:mongoHosts": `["*.abcde.mongodb.net"]`, "ctmd:callerPrincipals": `["cluster.local/ns/shop/sa/checkout"]`},
	// A canary release: header route, weighted default route, stable and canary subsets.
	"canary": {"ctmd:canaryImage": gkeCanaryImage, "ctmd:canaryWeight": "20"},
	// HTTPS for a domain (port 80 redirects), with a canary, so its header and weighted routes are
	// checked over HTTPS too.
	"https": {
		"ctmd:domain": domain, "ctmd:dnsZone": "example-com", "ctmd:acmeEmail": "ops@example.com",
		"ctmd:canaryImage": gkeCanaryImage, "ctmd:canaryWeight": "20",
	},
	// Releases handed to Argo Rollouts: the header route and the api route between the engine's
	// two Services, at rest. Its manifest URL is the loopback fixture TestRenderMeshResources serves.
	"delivery": {"ctmd:delivery": "argo-rollouts"},
}

// rendered is one scenario as files: the Istio resources the program declares, the Kubernetes
// Services they route to, and what Istio needs to know of the proxies (the mesh config istiod
// gets and the labels of the gateway and app workloads, which select the Gateway and policies).
type rendered struct {
	istio, kube []map[string]any
	proxies     proxies
}

// proxies is the layout of proxies.yaml; test/meshsim reads the same field names.
type proxies struct {
	MeshConfig map[string]any `json:"meshConfig"`
	Gateway    workload       `json:"gateway"`
	Workloads  []workload     `json:"workloads"`
	// Callers are the identities ctmd:callerPrincipals names: in-mesh workloads whose own proxies
	// test/meshsim does not simulate, only their calls into marketdata's sidecar.
	Callers []string `json:"callers"`
}

type workload struct {
	Name      string         `json:"name"`
	Namespace string         `json:"namespace"`
	Labels    map[string]any `json:"labels"`
}

// TestRenderMeshResources writes what each scenario declares for the mesh, as the engine would
// send it to the cluster, and checks that every kind test/meshsim relies on is there.
func TestRenderMeshResources(t *testing.T) {
	out := os.Getenv(renderDirEnv)
	if out == "" {
		out = t.TempDir()
	}
	manifest := httptest.NewServer(http.FileServer(http.Dir("../delivery/testdata")))
	t.Cleanup(manifest.Close)
	for name, values := range meshScenarios {
		if values["ctmd:delivery"] != "" {
			values = maps.Clone(values)
			values["ctmd:argoRolloutsManifestUrl"] = manifest.URL + "/install.yaml"
		}
		t.Run(name, func(t *testing.T) {
			r := render(t, mustDeploy(t, gkeConfig(values)).Stack)
			if callers, ok := values["ctmd:callerPrincipals"]; ok {
				if err := json.Unmarshal([]byte(callers), &r.proxies.Callers); err != nil {
					t.Fatal(err)
				}
			}
			kinds := map[string]int{}
			for _, doc := range slices.Concat(r.istio, r.kube) {
				kinds[doc["kind"].(string)]++
			}
			for _, kind := range []string{"Gateway", "VirtualService", "ServiceEntry", "PeerAuthentication", "AuthorizationPolicy", "Service"} {
				if kinds[kind] == 0 {
					t.Errorf("no %s rendered; rendered %v", kind, kinds)
				}
			}
			if r.proxies.MeshConfig == nil || len(r.proxies.Gateway.Labels) == 0 || len(r.proxies.Workloads) == 0 {
				t.Errorf("proxies incomplete: %+v", r.proxies)
			}
			dir := filepath.Join(out, name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "istio.yaml"), r.istio...)
			write(t, filepath.Join(dir, "kube.yaml"), r.kube...)
			write(t, filepath.Join(dir, "proxies.yaml"), r.proxies)
			// The files leave the test process: the connection string must not be in them.
			for _, file := range []string{"istio.yaml", "kube.yaml", "proxies.yaml"} {
				if b, _ := os.ReadFile(filepath.Join(dir, file)); bytes.Contains(b, []byte(mongoSecret)) {
					t.Errorf("%s holds the connection string", file)
				}
			}
		})
	}
}

// render picks the mesh's share out of a mock run: Istio custom resources and the app's Services
// as declared, the mesh config from the istiod release, the gateway's pod labels from the gateway
// release, and the pod labels of each Deployment and of the engine's Rollout.
func render(t *testing.T, s *mockstack.Stack) rendered {
	t.Helper()
	var r rendered
	for _, res := range s.Resources {
		if res.Read {
			continue
		}
		in := mockstack.Plain(res.Inputs)
		apiVersion, _ := in["apiVersion"].(string)
		switch {
		case strings.Contains(apiVersion, ".istio.io/"):
			r.istio = append(r.istio, in)
		case res.Type == "kubernetes:core/v1:Service":
			r.kube = append(r.kube, in)
		case res.Type == "kubernetes:apps/v1:Deployment" || res.Type == rolloutRef:
			r.proxies.Workloads = append(r.proxies.Workloads, workload{
				Name:      mockstack.Get(in, "metadata.name").(string),
				Namespace: mockstack.Get(in, "metadata.namespace").(string),
				Labels:    mockstack.Get(in, "spec.template.metadata.labels").(map[string]any),
			})
		case res.Type == "kubernetes:helm.sh/v4:Chart" && in["chart"] == "istiod":
			r.proxies.MeshConfig, _ = mockstack.Get(in, "values.meshConfig").(map[string]any)
		case res.Type == "kubernetes:helm.sh/v4:Chart" && in["name"] == mesh.GatewayRelease:
			labels, _ := mockstack.Get(in, "values.labels").(map[string]any)
			r.proxies.Gateway = workload{Name: mesh.GatewayRelease, Namespace: in["namespace"].(string), Labels: labels}
		}
	}
	byKindName := func(a, b map[string]any) int {
		return cmp.Or(cmp.Compare(a["kind"].(string), b["kind"].(string)),
			cmp.Compare(mockstack.Get(a, "metadata.name").(string), mockstack.Get(b, "metadata.name").(string)))
	}
	slices.SortFunc(r.istio, byKindName)
	slices.SortFunc(r.kube, byKindName)
	return r
}

// write stores docs as one multi-document YAML file.
func write[T any](t *testing.T, file string, docs ...T) {
	t.Helper()
	var buf bytes.Buffer
	for _, doc := range docs {
		b, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
