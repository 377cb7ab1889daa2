//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/edge"
)

var (
	certificateGVR   = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
	clusterIssuerGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "clusterissuers"}
)

const (
	e2eDomain = "api.e2e.example.test"
	// stagingIssuer and productionIssuer are ctmd's ClusterIssuers for Let's Encrypt's directories.
	stagingIssuer    = "ctmd-acme-letsencrypt-staging"
	productionIssuer = "ctmd-acme-letsencrypt"
	// gatewayNamespace is the namespace of gatewayPrincipal, where the Certificate's Secret goes.
	gatewayNamespace = "istio-ingress"
)

// httpsKeys are the keys that turn the day-2 stack's edge to HTTPS with ctmd's own issuer on an
// existing cluster, the combination that installs cert-manager from the served chart.
func httpsKeys() auto.ConfigMap {
	return auto.ConfigMap{
		"ctmd:domain":                     {Value: e2eDomain},
		"ctmd:dnsZone":                    {Value: "e2e-example-test"},
		"ctmd:acmeEmail":                  {Value: "ops@e2e.example.test"},
		"ctmd:acmeServer":                 {Value: config.StagingACMEServer},
		"ctmd:certManagerChartRepository": {Value: env.chartRepo},
		"gcp:project":                     {Value: "ctmd-e2e-dns"},
	}
}

// checkDomainAddedAndRemoved adds a domain to a running HTTP stack and removes it again, each with
// a plain `pulumi up` followed by a preview that expects no changes. In between, cert-manager's real
// chart is installed through the engine and the API server accepts the ClusterIssuer and the
// Certificate against its real CRDs (and refuses a broken Certificate: the schema is enforced).
// Issuance itself needs an ACME server and Cloud DNS, which the offline cluster has neither of.
func checkDomainAddedAndRemoved(t *testing.T, k clients, s *testStack, out *transcript) {
	ctx := t.Context()
	// The cluster's own Istio would own the gateway's namespace; the local cluster has none.
	if _, err := k.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gatewayNamespace}}, metav1.CreateOptions{}); err == nil {
		t.Cleanup(func() {
			_ = k.kube.CoreV1().Namespaces().Delete(context.Background(), gatewayNamespace, metav1.DeleteOptions{}) // best effort: the cluster is thrown away
		})
	} else if !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := s.SetAllConfig(ctx, httpsKeys()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	injector := startCainjector(t, k)
	res := mustUp(t, s, out)
	t.Logf("adding the domain (cert-manager installed from the served chart): %s", time.Since(start).Round(time.Second))
	injector.check(t)

	if got := res.Outputs["url"].Value; got != "https://"+e2eDomain+"/api/v1/currencies" {
		t.Errorf("output url %v, want https on the domain", got)
	}
	for _, name := range []string{"cert-manager", "cert-manager-webhook", "cert-manager-cainjector"} {
		if _, err := k.kube.AppsV1().Deployments("cert-manager").Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("cert-manager's chart: Deployment %s: %v", name, err)
		}
	}
	assertJSON(t, "ClusterIssuer", k.spec(t, clusterIssuerGVR, "", stagingIssuer), `{"acme": {
		"email": "ops@e2e.example.test", "server": "`+config.StagingACMEServer+`",
		"privateKeySecretRef": {"name": "`+stagingIssuer+`-account"},
		"solvers": [{"dns01": {"cloudDNS": {"project": "ctmd-e2e-dns", "hostedZoneName": "e2e-example-test"}}}]
	}}`)
	assertJSON(t, "Certificate", k.spec(t, certificateGVR, gatewayNamespace, "ctmd-edge"), `{
		"secretName": "ctmd-edge-tls", "dnsNames": ["`+e2eDomain+`"],
		"issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "`+stagingIssuer+`"}
	}`)
	assertJSON(t, "Gateway servers", specField(t, k, gatewayGVR, "ctmd-gateway", "servers"), `[
		{"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["`+e2eDomain+`"],
			"tls": {"mode": "SIMPLE", "credentialName": "ctmd-edge-tls"}},
		{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["`+e2eDomain+`"],
			"tls": {"httpsRedirect": true}}
	]`)
	assertJSON(t, "VirtualService hosts", specField(t, k, virtualServiceGVR, "ctmd", "hosts"), `["`+e2eDomain+`"]`)
	checkCertificateSchemaEnforced(t, k)
	checkRecord(t, k, s, "cert-manager", "cert-manager", []string{
		"certificates.cert-manager.io", "certificaterequests.cert-manager.io", "issuers.cert-manager.io",
		"clusterissuers.cert-manager.io", "orders.acme.cert-manager.io", "challenges.acme.cert-manager.io"})
	s.assertNoOp(t, out)
	analyzeMesh(t, "adding the domain", withoutIstio)

	// From staging to production as docs/https.md says: the Certificate names the production
	// issuer, so cert-manager issues again, and the staging issuer goes.
	s.cli(t, docCommand(t, "https.md", "pulumi config rm acmeServer")...)
	mustUp(t, s, out)
	cert, _ := k.spec(t, certificateGVR, gatewayNamespace, "ctmd-edge").(map[string]any)
	assertJSON(t, "Certificate's issuer after the switch to production", cert["issuerRef"],
		`{"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "`+productionIssuer+`"}`)
	issuer, _ := k.spec(t, clusterIssuerGVR, "", productionIssuer).(map[string]any)
	if acme, _ := issuer["acme"].(map[string]any); acme["server"] != config.DefaultACMEServer {
		t.Errorf("ClusterIssuer %s's server %v, want %s", productionIssuer, acme["server"], config.DefaultACMEServer)
	}
	if done, reason := gone(getErr(k, clusterIssuerGVR, "", stagingIssuer)); !done {
		t.Errorf("the staging issuer after the switch to production: %s", reason)
	}
	s.assertNoOp(t, out)

	// The removal docs/https.md gives, then the keys only this test sets.
	s.cli(t, docCommand(t, "https.md", "pulumi config rm-all domain")...)
	for _, key := range []string{"ctmd:certManagerChartRepository", "gcp:project"} {
		if err := s.RemoveConfig(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	mustUp(t, s, out)
	t.Logf("removing the domain: %s", time.Since(start).Round(time.Second))
	assertJSON(t, "Gateway servers", specField(t, k, gatewayGVR, "ctmd-gateway", "servers"),
		`[{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]`)
	for what, err := range map[string]error{
		"Certificate":   getErr(k, certificateGVR, gatewayNamespace, "ctmd-edge"),
		"ClusterIssuer": getErr(k, clusterIssuerGVR, "", productionIssuer),
	} {
		if done, reason := gone(err); !done {
			t.Errorf("%s still there after the domain was removed: %s", what, reason)
		}
	}
	if _, err := k.kube.AppsV1().Deployments("cert-manager").Get(ctx, "cert-manager", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("cert-manager's controller after the domain was removed: %v, want it uninstalled", err)
	}
	// The CRDs' record has no delete hook: the CRDs stay, as the chart's crds.keep would keep
	// them; deleting them would delete every cert-manager object of the cluster (docs/https.md).
	if _, err := k.dyn.Resource(crdGVR).Get(ctx, "certificates.cert-manager.io", metav1.GetOptions{}); err != nil {
		t.Errorf("cert-manager's Certificate CRD after the domain was removed: %v, want it kept", err)
	}
	s.assertNoOp(t, out)
	analyzeMesh(t, "removing the domain", withoutIstio)
}

// checkCertificateSchemaEnforced proves the API server checks cert-manager's kinds against the
// chart's CRDs: a Certificate whose issuerRef lacks its required name is refused.
func checkCertificateSchemaEnforced(t *testing.T, k clients) {
	t.Helper()
	broken := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": map[string]any{"name": "ctmd-edge-broken", "namespace": gatewayNamespace},
		"spec":     map[string]any{"secretName": "x", "dnsNames": []any{e2eDomain}, "issuerRef": map[string]any{"kind": "ClusterIssuer"}},
	}}
	_, err := k.dyn.Resource(certificateGVR).Namespace(gatewayNamespace).Create(t.Context(), broken, metav1.CreateOptions{})
	if err == nil {
		_ = k.dyn.Resource(certificateGVR).Namespace(gatewayNamespace).Delete(context.Background(), broken.GetName(), metav1.DeleteOptions{}) // best effort
		t.Fatal("the API server accepted a Certificate without issuerRef.name: cert-manager's CRD schema is not enforced")
	}
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "issuerRef.name") {
		t.Errorf("broken Certificate refused with %v, want a schema error on spec.issuerRef.name", err)
	}
}

func specField(t *testing.T, k clients, gvr schema.GroupVersionResource, name, field string) any {
	t.Helper()
	spec, _ := k.spec(t, gvr, namespace, name).(map[string]any)
	return spec[field]
}

// getErr is the error of reading one object (nil when it exists); ns "" for cluster-scoped kinds.
func getErr(k clients, gvr schema.GroupVersionResource, ns, name string) error {
	_, err := k.dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	return err
}

// checkCredentialAnalyzed gives a stack whose Istio ctmd installs a domain. Its gateway has pods,
// so istioctl analyze looks up the Gateway's credentialName in the gateway's namespace. Offline,
// cert-manager never issues the certificate and the analyzer must say so (IST0101 on the
// credential); the Secret cert-manager writes once it has (a self-signed certificate for the
// domain here) makes the analysis clean.
func checkCredentialAnalyzed(t *testing.T, k clients, s *testStack, out *transcript, a analysis) {
	ctx := t.Context()
	if err := s.SetAllConfig(ctx, httpsKeys()); err != nil {
		t.Fatal(err)
	}
	injector := startCainjector(t, k)
	mustUp(t, s, out)
	injector.check(t)
	report, err := istioctlAnalyze(t, namespace, a)
	if err == nil || !strings.Contains(report, "IST0101") || !strings.Contains(report, edge.CredentialName) {
		t.Errorf("istioctl analyze -n %s before the certificate is issued: error %v, want IST0101 on credentialName %s:\n%s", namespace, err, edge.CredentialName, report)
	}
	certPEM, keyPEM := selfSigned(t, e2eDomain)
	issued := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: edge.CredentialName, Namespace: gatewayNamespace},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM},
	}
	if _, err := k.kube.CoreV1().Secrets(gatewayNamespace).Create(ctx, issued, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	analyzeMesh(t, "the certificate is issued", a)
}

// selfSigned is a certificate for host and its key, PEM-encoded as in a kubernetes.io/tls Secret.
func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// TestCertManagerOfAnotherTeam: on an existing cluster that already runs a cert-manager installed
// by someone else, a stack asked to install its own refuses at preview and at up, declares
// nothing, and leaves that installation as it was.
func TestCertManagerOfAnotherTeam(t *testing.T) {
	mainCluster.hold(t)
	ctx := t.Context()
	k := newClients(t)
	const theirs = "security"
	if _, err := k.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: theirs}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k.kube.CoreV1().Namespaces().Delete(context.Background(), theirs, metav1.DeleteOptions{}) // best effort: the cluster is thrown away
	})
	labels := map[string]string{"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"}
	controller := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "cert-manager", Namespace: theirs, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "cert-manager-controller", Image: "quay.io/jetstack/cert-manager-controller:v1.19.1"}}},
			},
		},
	}
	before, err := k.kube.AppsV1().Deployments(theirs).Create(ctx, controller, metav1.CreateOptions{FieldManager: "helm"})
	if err != nil {
		t.Fatal(err)
	}

	out := &transcript{}
	s := newExistingStack(t, "e2e-foreign-cert-manager", httpsKeys())
	const refused = "the cluster already runs one (Deployment security/cert-manager, written by helm)"
	if _, err := s.Preview(ctx, optpreview.ProgressStreams(out), optpreview.ErrorProgressStreams(out)); err == nil || !strings.Contains(out.String(), refused) {
		t.Errorf("preview: error %v, want the refusal %q in its output", err, refused)
	}
	if _, err := s.Up(ctx, optup.ProgressStreams(out), optup.ErrorProgressStreams(out)); err == nil {
		t.Errorf("up installed a second cert-manager over another team's")
	}
	// The cluster's controllers write its status and revision; nothing of Pulumi's wrote to it.
	after, err := k.kube.AppsV1().Deployments(theirs).Get(ctx, "cert-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var managers []string
	for _, f := range after.ManagedFields {
		managers = append(managers, f.Manager)
	}
	if after.Generation != before.Generation || !maps.Equal(after.Labels, before.Labels) ||
		slices.ContainsFunc(managers, func(m string) bool { return strings.HasPrefix(m, "pulumi") }) {
		t.Errorf("another team's cert-manager after the refused up: generation %d (was %d), labels %v, written by %v",
			after.Generation, before.Generation, after.Labels, managers)
	}
	if _, err := k.kube.CoreV1().Namespaces().Get(ctx, edge.CertManagerNamespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after the refused up: %v, want none", edge.CertManagerNamespace, err)
	}
	if state := s.cli(t, "stack", "export"); strings.Contains(state, "kubernetes:") {
		t.Errorf("the refused up left kubernetes resources in the state")
	}
}
