//go:build e2e

package e2e

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/cryptotracker/ctmd/infra/alerts"
	"github.com/cryptotracker/ctmd/infra/mesh"
)

type istioChart struct{ name, namespace string }

// istioCharts are the charts ctmd applies without an upgrade under way, in the order it must apply
// them; each chart's name is the release name its templates see.
func istioCharts() []istioChart {
	return []istioChart{
		{"istio-base", "istio-system"},
		{"istiod-" + mesh.Revision(env.istioVersion), "istio-system"},
		{mesh.GatewayRelease, "istio-ingress"},
	}
}

// loadBalancerIP is what the kwok stage in test/kwok/stages.yaml gives every LoadBalancer Service.
const loadBalancerIP = "192.0.2.10"

// TestIstioFromRealCharts runs the whole program, Istio included, with the charts of the pinned
// istio.io/istio module served by the local cluster: what the mocks cannot see (the names, labels
// and identities the charts really render, the mesh config istiod receives, the load balancer the
// outputs come from, Helm-managed objects across a second up, and the uninstall).
func TestIstioFromRealCharts(t *testing.T) {
	istioCluster.hold(t)
	ctx := t.Context()
	k := clientsOf(t, istioCluster)
	out := &transcript{}
	t.Logf("Istio charts: istio.io/istio@%s (development branch), labelled %s, from %s",
		env.chartsModuleVersion, env.istioVersion, env.chartRepo)
	// The control plane's revision: what istioctl analyze checks the workloads against, as make
	// analyze does with the stack's istioRevision output.
	revision := mesh.Revision(env.istioVersion)
	s := istioCluster.newStack(t, "e2e-istio", auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:installIstio":          {Value: "true"},
		"ctmd:istioChartRepository":  {Value: env.chartRepo},
		"ctmd:outboundTrafficPolicy": {Value: "REGISTRY_ONLY"},
		"ctmd:image":                 {Value: image},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
	})
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_, _ = s.Destroy(context.Background(), optdestroy.ProgressStreams(out))
		}
	})

	// The README's walk-through: the cluster layer first, then everything.
	stagedUp(t, s, out)
	order := &releaseOrder{}
	up, err := s.Up(ctx, optup.EventStreams(order.collect()), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	order.wait()
	if err != nil {
		t.Fatalf("up: %v", err)
	}

	t.Run("charts applied in order", func(t *testing.T) {
		order.check(t)
		for _, c := range istioCharts() {
			// The chart's objects carry its release name; none is a Helm release (no record of
			// Helm's storage driver), so no half-installed release can block a later update.
			objects, err := k.kube.CoreV1().ServiceAccounts(c.namespace).List(ctx, metav1.ListOptions{
				LabelSelector: "app.kubernetes.io/instance=" + c.name,
			})
			if err != nil {
				t.Fatal(err)
			}
			records, err := k.kube.CoreV1().Secrets(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
			if err != nil {
				t.Fatal(err)
			}
			if len(objects.Items) == 0 || len(records.Items) > 0 {
				t.Errorf("chart %s/%s: %d service accounts of it, %d Helm release records in its namespace; want some, and none",
					c.namespace, c.name, len(objects.Items), len(records.Items))
			}
		}
	})
	t.Run("base chart installed the Istio kinds", func(t *testing.T) { checkCRDsRecorded(t, k, s) })
	t.Run("gateway pods are what the Gateway selects and the policy admits", func(t *testing.T) {
		checkGatewayIdentity(t, k)
	})
	t.Run("istiod mesh config", func(t *testing.T) {
		// The chart names the mesh config after the control plane's revision.
		cm, err := k.kube.CoreV1().ConfigMaps("istio-system").Get(ctx, "istio-"+mesh.Revision(env.istioVersion), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var mesh struct {
			OutboundTrafficPolicy struct{ Mode string } `json:"outboundTrafficPolicy"`
		}
		if err := yaml.Unmarshal([]byte(cm.Data["mesh"]), &mesh); err != nil {
			t.Fatalf("istiod mesh config: %v\n%s", err, cm.Data["mesh"])
		}
		if mesh.OutboundTrafficPolicy.Mode != "REGISTRY_ONLY" {
			t.Errorf("istiod mesh config outboundTrafficPolicy.mode = %q, want REGISTRY_ONLY (the stack's setting):\n%s",
				mesh.OutboundTrafficPolicy.Mode, cm.Data["mesh"])
		}
	})
	t.Run("injector keeps only the templates the mesh uses", func(t *testing.T) {
		// The real chart renders the templates the stack empties as empty, and keeps the rest.
		cm, err := k.kube.CoreV1().ConfigMaps("istio-system").Get(ctx, "istio-sidecar-injector-"+revision, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var injector struct{ Templates map[string]string }
		if err := yaml.Unmarshal([]byte(cm.Data["config"]), &injector); err != nil {
			t.Fatalf("istiod injector config: %v", err)
		}
		for _, name := range mesh.UnusedInjectionTemplates {
			if tmpl, ok := injector.Templates[name]; !ok || strings.TrimSpace(tmpl) != "" {
				t.Errorf("injection template %s: present %v, %d bytes; want it present and empty", name, ok, len(tmpl))
			}
		}
		for _, name := range []string{"sidecar", "gateway", "kube-gateway"} {
			if len(injector.Templates[name]) < 1000 {
				t.Errorf("injection template %s has %d bytes: the chart's own template is gone", name, len(injector.Templates[name]))
			}
		}
	})
	t.Run("ingress address from the load balancer", func(t *testing.T) {
		svc, err := k.kube.CoreV1().Services("istio-ingress").Get(ctx, "istio-ingressgateway", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) == 0 ||
			svc.Status.LoadBalancer.Ingress[0].IP != loadBalancerIP {
			t.Fatalf("gateway Service type %s status %+v, want a LoadBalancer at %s", svc.Spec.Type, svc.Status.LoadBalancer, loadBalancerIP)
		}
		// The HTTPS edge (ctmd:domain) needs 443 on the load balancer: the chart's default ports,
		// which the stack's service values must not replace.
		exposed := map[int32]int32{}
		for _, p := range svc.Spec.Ports {
			exposed[p.Port] = p.TargetPort.IntVal
		}
		if exposed[80] != 80 || exposed[443] != 443 {
			t.Errorf("gateway Service ports %v, want 80 and 443 to the gateway's 80 and 443", svc.Spec.Ports)
		}
		for key, want := range map[string]string{
			"ingressIp":     loadBalancerIP,
			"url":           "http://" + loadBalancerIP + "/api/v1/currencies",
			"istioVersion":  env.istioVersion,
			"istioRevision": revision,
		} {
			if got := up.Outputs[key].Value; got != want {
				t.Errorf("output %s = %v, want %q", key, got, want)
			}
		}
	})
	t.Run("app mesh resources", func(t *testing.T) { checkMesh(t, k, "") })
	t.Run("istioctl analyze after up", func(t *testing.T) { analyzeMesh(t, "up", onRevision(k, revision)) })
	t.Run("istioctl analyze catches a broken selector", func(t *testing.T) { checkAnalyzeCatchesBrokenSelector(t, k, onRevision(k, revision)) })

	t.Run("second up changes nothing", func(t *testing.T) {
		s.assertNoOp(t, out)
		analyzeMesh(t, "second up", onRevision(k, revision))
	})
	t.Run("HTTPS edge: istioctl analyze checks the certificate's Secret", func(t *testing.T) {
		checkCredentialAnalyzed(t, k, s, out, onRevision(k, revision))
	})

	// Everything the charts made outside the namespaces, so that destroy can be held to it.
	made := chartClusterObjects(t, k)
	if len(made) == 0 {
		t.Fatal("found no cluster-scoped objects of the Istio releases: the destroy check would prove nothing")
	}
	if _, err := s.Destroy(ctx, optdestroy.ProgressStreams(out), optdestroy.ErrorProgressStreams(out)); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	destroyed = true
	for _, ns := range []string{namespace, "istio-system", "istio-ingress"} {
		eventually(t, 3*time.Minute, "namespace "+ns+" deleted", func(ctx context.Context) (bool, string) {
			_, err := k.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return gone(err)
		})
	}
	if left := chartClusterObjects(t, k); len(left) > 0 {
		t.Errorf("after destroy the releases left %v", left)
	}
	if state := s.cli(t, "stack", "export"); strings.Contains(state, "kubernetes:") {
		t.Errorf("state still lists kubernetes resources after destroy")
	}
}

// checkGatewayIdentity: the pods the Gateway selects exist, are the gateway release's, and run as
// an identity the AuthorizationPolicy admits. A renamed release, a changed istio= label or a
// principal that does not follow the chart's service account each break one of these.
func checkGatewayIdentity(t *testing.T, k clients) {
	t.Helper()
	ctx := t.Context()
	gw, ok := k.spec(t, gatewayGVR, namespace, "ctmd-gateway").(map[string]any)
	if !ok {
		t.Fatal("Gateway ctmd-gateway has no spec")
	}
	selector := labels.Set{}
	for key, v := range gw["selector"].(map[string]any) {
		selector[key] = fmt.Sprint(v)
	}
	var pods []corev1.Pod
	eventually(t, time.Minute, "gateway pods selected by ctmd-gateway", func(ctx context.Context) (bool, string) {
		list, err := k.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
		if err != nil {
			return false, err.Error()
		}
		pods = list.Items
		return len(pods) > 0, fmt.Sprintf("no pod matches the Gateway selector %s", selector)
	})

	policy, ok := k.spec(t, authorizationGVR, namespace, "marketdata").(map[string]any)
	if !ok {
		t.Fatal("AuthorizationPolicy marketdata has no spec")
	}
	admitted := map[string]bool{}
	for _, rule := range policy["rules"].([]any) {
		for _, from := range rule.(map[string]any)["from"].([]any) {
			for _, p := range from.(map[string]any)["source"].(map[string]any)["principals"].([]any) {
				admitted[p.(string)] = true
			}
		}
	}
	for _, pod := range pods {
		if pod.Namespace != "istio-ingress" || pod.Labels["app.kubernetes.io/instance"] != "istio-ingressgateway" {
			t.Errorf("pod %s/%s (labels %v) matches the Gateway selector but is not the ingress gateway release's",
				pod.Namespace, pod.Name, pod.Labels)
		}
		if _, err := k.kube.CoreV1().ServiceAccounts(pod.Namespace).Get(ctx, pod.Spec.ServiceAccountName, metav1.GetOptions{}); err != nil {
			t.Errorf("gateway pod %s: service account %s: %v", pod.Name, pod.Spec.ServiceAccountName, err)
		}
		// Istio's SPIFFE identity of a workload (trust domain cluster.local, the chart's default).
		principal := "cluster.local/ns/" + pod.Namespace + "/sa/" + pod.Spec.ServiceAccountName
		if !admitted[principal] {
			t.Errorf("gateway pod %s runs as %s, which the AuthorizationPolicy does not admit (it admits %v)",
				pod.Name, principal, admitted)
		}
	}
}

// releaseOrder records, from the engine's events, when each object of each Istio chart started
// and finished (an object finishes once applied and, for a workload, ready).
type releaseOrder struct {
	events []string // "start istiod-1-31-1", "done istio-base", ... one per chart object
	done   chan struct{}
}

func (o *releaseOrder) collect() chan events.EngineEvent {
	ch := make(chan events.EngineEvent)
	o.done = make(chan struct{})
	go func() {
		defer close(o.done)
		for ev := range ch {
			switch {
			case ev.ResourcePreEvent != nil && inChart(ev.ResourcePreEvent.Metadata.URN):
				o.events = append(o.events, "start "+chartOf(ev.ResourcePreEvent.Metadata.URN))
			case ev.ResOutputsEvent != nil && inChart(ev.ResOutputsEvent.Metadata.URN):
				o.events = append(o.events, "done "+chartOf(ev.ResOutputsEvent.Metadata.URN))
			}
		}
	}()
	return ch
}

func (o *releaseOrder) wait() { <-o.done }

// inChart: the URN is of an object a chart rendered (its parent's type is the chart's).
func inChart(urn string) bool { return strings.Contains(urn, "$"+chartType+"$") }

// chartOf is the chart an object belongs to: the provider names it <chart>:<namespace>/<name>.
func chartOf(urn string) string { name, _, _ := strings.Cut(urnName(urn), ":"); return name }

// check: no object of a chart starts before every object of the chart before it has finished.
func (o *releaseOrder) check(t *testing.T) {
	t.Helper()
	charts := istioCharts()
	for i := 1; i < len(charts); i++ {
		prev, next := charts[i-1].name, charts[i].name
		lastDone := slices.Index(o.events, "done "+prev)
		for j, ev := range o.events {
			if ev == "done "+prev {
				lastDone = j
			}
		}
		firstStart := slices.Index(o.events, "start "+next)
		if lastDone < 0 || firstStart < 0 || firstStart < lastDone {
			t.Errorf("%s's objects must all finish before %s's start: events %v", prev, next, o.events)
		}
	}
}

// chartType is the Pulumi type of the Istio charts (mesh.New); legacyReleaseType that of the Helm
// releases stacks held before.
const (
	chartType         = "kubernetes:helm.sh/v4:Chart"
	legacyReleaseType = "kubernetes:helm.sh/v3:Release"
)

func urnName(urn string) string { return urn[strings.LastIndex(urn, "::")+2:] }

// chartClusterObjects lists the cluster-scoped objects that belong to ctmd's Istio charts, CRDs
// excepted (the base chart keeps those, by design): by the chart's instance label, or by Helm's
// annotation for what a Helm release of a stack made before the charts installed.
func chartClusterObjects(t *testing.T, k clients) []string {
	t.Helper()
	var found []string
	for _, gvr := range []schema.GroupVersionResource{
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
		{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"},
		{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"},
	} {
		list, err := k.dyn.Resource(gvr).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range list.Items {
			release := cmp.Or(item.GetLabels()["app.kubernetes.io/instance"], item.GetAnnotations()["meta.helm.sh/release-name"])
			// Every chart of ctmd's: control planes of any revision, and the pre-revision istiod.
			if release == "istio-base" || release == "istiod" || strings.HasPrefix(release, "istiod-") || release == mesh.GatewayRelease {
				found = append(found, gvr.Resource+"/"+item.GetName())
			}
		}
	}
	return found
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

var crdsOnce sync.Once

// ensureIstioCRDs gives a cluster without Istio the kinds a cluster with its own Istio has: the
// base chart's CRDs, from the served module. A later run that installs Istio applies the base
// chart's over them.
func ensureIstioCRDs(t *testing.T) {
	t.Helper()
	var err error
	crdsOnce.Do(func() { err = applyIstioCRDs(t.Context(), newClients(t)) })
	if err != nil {
		t.Fatalf("Istio CRDs from the base chart: %v", err)
	}
}

func applyIstioCRDs(ctx context.Context, k clients) error {
	return applyCRDs(ctx, k, filepath.Join(env.istioModuleDir, "manifests", "charts", "base", "files", "crd-all.gen.yaml"))
}

var managedPrometheusOnce sync.Once

// ensureManagedPrometheus gives the local cluster what GKE's managed collection brings: the
// PodMonitoring and Rules kinds, and the public namespace the managed Alertmanager reads its
// configuration from.
func ensureManagedPrometheus(t *testing.T) {
	t.Helper()
	var err error
	managedPrometheusOnce.Do(func() {
		k := newClients(t)
		if err = applyCRDs(t.Context(), k, filepath.Join("testdata", "managed-prometheus-crds.yaml")); err != nil {
			return
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: alerts.AlertmanagerNamespace}}
		if _, err = k.kube.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			err = nil
		}
	})
	if err != nil {
		t.Fatalf("Managed Prometheus's kinds and namespace: %v", err)
	}
}

// applyCRDs creates the CustomResourceDefinitions of a multi-document YAML file and waits until the
// API server serves them.
func applyCRDs(ctx context.Context, k clients, file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var names []string
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			return err
		}
		if obj.GetKind() != "CustomResourceDefinition" {
			continue
		}
		if _, err := k.dyn.Resource(crdGVR).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s: %w", obj.GetName(), err)
		}
		names = append(names, obj.GetName())
	}
	if len(names) == 0 {
		return fmt.Errorf("%s holds no CustomResourceDefinition", file)
	}
	deadline := time.Now().Add(time.Minute)
	for _, name := range names {
		for {
			crd, err := k.dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			if slices.ContainsFunc(conditions, func(c any) bool {
				m, _ := c.(map[string]any)
				return m["type"] == "Established" && m["status"] == "True"
			}) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established after a minute", name)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}
