package delivery

import (
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/internal/charts"
	"github.com/cryptotracker/ctmd/infra/internal/crds"
	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

const (
	component = "ctmd:delivery:ArgoRollouts::delivery"
	provider  = "pulumi:providers:kubernetes::k8s"
	nsRef     = "kubernetes:core/v1:Namespace::" + Namespace
	// notificationSecret is the release manifest's notification Secret, empty.
	notificationSecret = "argo-rollouts-notification-secret"
)

// serve serves the small stand-in manifest at the path a release's URL has, and whatever else
// a test asks for elsewhere.
func serve(t *testing.T, routes map[string]string) *httptest.Server {
	t.Helper()
	manifest, err := os.ReadFile("testdata/install.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, ok := routes[r.URL.Path]; ok {
			_, _ = w.Write([]byte(body))
			return
		}
		if r.URL.Path == "/argo-rollouts/v1.10.2/install.yaml" {
			_, _ = w.Write(manifest)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type setup struct {
	url             string
	managedFrontend bool
	ready           *string
}

// run declares the engine with a kubernetes provider and an earlier resource it must wait for
// (the mesh), and records Engine.Ready's URN.
func run(t *testing.T, s setup) (*mockstack.Stack, error) {
	t.Helper()
	return mockstack.Run(t, mockstack.Config{}, func(ctx *pulumi.Context) error {
		k8s, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		mesh, err := corev1.NewNamespace(ctx, "istio-system", &corev1.NamespaceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("istio-system")},
		}, pulumi.Provider(k8s))
		if err != nil {
			return err
		}
		e, err := New(ctx, "delivery", Args{
			Provider:   k8s,
			Kubeconfig: pulumi.String("").ToStringOutput(),
			Delivery: config.Delivery{
				Engine: config.DeliveryArgoRollouts, ManifestURL: s.url,
				ManagedFrontend: s.managedFrontend, PrometheusURL: config.FrontendURL,
			},
			Project:     "ctmd-dev-123",
			ClusterName: "ctmd-cluster",
			After:       []pulumi.Resource{mesh},
		})
		if err != nil {
			return err
		}
		if s.ready != nil {
			e.Ready.URN().ApplyT(func(urn pulumi.URN) string { *s.ready = string(urn); return "" })
		}
		return nil
	})
}

func manifestURL(srv *httptest.Server) string { return srv.URL + "/argo-rollouts/v1.10.2/install.yaml" }

// The manifest's CRDs reach the cluster only through the record, under the release's name; every
// other object is a resource of its own, in the engine's namespace when its kind has one, applied
// forced, after the namespace and the mesh; the controller waits for the CRDs, and is what
// Engine.Ready names. The manifest's notification Secret is declared as the manifest has it.
func TestManifestObjects(t *testing.T) {
	var ready string
	s, err := run(t, setup{url: manifestURL(serve(t, nil)), ready: &ready})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.OfType("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"); len(got) != 0 {
		t.Errorf("CRDs declared as resources: %v", got)
	}
	if len(s.Invokes) != 0 {
		t.Errorf("invokes %v: nothing is rendered", s.Invokes)
	}
	record := s.Find(t, "kubernetes:core/v1:ConfigMap", Controller+crds.RecordSuffix)
	data, _ := mockstack.Plain(record.Inputs)["data"].(map[string]any)
	if data[crds.ChartKey] != "argo-rollouts v1.10.2" || data["rollouts.argoproj.io"] == nil || data["analysisruns.argoproj.io"] == nil || len(data) != 3 {
		t.Errorf("CRD record %v, want the manifest's release and its two CRDs", data)
	}
	if got := mockstack.Get(mockstack.Plain(record.Inputs), "metadata.namespace"); got != Namespace || !slices.Contains(record.DependsOn, nsRef) {
		t.Errorf("record in %v after %v, want it in and after %s", got, record.DependsOn, Namespace)
	}

	ns := s.Find(t, "kubernetes:core/v1:Namespace", Namespace)
	if ns.Parent != component || ns.Provider != provider || !slices.Contains(ns.DependsOn, "kubernetes:core/v1:Namespace::istio-system") {
		t.Errorf("namespace: parent %q provider %q after %v", ns.Parent, ns.Provider, ns.DependsOn)
	}

	for _, tt := range []struct {
		typ, name  string
		namespaced bool
	}{
		{"kubernetes:core/v1:ServiceAccount", "argo-rollouts", true},
		{"kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "argo-rollouts", false},
		{"kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "argo-rollouts", false},
		{"kubernetes:core/v1:ConfigMap", "argo-rollouts-config", true},
		{"kubernetes:core/v1:Secret", notificationSecret, true},
		{"kubernetes:core/v1:Service", "argo-rollouts-metrics", true},
		{"kubernetes:apps/v1:Deployment", "argo-rollouts", true},
	} {
		r := s.Find(t, tt.typ, tt.name)
		in := mockstack.Plain(r.Inputs)
		ns := mockstack.Get(in, "metadata.namespace")
		if tt.namespaced && ns != Namespace || !tt.namespaced && ns != nil {
			t.Errorf("%s %s in namespace %v", tt.typ, tt.name, ns)
		}
		if tt.namespaced && !slices.Contains(r.DependsOn, nsRef) {
			t.Errorf("%s %s after %v, want its namespace", tt.typ, tt.name, r.DependsOn)
		}
		if !slices.Contains(r.DependsOn, "kubernetes:core/v1:Namespace::istio-system") {
			t.Errorf("%s %s after %v, want the mesh", tt.typ, tt.name, r.DependsOn)
		}
		if r.Parent != component || r.Provider != provider {
			t.Errorf("%s %s: parent %q provider %q", tt.typ, tt.name, r.Parent, r.Provider)
		}
		if a, _ := mockstack.Get(in, "metadata.annotations").(map[string]any); a[charts.PatchForce] != "true" {
			t.Errorf("%s %s annotations %v, want %s", tt.typ, tt.name, a, charts.PatchForce)
		}
		if in["kind"] == nil || in["apiVersion"] == nil {
			t.Errorf("%s %s inputs %v lack apiVersion and kind", tt.typ, tt.name, in)
		}
	}
	// The ClusterRoleBinding keeps its subject's namespace, the engine's.
	binding := mockstack.Plain(s.Find(t, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "argo-rollouts").Inputs)
	if got := mockstack.Get(binding, "subjects.0.namespace"); got != Namespace {
		t.Errorf("binding subject in %v", got)
	}
	controller := s.Find(t, "kubernetes:apps/v1:Deployment", Controller)
	if dep := "kubernetes:core/v1:ConfigMap::" + Controller + crds.RecordSuffix; !slices.Contains(controller.DependsOn, dep) {
		t.Errorf("controller after %v, want %s", controller.DependsOn, dep)
	}
	if !strings.HasSuffix(ready, "::"+Controller) || !strings.Contains(ready, "kubernetes:apps/v1:Deployment") {
		t.Errorf("Engine.Ready is %s, want the controller's Deployment", ready)
	}
	if got := s.OfType("kubernetes:core/v1:Secret"); !slices.Equal(got, []string{notificationSecret}) {
		t.Errorf("Secrets %v, want the manifest's notification Secret alone", got)
	}
	// As the manifest has it: no type, no data.
	secret := mockstack.Plain(s.Find(t, "kubernetes:core/v1:Secret", notificationSecret).Inputs)
	for _, key := range []string{"type", "data", "stringData"} {
		if secret[key] != nil {
			t.Errorf("the notification Secret has %s %v, the manifest's has none", key, secret[key])
		}
	}
	for _, r := range s.Resources {
		if strings.HasPrefix(r.Type, "gcp:") {
			t.Errorf("%s %s declared without the managed frontend", r.Type, r.Name)
		}
		if r.Name == FrontendName {
			t.Errorf("%s %s declared without the managed frontend", r.Type, r.Name)
		}
	}
}

// Whatever goes wrong with the manifest stops the program before anything is declared, with the
// setting and what failed.
func TestManifestFailures(t *testing.T) {
	noCRD := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: argo-rollouts\nspec:\n  template:\n    spec:\n      containers:\n      - image: x:v1\n"
	crd := "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: rollouts.argoproj.io\n"
	srv := serve(t, map[string]string{
		"/not-yaml":       "<html>rate limited</html>\n",
		"/no-crd":         noCRD,
		"/no-controller":  crd,
		"/elsewhere":      crd + "---\n" + noCRD + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: kube-system\n",
		"/no-object-name": crd + "---\napiVersion: v1\nkind: ConfigMap\n",
	})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tt := range []struct{ url, want string }{
		{srv.URL + "/missing.yaml", "the server answered 404 Not Found"},
		{srv.URL + "/not-yaml", "is not Argo Rollouts' install manifest"},
		{srv.URL + "/no-crd", "no CustomResourceDefinition"},
		{srv.URL + "/no-controller", "no Deployment argo-rollouts (the controller)"},
		{srv.URL + "/elsewhere", "ConfigMap x is in namespace kube-system"},
		{srv.URL + "/no-object-name", "document 2 is not a Kubernetes object"},
		{closed.URL + "/install.yaml", "connection refused"},
	} {
		s, err := run(t, setup{url: tt.url})
		if err == nil || !strings.Contains(err.Error(), `config "ctmd:argoRolloutsManifestUrl"`) ||
			!strings.Contains(err.Error(), tt.url) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want the key, the URL and %q", tt.url, err, tt.want)
		}
		for _, r := range s.Resources {
			if strings.HasPrefix(r.Type, "ctmd:delivery") || r.Name == Namespace {
				t.Errorf("%s: %s %s declared before the refusal", tt.url, r.Type, r.Name)
			}
		}
	}
}

// No notification service is configured, whatever the setup: the notifications engine's HTTP
// client logs the URL it posts to, and the alerts' receiver URL is never logged. No ConfigMap or
// Secret of the component holds a service (service.<type>.<name>) or a URL.
func TestNoNotificationService(t *testing.T) {
	for _, managedFrontend := range []bool{false, true} {
		s, err := run(t, setup{url: manifestURL(serve(t, nil)), managedFrontend: managedFrontend})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range s.Resources {
			if r.Type != "kubernetes:core/v1:ConfigMap" && r.Type != "kubernetes:core/v1:Secret" {
				continue
			}
			in := mockstack.Plain(r.Inputs)
			for _, field := range []string{"data", "stringData", "binaryData"} {
				entries, _ := in[field].(map[string]any)
				for key, v := range entries {
					value, _ := v.(string)
					if strings.HasPrefix(key, "service.") || strings.Contains(strings.ToLower(key), "url") ||
						strings.Contains(value, "service.webhook") || strings.Contains(value, "url:") {
						t.Errorf("managed frontend %v: %s %s has %s.%s = %q: a notification service", managedFrontend, r.Type, r.Name, field, key, value)
					}
				}
			}
		}
		if got := s.OfType("kubernetes:core/v1:ConfigMap"); slices.Contains(got, "argo-rollouts-notification-configmap") {
			t.Errorf("managed frontend %v: the notifications' ConfigMap is declared", managedFrontend)
		}
	}
}

// The controller's metrics are where MetricsPort, MetricsPath and ControllerLabels say: the
// manifest's metrics Service targets MetricsPort on the pods ControllerLabels select, and the
// controller's container exposes it.
func TestMetricsEndpoint(t *testing.T) {
	s, err := run(t, setup{url: manifestURL(serve(t, nil))})
	if err != nil {
		t.Fatal(err)
	}
	svc := mockstack.Plain(s.Find(t, "kubernetes:core/v1:Service", "argo-rollouts-metrics").Inputs)
	if port, target := mockstack.Get(svc, "spec.ports.0.port"), mockstack.Get(svc, "spec.ports.0.targetPort"); port != float64(MetricsPort) || target != float64(MetricsPort) {
		t.Errorf("metrics Service port %v target %v, want %d", port, target, MetricsPort)
	}
	if sel, _ := mockstack.Get(svc, "spec.selector").(map[string]any); len(sel) != len(ControllerLabels) || sel["app.kubernetes.io/name"] != ControllerLabels["app.kubernetes.io/name"] {
		t.Errorf("metrics Service selects %v, want %v", sel, ControllerLabels)
	}
	controller := mockstack.Plain(s.Find(t, "kubernetes:apps/v1:Deployment", Controller).Inputs)
	labels, _ := mockstack.Get(controller, "spec.template.metadata.labels").(map[string]any)
	for k, v := range ControllerLabels {
		if labels[k] != v {
			t.Errorf("controller pods' labels %v, want %s=%s", labels, k, v)
		}
	}
	if port := mockstack.Get(controller, "spec.template.spec.containers.0.ports.0.containerPort"); port != float64(MetricsPort) {
		t.Errorf("controller container's first port %v, want %d", port, MetricsPort)
	}
}
