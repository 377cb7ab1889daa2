//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	admissionv1client "k8s.io/client-go/kubernetes/typed/admissionregistration/v1"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	autoscalingv2client "k8s.io/client-go/kubernetes/typed/autoscaling/v2"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	discoveryv1client "k8s.io/client-go/kubernetes/typed/discovery/v1"
	policyv1client "k8s.io/client-go/kubernetes/typed/policy/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The Istio kinds ctmd creates, served by the CRDs of Istio's base chart.
var (
	gatewayGVR            = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}
	virtualServiceGVR     = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	serviceEntryGVR       = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "serviceentries"}
	peerAuthenticationGVR = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}
	authorizationGVR      = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"}
	meshGVRs              = []schema.GroupVersionResource{gatewayGVR, virtualServiceGVR, serviceEntryGVR, peerAuthenticationGVR, authorizationGVR}
)

type clients struct {
	kube *kubeClients
	dyn  *dynamic.DynamicClient
	// kubeconfig is the file the clients were made from, for the tools a test runs.
	kubeconfig string
}

func newClients(t *testing.T) clients {
	t.Helper()
	return clientsOf(t, mainCluster)
}

func clientsOf(t *testing.T, c *localCluster) clients {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig())
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	kube, err := newKubeClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return clients{kube: kube, dyn: dyn, kubeconfig: c.kubeconfig()}
}

// kubeClients are the typed clients of the API groups the suite reads, with client-go's Clientset
// method names. Not the Clientset itself: it links the typed client and apply configurations of
// every API group, compile time that a cold make e2e spends on its longest lane.
type kubeClients struct {
	core      *corev1client.CoreV1Client
	apps      *appsv1client.AppsV1Client
	policy    *policyv1client.PolicyV1Client
	autoscale *autoscalingv2client.AutoscalingV2Client
	discovery *discoveryv1client.DiscoveryV1Client
	admission *admissionv1client.AdmissionregistrationV1Client
}

func newKubeClients(cfg *rest.Config) (*kubeClients, error) {
	var k kubeClients
	errs := make([]error, 6)
	k.core, errs[0] = corev1client.NewForConfig(cfg)
	k.apps, errs[1] = appsv1client.NewForConfig(cfg)
	k.policy, errs[2] = policyv1client.NewForConfig(cfg)
	k.autoscale, errs[3] = autoscalingv2client.NewForConfig(cfg)
	k.discovery, errs[4] = discoveryv1client.NewForConfig(cfg)
	k.admission, errs[5] = admissionv1client.NewForConfig(cfg)
	return &k, errors.Join(errs...)
}

func (k *kubeClients) CoreV1() corev1client.CoreV1Interface                      { return k.core }
func (k *kubeClients) AppsV1() appsv1client.AppsV1Interface                      { return k.apps }
func (k *kubeClients) PolicyV1() policyv1client.PolicyV1Interface                { return k.policy }
func (k *kubeClients) AutoscalingV2() autoscalingv2client.AutoscalingV2Interface { return k.autoscale }
func (k *kubeClients) DiscoveryV1() discoveryv1client.DiscoveryV1Interface       { return k.discovery }
func (k *kubeClients) AdmissionregistrationV1() admissionv1client.AdmissionregistrationV1Interface {
	return k.admission
}

// spec returns the spec of one custom resource as the API server stored it (after pruning).
func (c clients) spec(t *testing.T, gvr schema.GroupVersionResource, namespace, name string) any {
	t.Helper()
	obj, err := c.dyn.Resource(gvr).Namespace(namespace).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", gvr.Resource, namespace, name, err)
	}
	return obj.Object["spec"]
}

// assertJSON compares got with the JSON document want, both normalised through encoding/json so
// that integer types and key order do not matter, and shows both in full when they differ.
func assertJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	var wantV, gotV any
	if err := json.Unmarshal([]byte(want), &wantV); err != nil {
		t.Fatalf("%s: bad expected JSON: %v", what, err)
	}
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(raw, &gotV); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotV, wantV) {
		gotJSON, _ := json.MarshalIndent(gotV, "", "  ")
		wantJSON, _ := json.MarshalIndent(wantV, "", "  ")
		t.Errorf("%s differs\n got: %s\nwant: %s", what, gotJSON, wantJSON)
	}
}

// eventually polls cond every half second until it reports done, failing the test with the last
// reason after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (done bool, reason string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for {
		done, reason := cond(ctx)
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not true after %s: %s", what, timeout, reason)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// gone reports whether err is the API server's NotFound, and the reason otherwise.
func gone(err error) (bool, string) {
	switch {
	case apierrors.IsNotFound(err):
		return true, ""
	case err == nil:
		return false, "still exists"
	default:
		return false, err.Error()
	}
}
