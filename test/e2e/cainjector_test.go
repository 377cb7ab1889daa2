//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cryptotracker/ctmd/infra/edge"
)

// cainjector stands in for cert-manager's cainjector, which the local cluster cannot run (kwok
// starts no containers): once the chart's webhook configurations exist and its Deployments and
// Services serve (what the engine waits for before it goes on to objects that depend on the chart),
// it watches for a ClusterIssuer for a while, and only then writes a CA bundle into both
// configurations, as cainjector does once the webhook has made its CA. Until then the webhook is
// unusable on a real cluster (x509: certificate signed by unknown authority), so any issuer it
// finds was created too early: the race of the first HTTPS up (docs/https.md).
type cainjector struct {
	done chan struct{}
	// early are the ClusterIssuers that existed before the CA bundle did.
	early []string
	err   error
}

// webhookConfiguration is the name cert-manager's chart gives both of its webhook configurations.
const webhookConfiguration = "cert-manager-webhook"

// settle is how long the stand-in watches for an issuer once the chart's workloads serve. Without
// the wait for the CA bundle, the engine created the issuer 10 s after the Deployments (measured:
// its wait for each Service's endpoints polls), so twice that.
const settle = 20 * time.Second

func startCainjector(t *testing.T, k clients) *cainjector {
	t.Helper()
	c := &cainjector{done: make(chan struct{})}
	ca, _ := selfSigned(t, "cert-manager-webhook-ca")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	go func() {
		defer close(c.done)
		defer cancel()
		c.err = c.run(ctx, k, ca)
	}()
	return c
}

func (c *cainjector) run(ctx context.Context, k clients, ca []byte) error {
	for !c.ready(ctx, k) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cert-manager's webhook configurations and Deployments never appeared: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	for deadline := time.Now().Add(settle); time.Now().Before(deadline) && len(c.early) == 0; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		issuers, err := k.dyn.Resource(clusterIssuerGVR).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing ClusterIssuers: %w", err)
		}
		for _, i := range issuers.Items {
			c.early = append(c.early, i.GetName())
		}
	}
	patch := []byte(fmt.Sprintf(`[{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": %q}]`, base64.StdEncoding.EncodeToString(ca)))
	admission := k.kube.AdmissionregistrationV1()
	if _, err := admission.ValidatingWebhookConfigurations().Patch(ctx, webhookConfiguration, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: "cert-manager-cainjector"}); err != nil {
		return fmt.Errorf("writing the CA bundle into ValidatingWebhookConfiguration %s: %w", webhookConfiguration, err)
	}
	if _, err := admission.MutatingWebhookConfigurations().Patch(ctx, webhookConfiguration, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: "cert-manager-cainjector"}); err != nil {
		return fmt.Errorf("writing the CA bundle into MutatingWebhookConfiguration %s: %w", webhookConfiguration, err)
	}
	return nil
}

// ready: both webhook configurations and the ClusterIssuer CRD exist (the chart applies its objects
// in no set order), and every Deployment of the chart is available with its Service's endpoints
// ready.
func (c *cainjector) ready(ctx context.Context, k clients) bool {
	crd, err := k.dyn.Resource(crdGVR).Get(ctx, clusterIssuerGVR.Resource+"."+clusterIssuerGVR.Group, metav1.GetOptions{})
	if err != nil || !established(crd.Object) {
		return false
	}
	admission := k.kube.AdmissionregistrationV1()
	if _, err := admission.ValidatingWebhookConfigurations().Get(ctx, webhookConfiguration, metav1.GetOptions{}); err != nil {
		return false
	}
	if _, err := admission.MutatingWebhookConfigurations().Get(ctx, webhookConfiguration, metav1.GetOptions{}); err != nil {
		return false
	}
	for _, name := range []string{"cert-manager", "cert-manager-webhook", "cert-manager-cainjector"} {
		d, err := k.kube.AppsV1().Deployments(edge.CertManagerNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil || d.Status.AvailableReplicas < 1 {
			return false
		}
		endpoints, err := k.kube.DiscoveryV1().EndpointSlices(edge.CertManagerNamespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
		if err != nil || !hasReadyEndpoint(endpoints.Items) {
			return false
		}
	}
	return true
}

// check waits for the stand-in and fails the test if an issuer came before the CA bundle, or if
// the bundle was never written (then the up could not have finished either).
func (c *cainjector) check(t *testing.T) {
	t.Helper()
	<-c.done
	if c.err != nil {
		t.Errorf("cainjector stand-in: %v", c.err)
	}
	if len(c.early) > 0 {
		slices.Sort(c.early)
		t.Errorf("ClusterIssuers %v were created before cainjector wrote the webhook's CA bundle: the first HTTPS up races cert-manager's webhook", c.early)
	}
}

func hasReadyEndpoint(endpoints []discoveryv1.EndpointSlice) bool {
	for _, s := range endpoints {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				return true
			}
		}
	}
	return false
}

// established: the API server serves the CRD's kind (its Established condition is True).
func established(crd map[string]any) bool {
	conditions, _, _ := unstructured.NestedSlice(crd, "status", "conditions")
	for _, c := range conditions {
		if c, ok := c.(map[string]any); ok && c["type"] == "Established" && c["status"] == "True" {
			return true
		}
	}
	return false
}
