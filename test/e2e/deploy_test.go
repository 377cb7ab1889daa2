//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cryptotracker/ctmd/infra/alerts"
	"github.com/cryptotracker/ctmd/infra/slo"
)

const (
	namespace = "ctmd"
	// Images pinned by digest in the allowed repository, as the admission policy requires (kwok
	// pulls nothing, so the digests need only be well formed).
	image = allowedRepository + "/marketdata:e2e@sha256:" + digestA
	// password is recognisable so that a leak anywhere (state, config, engine output) is found by
	// a plain substring search.
	password   = "e2eS3cretPa55w0rdX9"
	connection = "mongodb+srv://ctmd-e2e:" + password + "@cluster0.e2e.mongodb.net/admin?retryWrites=true"
	mongoHost  = "*.e2e.mongodb.net"
	replicas   = 2
	// gatewayPrincipal is the SPIFFE identity of the ingress gateway pods: service account
	// istio-ingressgateway (the release name) in istio-ingress.
	gatewayPrincipal = "cluster.local/ns/istio-ingress/sa/istio-ingressgateway"
)

// TestDeployVerifyDestroy deploys the stack with target existing into the local cluster, checks
// every object against DESIGN.md section 3, checks that a second run changes nothing and that the
// connection string never reaches state or output in plain text, and destroys it all.
func TestDeployVerifyDestroy(t *testing.T) {
	mainCluster.hold(t)
	ctx := t.Context()
	k := newClients(t)
	out := &transcript{}
	// A cluster running Managed Prometheus: the stack adds its PodMonitoring, the SLO ClusterRules
	// and the managed Alertmanager's configuration with a (secret) receiver.
	s := newStack(t, "e2e", withManagedPrometheus(auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:installIstio":          {Value: "false"},
		"ctmd:image":                 {Value: image},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
	}))
	// Required with installIstio false: the identity of the cluster's own gateway.
	if err := s.SetConfigWithOptions(ctx, "ctmd:ingressPrincipals[0]", auto.ConfigValue{Value: gatewayPrincipal}, &auto.ConfigOptions{Path: true}); err != nil {
		t.Fatal(err)
	}
	destroyed := false
	t.Cleanup(func() {
		// A failed assertion must not leave objects behind for the next run on the same cluster.
		if !destroyed {
			_, _ = s.Destroy(context.Background(), optdestroy.ProgressStreams(out))
		}
	})

	// The plan: exactly the app's objects, and nothing of Istio itself (installIstio is false).
	plan := make(chan events.EngineEvent)
	planned := map[string]int{}
	planDone := make(chan struct{})
	// The preview says who owns the cluster's Alertmanager configuration (here: the stack).
	modeSaid := 0
	go func() {
		defer close(planDone)
		for ev := range plan {
			if pre := ev.ResourcePreEvent; pre != nil && pre.Metadata.Op == apitype.OpCreate && strings.HasPrefix(pre.Metadata.Type, "kubernetes:") {
				planned[pre.Metadata.Type]++
			}
			if d := ev.DiagnosticEvent; d != nil && strings.Contains(d.Message, "ctmd manages the cluster's Alertmanager configuration") {
				modeSaid++
			}
		}
	}()
	preview, err := s.Preview(ctx, optpreview.EventStreams(plan), optpreview.ProgressStreams(out), optpreview.ErrorProgressStreams(out))
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	<-planDone
	if modeSaid != 1 {
		t.Errorf("the preview said %d times that the stack manages the Alertmanager configuration, want once", modeSaid)
	}
	assertJSON(t, "kinds the preview plans to create", planned, `{
		"kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy": 1,
		"kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding": 1,
		"kubernetes:core/v1:Namespace": 1,
		"kubernetes:core/v1:Secret": 2,
		"kubernetes:apps/v1:Deployment": 1,
		"kubernetes:core/v1:Service": 1,
		"kubernetes:autoscaling/v2:HorizontalPodAutoscaler": 1,
		"kubernetes:policy/v1:PodDisruptionBudget": 1,
		"kubernetes:networking.istio.io/v1:Gateway": 1,
		"kubernetes:networking.istio.io/v1:VirtualService": 1,
		"kubernetes:networking.istio.io/v1:DestinationRule": 1,
		"kubernetes:networking.istio.io/v1:ServiceEntry": 1,
		"kubernetes:security.istio.io/v1:PeerAuthentication": 1,
		"kubernetes:security.istio.io/v1:AuthorizationPolicy": 1,
		"kubernetes:monitoring.googleapis.com/v1:PodMonitoring": 1,
		"kubernetes:monitoring.googleapis.com/v1:ClusterRules": 1
	}`)

	up, err := s.Up(ctx, optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	if up.Summary.Result != "succeeded" {
		t.Fatalf("up result %q", up.Summary.Result)
	}

	t.Run("namespace", func(t *testing.T) {
		ns, err := k.kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ns.Labels["istio-injection"]; got != "enabled" {
			t.Errorf("namespace label istio-injection = %q, want enabled", got)
		}
	})
	t.Run("secret", func(t *testing.T) {
		sec, err := k.kube.CoreV1().Secrets(namespace).Get(ctx, "ctmd-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(sec.Data))
		for key := range sec.Data {
			keys = append(keys, key)
		}
		if !slices.Equal(keys, []string{"MongoDB__ConnectionString"}) {
			t.Errorf("secret keys %v, want only MongoDB__ConnectionString", keys)
		}
		// Never print the values: a mismatch could be the secret itself.
		if got := string(sec.Data["MongoDB__ConnectionString"]); got != connection {
			t.Errorf("secret value differs from the configured connection string (%d bytes, want %d)", len(got), len(connection))
		}
	})
	var dep *appsv1.Deployment
	t.Run("deployment", func(t *testing.T) {
		dep = checkDeployment(t, k)
	})
	t.Run("service", func(t *testing.T) { checkService(t, k) })
	t.Run("autoscaling", func(t *testing.T) { checkAutoscaling(t, k, dep) })
	t.Run("mesh", func(t *testing.T) { checkMesh(t, k, "") })
	t.Run("outputs", func(t *testing.T) {
		checkOutputs(t, up.Outputs)
	})
	t.Run("alert rules", func(t *testing.T) {
		// The object the engine applied carries the output's groups; no canary, no canary alert.
		if names := checkAlertRules(t, k, up.Outputs); slices.Contains(names, slo.CanaryAlert) || len(names) == 0 {
			t.Errorf("alerts %v", names)
		}
		checkAlertmanagerConfig(t, k)
	})
	t.Run("dependencies", func(t *testing.T) {
		checkDependencies(t, s.cli(t, "stack", "export"))
	})

	t.Run("second up changes nothing", func(t *testing.T) { s.assertNoOp(t, out) })

	t.Run("mongoHosts narrows the ServiceEntry", func(t *testing.T) {
		if err := s.SetConfigWithOptions(ctx, "ctmd:mongoHosts[0]", auto.ConfigValue{Value: mongoHost}, &auto.ConfigOptions{Path: true}); err != nil {
			t.Fatal(err)
		}
		res, err := s.Up(ctx, optup.ProgressStreams(out))
		if err != nil {
			t.Fatalf("up with mongoHosts: %v", err)
		}
		changes := *res.Summary.ResourceChanges
		if changes[string(apitype.OpCreate)]+changes[string(apitype.OpDelete)] > 0 {
			t.Errorf("setting mongoHosts should only update the ServiceEntry in place: %v", changes)
		}
		checkMesh(t, k, mongoHost)
	})

	t.Run("connection string only encrypted", func(t *testing.T) {
		// The Secret's data is stored base64-encoded, so look for that form as well as the plain one.
		encoded := base64.StdEncoding.EncodeToString([]byte(connection))
		// Control: the Automation API's export decrypts secrets, so it must hold the encoded form;
		// otherwise the searches below could not find a leak either.
		decrypted, err := s.Export(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(decrypted.Deployment), encoded) {
			t.Fatal("the decrypted state does not hold the encoded connection string: the leak search would prove nothing")
		}
		if exported := s.cli(t, "stack", "export"); !strings.Contains(exported, "ctmd-config") || !strings.Contains(exported, `"ciphertext"`) {
			t.Fatal("pulumi stack export holds no encrypted ctmd-config Secret")
		}
		// The receiver URL is a credential too: its token, and the Alertmanager configuration
		// holding it as the API server stores it (base64).
		amSecret, err := k.kube.CoreV1().Secrets(alerts.AlertmanagerNamespace).Get(ctx, alerts.AlertmanagerSecret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		amConfig := base64.StdEncoding.EncodeToString(amSecret.Data[alerts.AlertmanagerKey])
		if !strings.Contains(string(decrypted.Deployment), amConfig) {
			t.Fatal("the decrypted state does not hold the encoded Alertmanager configuration: the leak search would prove nothing")
		}
		assertNotInState(t, s, out, map[string]string{
			"password": password, "connection string": connection, "connection string (base64)": encoded,
			"receiver token": receiverToken, "alertmanager config (base64)": amConfig,
		}, map[string]string{
			"preview output": preview.StdOut + preview.StdErr,
			"up output":      up.StdOut + up.StdErr,
		})
	})

	if _, err := s.Destroy(ctx, optdestroy.ProgressStreams(out), optdestroy.ErrorProgressStreams(out)); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	destroyed = true
	assertAlertmanagerConfigGone(t, k)
	eventually(t, 3*time.Minute, "namespace ctmd deleted", func(ctx context.Context) (bool, string) {
		_, err := k.kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		return gone(err)
	})
	for _, gvr := range meshGVRs {
		list, err := k.dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(list.Items); n > 0 {
			t.Errorf("after destroy %d %s remain", n, gvr.Resource)
		}
	}
	if state := s.cli(t, "stack", "export"); strings.Contains(state, "kubernetes:") {
		t.Errorf("state still lists kubernetes resources after destroy")
	}
}

// TestMissingSecretFailsPreview: without the connection string the program must stop at preview
// with a message that names the key and the command that sets it.
func TestMissingSecretFailsPreview(t *testing.T) {
	t.Parallel() // a preview only: no cluster is touched
	s := newStack(t, "e2e-missing-secret", auto.ConfigMap{
		"ctmd:target":       {Value: "existing"},
		"ctmd:installIstio": {Value: "false"},
		"ctmd:image":        {Value: image},
	})
	out := &transcript{}
	_, err := s.Preview(t.Context(), optpreview.ProgressStreams(out), optpreview.ErrorProgressStreams(out))
	if err == nil {
		t.Fatal("preview succeeded without ctmd:mongoConnectionString")
	}
	msg := err.Error() + out.String()
	for _, want := range []string{"ctmd:mongoConnectionString", "pulumi config set --secret"} {
		if !strings.Contains(msg, want) {
			t.Errorf("preview error does not mention %q:\n%s", want, msg)
		}
	}
}

func checkDeployment(t *testing.T, k clients) *appsv1.Deployment {
	t.Helper()
	var dep *appsv1.Deployment
	// Pulumi already waits for rollout; kwok marks the pods ready as soon as they are bound.
	eventually(t, 2*time.Minute, "deployment available", func(ctx context.Context) (bool, string) {
		var err error
		dep, err = k.kube.AppsV1().Deployments(namespace).Get(ctx, "marketdata", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return dep.Status.AvailableReplicas == replicas,
			fmt.Sprintf("%d of %d replicas available", dep.Status.AvailableReplicas, replicas)
	})
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != replicas {
		t.Errorf("replicas %v, want %d (the default)", dep.Spec.Replicas, replicas)
	}
	tpl := dep.Spec.Template
	for key, want := range map[string]string{"app": "marketdata", "version": "v1"} {
		if got := tpl.Labels[key]; got != want {
			t.Errorf("pod label %s = %q, want %q", key, got, want)
		}
	}
	if len(tpl.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(tpl.Spec.Containers))
	}
	c := tpl.Spec.Containers[0]
	if c.Image != image {
		t.Errorf("image %q, want %q", c.Image, image)
	}
	assertJSON(t, "container ports", c.Ports, `[{"name":"http","containerPort":8080,"protocol":"TCP"}]`)
	assertJSON(t, "env", c.Env, `[{"name":"MongoDB__ConnectionString","valueFrom":{"secretKeyRef":{"name":"ctmd-config","key":"MongoDB__ConnectionString"}}}]`)
	checkProbe(t, "liveness", c.LivenessProbe, "/healthz")
	checkProbe(t, "readiness", c.ReadinessProbe, "/readyz")
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	podSC := tpl.Spec.SecurityContext
	runAsNonRoot := sc.RunAsNonRoot
	if runAsNonRoot == nil && podSC != nil {
		runAsNonRoot = podSC.RunAsNonRoot
	}
	if runAsNonRoot == nil || !*runAsNonRoot {
		t.Error("runAsNonRoot is not true")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities %+v, want drop [ALL]", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && podSC != nil {
		seccomp = podSC.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile %+v, want RuntimeDefault", seccomp)
	}
	return dep
}

// checkProbe: an HTTP GET of path on the container's 8080 port (by number or by its name).
func checkProbe(t *testing.T, what string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s probe %+v, want an HTTP GET", what, p)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s probe path %q, want %q", what, p.HTTPGet.Path, path)
	}
	if port := p.HTTPGet.Port.String(); port != "8080" && port != "http" {
		t.Errorf("%s probe port %s, want 8080 (or http)", what, port)
	}
}

func checkService(t *testing.T, k clients) {
	t.Helper()
	svc, err := k.kube.CoreV1().Services(namespace).Get(t.Context(), "marketdata", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("service type %s, want ClusterIP", svc.Spec.Type)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("service ports %+v, want one", svc.Spec.Ports)
	}
	p := svc.Spec.Ports[0]
	if p.Name != "http" || p.Port != 80 || (p.TargetPort.String() != "8080" && p.TargetPort.String() != "http") {
		t.Errorf("service port %+v, want http 80 -> 8080", p)
	}
	// The EndpointSlice controller resolves the selector and target port against the running pods:
	// this is what proves the Service reaches the Deployment.
	eventually(t, time.Minute, "service endpoints", func(ctx context.Context) (bool, string) {
		list, err := k.kube.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
			LabelSelector: discoveryv1.LabelServiceName + "=marketdata",
		})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, s := range list.Items {
			for _, port := range s.Ports {
				if port.Port == nil || *port.Port != 8080 {
					return false, fmt.Sprintf("endpoint port %v, want 8080", port.Port)
				}
			}
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready++
				}
			}
		}
		return ready == replicas, fmt.Sprintf("%d ready endpoints, want %d", ready, replicas)
	})
}

func checkAutoscaling(t *testing.T, k clients, dep *appsv1.Deployment) {
	t.Helper()
	if dep == nil {
		t.Skip("deployment check failed")
	}
	ctx := t.Context()
	hpa, err := k.kube.AutoscalingV2().HorizontalPodAutoscalers(namespace).Get(ctx, "marketdata", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != "marketdata" {
		t.Errorf("HPA targets %+v, want the marketdata Deployment", ref)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != replicas || hpa.Spec.MaxReplicas <= replicas {
		t.Errorf("HPA min %v max %d, want min %d (replicas) and a higher max", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas, replicas)
	}
	if len(hpa.Spec.Metrics) == 0 {
		t.Error("HPA has no metrics")
	}

	pdb, err := k.kube.PolicyV1().PodDisruptionBudgets(namespace).Get(ctx, "marketdata", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
		t.Error("PDB sets neither minAvailable nor maxUnavailable")
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("PDB selector %v does not select the marketdata pods (%v)", pdb.Spec.Selector, err)
	}
	// The disruption controller counting the pods proves the selector matches real pods.
	eventually(t, time.Minute, "PDB covers the pods", func(ctx context.Context) (bool, string) {
		pdb, err := k.kube.PolicyV1().PodDisruptionBudgets(namespace).Get(ctx, "marketdata", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return pdb.Status.ExpectedPods == replicas, fmt.Sprintf("PDB expects %d pods", pdb.Status.ExpectedPods)
	})
}

// checkMesh compares the Istio resources with DESIGN.md section 3, field for field. The base chart's
// CRDs prune unknown fields, so a misspelt property shows up here as a missing one.
func checkMesh(t *testing.T, k clients, mongoHost string) {
	t.Helper()
	assertJSON(t, "Gateway ctmd-gateway", k.spec(t, gatewayGVR, namespace, "ctmd-gateway"), `{
		"selector": {"istio": "ingressgateway"},
		"servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]
	}`)
	assertJSON(t, "VirtualService ctmd", k.spec(t, virtualServiceGVR, namespace, "ctmd"), `{
		"hosts": ["*"],
		"gateways": ["ctmd-gateway"],
		"http": [{
			"name": "api",
			"match": [{"uri": {"prefix": "/api"}, "ignoreUriCase": true}],
			"route": [{"destination": {"host": "marketdata", "subset": "stable", "port": {"number": 80}}, "weight": 100}]
		}]
	}`)
	wantEntry := `{
		"hosts": ["mongo.external"],
		"addresses": ["0.0.0.0/0"],
		"ports": [{"number": 27017, "name": "mongo", "protocol": "MONGO"}],
		"location": "MESH_EXTERNAL",
		"resolution": "NONE"
	}`
	if mongoHost != "" {
		wantEntry = fmt.Sprintf(`{
			"hosts": [%q],
			"ports": [{"number": 27017, "name": "tls-mongo", "protocol": "TLS"}],
			"location": "MESH_EXTERNAL",
			"resolution": "NONE"
		}`, mongoHost)
	}
	assertJSON(t, "ServiceEntry mongo-ext", k.spec(t, serviceEntryGVR, namespace, "mongo-ext"), wantEntry)
	assertJSON(t, "PeerAuthentication default", k.spec(t, peerAuthenticationGVR, namespace, "default"), `{
		"mtls": {"mode": "STRICT"}
	}`)
	policies, err := k.dyn.Resource(authorizationGVR).Namespace(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(policies.Items) != 1 {
		t.Fatalf("%d AuthorizationPolicies in %s, want 1", len(policies.Items), namespace)
	}
	assertJSON(t, "AuthorizationPolicy", policies.Items[0].Object["spec"], fmt.Sprintf(`{
		"selector": {"matchLabels": {"app": "marketdata"}},
		"action": "ALLOW",
		"rules": [{
			"from": [{"source": {"principals": [%q]}}],
			"to": [{"operation": {"methods": ["GET", "HEAD"],
				"paths": ["/api/*", "/apI/*", "/aPi/*", "/aPI/*", "/Api/*", "/ApI/*", "/APi/*", "/API/*"]}}]
		}]
	}`, gatewayPrincipal))
}

func checkOutputs(t *testing.T, outputs auto.OutputMap) {
	t.Helper()
	// installIstio is false: the stack installed no Istio, so it reports no version and knows no
	// ingress address (that belongs to the cluster's own installation).
	for key, want := range map[string]string{
		"namespace":    namespace,
		"clusterName":  "ctmd-local",
		"istioVersion": "",
		"ingressIp":    "",
		"url":          "",
	} {
		got, ok := outputs[key]
		if !ok {
			t.Errorf("output %s missing", key)
			continue
		}
		if got.Value != want {
			t.Errorf("output %s = %v, want %q", key, got.Value, want)
		}
	}
	if kc, ok := outputs["kubeconfig"]; ok && !kc.Secret {
		t.Error("output kubeconfig is not a secret")
	}
	for key, o := range outputs {
		if s, ok := o.Value.(string); ok && strings.Contains(s, password) {
			t.Errorf("output %s contains the database password", key)
		}
	}
}

// checkDependencies reads the dependency graph the engine recorded in the state: pods must not
// start before their Secret exists, and every namespaced object must go before its namespace on
// destroy (kwok starts no containers, so only the graph shows a missing DependsOn).
func checkDependencies(t *testing.T, exported string) {
	t.Helper()
	var state struct {
		Deployment struct {
			Resources []struct {
				URN          string   `json:"urn"`
				Type         string   `json:"type"`
				Dependencies []string `json:"dependencies"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal([]byte(exported), &state); err != nil {
		t.Fatal(err)
	}
	// kind name ("core/v1:Secret ctmd-config") -> the kinds and names it depends on.
	key := func(urn string) string { // urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>
		i := strings.LastIndex(urn, "::")
		typ := urn[:i]
		typ = typ[strings.LastIndex(typ, "::")+2:]
		typ = typ[strings.LastIndex(typ, "$")+1:]
		return strings.TrimPrefix(typ, "kubernetes:") + " " + urn[i+2:]
	}
	deps := map[string][]string{}
	for _, r := range state.Deployment.Resources {
		if !strings.HasPrefix(r.Type, "kubernetes:") {
			continue
		}
		for _, d := range r.Dependencies {
			deps[key(r.URN)] = append(deps[key(r.URN)], key(d))
		}
		if _, ok := deps[key(r.URN)]; !ok {
			deps[key(r.URN)] = nil
		}
	}
	const ns = "core/v1:Namespace ctmd"
	want := map[string][]string{
		"core/v1:Secret ctmd-config":                          {ns},
		"apps/v1:Deployment marketdata":                       {ns, "core/v1:Secret ctmd-config"},
		"core/v1:Service marketdata":                          {ns},
		"autoscaling/v2:HorizontalPodAutoscaler marketdata":   {ns},
		"policy/v1:PodDisruptionBudget marketdata":            {ns},
		"networking.istio.io/v1:Gateway ctmd-gateway":         {ns},
		"networking.istio.io/v1:VirtualService ctmd":          {ns},
		"networking.istio.io/v1:ServiceEntry mongo-ext":       {ns},
		"security.istio.io/v1:PeerAuthentication default":     {ns},
		"security.istio.io/v1:AuthorizationPolicy marketdata": {ns},
	}
	for res, needs := range want {
		got, ok := deps[res]
		if !ok {
			t.Errorf("state has no %s (resources: %v)", res, slices.Sorted(maps.Keys(deps)))
			continue
		}
		for _, need := range needs {
			if !slices.Contains(got, need) {
				t.Errorf("%s does not depend on %s (it depends on %v)", res, need, got)
			}
		}
	}
}
