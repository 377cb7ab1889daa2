package meshsim

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	"sigs.k8s.io/yaml"
)

// renderDirEnv is where make meshsim has the program render its mesh resources, one directory
// per scenario (see infra/stack/render_test.go for the layout).
const renderDirEnv = "CTMD_MESH_RENDER_DIR"

// clusterDomain is the DNS suffix of Kubernetes services (GKE's and the local cluster's).
const clusterDomain = "cluster.local"

// scenario is one rendered configuration, held as plain documents so a test can break them.
type scenario struct {
	name    string
	istio   []map[string]any
	kube    []map[string]any
	proxies proxies
}

type proxies struct {
	MeshConfig map[string]any `json:"meshConfig"`
	Gateway    workload       `json:"gateway"`
	Workloads  []workload     `json:"workloads"`
	// Callers are the in-mesh identities the configuration lets call marketdata directly.
	Callers []string `json:"callers"`
}

type workload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

// loadScenarios reads every scenario the program rendered.
func loadScenarios(t *testing.T) []scenario {
	t.Helper()
	root := os.Getenv(renderDirEnv)
	if root == "" {
		t.Fatalf("%s is not set: run make meshsim, which renders the program's mesh resources first", renderDirEnv)
	}
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []scenario
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		s := scenario{name: d.Name()}
		dir := filepath.Join(root, d.Name())
		s.istio = readDocs(t, filepath.Join(dir, "istio.yaml"))
		s.kube = readDocs(t, filepath.Join(dir, "kube.yaml"))
		raw, err := os.ReadFile(filepath.Join(dir, "proxies.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(raw, &s.proxies); err != nil {
			t.Fatalf("%s/proxies.yaml: %v", d.Name(), err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		t.Fatalf("no scenario rendered under %s", root)
	}
	return out
}

func readDocs(t *testing.T, file string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	for _, part := range strings.Split(string(raw), "\n---\n") {
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(strings.TrimPrefix(part, "---\n")), &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

// clone copies a scenario deeply, so a test can break the copy.
func (s scenario) clone(t *testing.T) scenario {
	t.Helper()
	var c scenario
	c.name = s.name
	c.istio = roundTrip(t, s.istio)
	c.kube = roundTrip(t, s.kube)
	c.proxies = roundTrip(t, s.proxies)
	return c
}

func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// first returns the first rendered Istio document of a kind.
func (s scenario) first(t *testing.T, kind string) map[string]any {
	t.Helper()
	for _, doc := range s.istio {
		if doc["kind"] == kind {
			return doc
		}
	}
	t.Fatalf("scenario %s renders no %s", s.name, kind)
	return nil
}

func joinDocs(t *testing.T, docs []map[string]any) string {
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
	return buf.String()
}

// configs parses the Istio documents the way istiod's tests do.
func (s scenario) configs(t *testing.T) []config.Config {
	t.Helper()
	cfgs, unknown, err := crd.ParseInputs(joinDocs(t, s.istio))
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) > 0 {
		t.Fatalf("kinds Istio does not know: %v", unknown)
	}
	// istiod's Kubernetes config client stamps every config with the cluster's domain suffix,
	// which turns a short host such as "marketdata" into marketdata.<namespace>.svc.cluster.local;
	// ParseInputs leaves it empty.
	for i := range cfgs {
		cfgs[i].Domain = clusterDomain
	}
	return cfgs
}

// simulate builds the Envoy configuration istiod would push to the proxy and wraps it in Istio's
// traffic simulation.
func (s scenario) simulate(t *testing.T, proxy *model.Proxy) *simulation.Simulation {
	t.Helper()
	meshYAML, err := yaml.Marshal(s.proxies.MeshConfig)
	if err != nil {
		t.Fatal(err)
	}
	meshConfig, err := mesh.ApplyMeshConfigDefaults(string(meshYAML))
	if err != nil {
		t.Fatalf("mesh config istiod gets: %v", err)
	}
	server := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		Configs:                s.configs(t),
		KubernetesObjectString: joinDocs(t, s.kube),
		MeshConfig:             meshConfig,
	})
	return simulation.NewSimulation(t, server, server.SetupProxy(proxy))
}

// gatewayProxy is the ingress gateway's Envoy as the chart deploys it (labels from the release).
func (s scenario) gatewayProxy() *model.Proxy {
	return proxyFor(s.proxies.Gateway, model.Router)
}

// appProxy is the sidecar of the marketdata Deployment's pods.
func (s scenario) appProxy(t *testing.T) *model.Proxy {
	t.Helper()
	return proxyFor(s.appWorkload(t), model.SidecarProxy)
}

// appWorkload is the marketdata Deployment's pods.
func (s scenario) appWorkload(t *testing.T) workload {
	t.Helper()
	for _, w := range s.proxies.Workloads {
		if w.Name == marketdata {
			return w
		}
	}
	t.Fatalf("scenario %s renders no %s workload", s.name, marketdata)
	return workload{}
}

func proxyFor(w workload, typ model.NodeType) *model.Proxy {
	return &model.Proxy{
		Type:            typ,
		Labels:          maps.Clone(w.Labels),
		ConfigNamespace: w.Namespace,
		Metadata:        &model.NodeMetadata{Labels: maps.Clone(w.Labels), Namespace: w.Namespace},
	}
}

// problems collects what a check found wrong, so a test can also expect a broken copy to fail.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) report(t *testing.T) {
	t.Helper()
	for _, msg := range p {
		t.Error(msg)
	}
}

func (p problems) mention(substr string) bool {
	return slices.ContainsFunc(p, func(msg string) bool { return strings.Contains(msg, substr) })
}
