package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/internal/crds"
	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

const (
	domain         = "api.example.com"
	edgeComponent  = "ctmd:edge:Certificate::edge"
	gatewayRef     = "kubernetes:networking.istio.io/v1:Gateway"
	certificateRef = "kubernetes:cert-manager.io/v1:Certificate"
	issuerRef      = "kubernetes:cert-manager.io/v1:ClusterIssuer"
	certChartRef   = "kubernetes:helm.sh/v4:Chart::cert-manager"
)

// ctmd's own issuer on gke: the domain, its Cloud DNS zone, the ACME account.
func gkeHTTPS(extra map[string]string) map[string]string {
	v := gkeConfig(map[string]string{"ctmd:domain": domain, "ctmd:dnsZone": "example-com", "ctmd:acmeEmail": "ops@example.com"})
	for k, val := range extra {
		v[k] = val
	}
	return v
}

// HTTPS on gke: cert-manager from its chart, ctmd's ACME issuer solving DNS-01 in the zone through
// Workload Identity, the Certificate in the gateway's namespace, the A record on the reserved
// address, and the https url.
func TestHTTPSOnGKE(t *testing.T) {
	s := mustDeploy(t, gkeHTTPS(nil))

	chart := assertResource(t, s, "kubernetes:helm.sh/v4:Chart", "cert-manager", edgeComponent, k8sProvider, `{
		"name": "cert-manager", "chart": "cert-manager", "version": "v1.21.2", "namespace": "cert-manager",
		"repositoryOpts": {"repo": "https://charts.jetstack.io"},
		"values": {
			"crds": {"enabled": false}, "enableCertificateOwnerRef": true, "startupapicheck": {"enabled": false},
			"webhook": {
				"validatingWebhookConfigurationAnnotations": {"pulumi.com/waitFor": "jsonpath={.webhooks[0].clientConfig.caBundle}"},
				"mutatingWebhookConfigurationAnnotations": {"pulumi.com/waitFor": "jsonpath={.webhooks[0].clientConfig.caBundle}"}
			},
			"serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": "ctmd-cluster-certs@`+project+`.iam.gserviceaccount.com"}}
		}
	}`)
	// The chart leaves its CRDs to their record, whose hook applies them before the chart runs.
	record := assertCRDRecord(t, s, "cert-manager", "cert-manager", "cert-manager", "v1.21.2", `{"crds": {"enabled": true}}`)
	assertDependsOn(t, record, "kubernetes:core/v1:Namespace::cert-manager")
	assertDependsOn(t, chart, "kubernetes:core/v1:Namespace::cert-manager", "kubernetes:core/v1:ConfigMap::cert-manager-crds")
	issuer := assertResource(t, s, issuerRef, "ctmd-acme-letsencrypt", edgeComponent, k8sProvider, `{
		"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "ctmd-acme-letsencrypt"},
		"spec": {"acme": {
			"email": "ops@example.com", "server": "https://acme-v02.api.letsencrypt.org/directory",
			"privateKeySecretRef": {"name": "ctmd-acme-letsencrypt-account"},
			"solvers": [{"dns01": {"cloudDNS": {"project": "`+project+`", "hostedZoneName": "example-com"}}}]
		}}
	}`)
	assertDependsOn(t, issuer, certChartRef)
	cert := assertResource(t, s, certificateRef, "ctmd-edge", edgeComponent, k8sProvider, `{
		"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": {"name": "ctmd-edge", "namespace": "istio-ingress"},
		"spec": {"secretName": "ctmd-edge-tls", "dnsNames": ["api.example.com"],
			"issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "ctmd-acme-letsencrypt"}}
	}`)
	// The CRDs, the issuer and the gateway (its chart, in the namespace the Secret goes to) first.
	assertDependsOn(t, cert, certChartRef, issuerRef+"::ctmd-acme-letsencrypt", "kubernetes:helm.sh/v4:Chart::istio-ingressgateway")

	// Google side: a key-less service account cert-manager's KSA acts as, DNS admin on the zone
	// only (no project-level grant), and the A record.
	assertResource(t, s, "gcp:serviceaccount/account:Account", "ctmd-cluster-certs", edgeComponent, "", `{
		"project": "`+project+`", "accountId": "ctmd-cluster-certs",
		"displayName": "cert-manager of ctmd-cluster (DNS-01 in example-com)"
	}`)
	wi := assertResource(t, s, "gcp:serviceaccount/iAMMember:IAMMember", "ctmd-cluster-certs-workloadIdentityUser", edgeComponent, "", `{
		"serviceAccountId": "projects/`+project+`/serviceAccounts/ctmd-cluster-certs@`+project+`.iam.gserviceaccount.com",
		"role": "roles/iam.workloadIdentityUser",
		"member": "serviceAccount:`+project+`.svc.id.goog[cert-manager/cert-manager]"
	}`)
	// The workload pool exists only with the cluster.
	assertDependsOn(t, wi, k8sProvider)
	assertResource(t, s, "gcp:dns/dnsManagedZoneIamMember:DnsManagedZoneIamMember", "ctmd-cluster-certs-dnsAdmin", edgeComponent, "", `{
		"project": "`+project+`", "managedZone": "example-com", "role": "roles/dns.admin",
		"member": "serviceAccount:ctmd-cluster-certs@`+project+`.iam.gserviceaccount.com"
	}`)
	for _, typ := range []string{"gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding"} {
		for _, name := range s.OfType(typ) {
			if strings.Contains(name, "certs") {
				t.Errorf("%s %s: cert-manager must get no project-wide role", typ, name)
			}
		}
	}
	assertResource(t, s, "gcp:dns/recordSet:RecordSet", domain, edgeComponent, "", `{
		"project": "`+project+`", "managedZone": "example-com", "name": "api.example.com.",
		"type": "A", "ttl": 300, "rrdatas": ["`+mockstack.AddressFor("ctmd-cluster-ingress")+`"]
	}`)

	assertHTTPSRoutes(t, s)
	if got := s.outputs["url"].Value; got != "https://api.example.com/api/v1/currencies" {
		t.Errorf("url %v, want the https URL of the domain", got)
	}
}

// assertHTTPSRoutes checks the Gateway serves HTTPS for the domain alone with the Certificate's
// Secret, redirects port 80, and the VirtualService keeps routing /api for that host.
func assertHTTPSRoutes(t *testing.T, s *run) {
	t.Helper()
	mockstack.AssertJSON(t, "Gateway", mockstack.Get(mockstack.Plain(s.Find(t, gatewayRef, "ctmd-gateway").Inputs), "spec"), `{
		"selector": {"istio": "ingressgateway"},
		"servers": [
			{"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["api.example.com"],
				"tls": {"mode": "SIMPLE", "credentialName": "ctmd-edge-tls"}},
			{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["api.example.com"],
				"tls": {"httpsRedirect": true}}
		]
	}`)
	vs := mockstack.Plain(s.Find(t, vsRef, "ctmd").Inputs)
	mockstack.AssertJSON(t, "VirtualService hosts", mockstack.Get(vs, "spec.hosts"), `["api.example.com"]`)
	mockstack.AssertJSON(t, "VirtualService gateways", mockstack.Get(vs, "spec.gateways"), `["ctmd-gateway"]`)
	for i, r := range mockstack.Get(vs, "spec.http").([]any) {
		mockstack.AssertJSON(t, fmt.Sprintf("route %d's response headers", i+1), r.(map[string]any)["headers"],
			`{"response": {"set": {"Strict-Transport-Security": "max-age=31536000; includeSubDomains"}}}`)
	}
}

// The canary's header and weighted routes are the same over HTTPS, which adds HSTS to the answers
// (and plain HTTP does not: browsers ignore it there, RFC 6797 8.1).
func TestHTTPSKeepsCanaryRoutes(t *testing.T) {
	plain := mustDeploy(t, canaryConfig("20"))
	s := mustDeploy(t, func() map[string]string {
		v := canaryConfig("20")
		v["ctmd:domain"], v["ctmd:tlsIssuer"] = domain, "letsencrypt-prod"
		return v
	}())
	routes := mockstack.Get(mockstack.Plain(s.Find(t, vsRef, "ctmd").Inputs), "spec.http").([]any)
	for _, r := range routes {
		delete(r.(map[string]any), "headers")
	}
	mockstack.AssertJSON(t, "routes over HTTPS but their headers", routes,
		jsonOf(t, mockstack.Get(mockstack.Plain(plain.Find(t, vsRef, "ctmd").Inputs), "spec.http")))
	for _, r := range mockstack.Get(mockstack.Plain(plain.Find(t, vsRef, "ctmd").Inputs), "spec.http").([]any) {
		if h, ok := r.(map[string]any)["headers"]; ok {
			t.Errorf("a plain HTTP route sets headers %v", h)
		}
	}
	if routes := mockstack.Get(mockstack.Plain(s.Find(t, vsRef, "ctmd").Inputs), "spec.http").([]any); len(routes) != 2 {
		t.Errorf("%d routes, want the canary's header route and the weighted one", len(routes))
	}
}

// The cluster's own issuer: only the Certificate, in the namespace of the configured gateway
// identity; no cert-manager, no issuer, nothing on Google's side.
func TestHTTPSWithClusterIssuer(t *testing.T) {
	s := mustDeploy(t, existingConfig(map[string]string{"ctmd:domain": domain, "ctmd:tlsIssuer": "letsencrypt-prod"}))
	cert := assertResource(t, s, certificateRef, "ctmd-edge", edgeComponent, "pulumi:providers:kubernetes::existing", `{
		"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": {"name": "ctmd-edge", "namespace": "istio-system"},
		"spec": {"secretName": "ctmd-edge-tls", "dnsNames": ["api.example.com"],
			"issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt-prod"}}
	}`)
	if len(cert.DependsOn) != 0 {
		t.Errorf("Certificate depends on %v, want nothing the stack declares", cert.DependsOn)
	}
	for _, typ := range []string{"kubernetes:helm.sh/v4:Chart", issuerRef, "gcp:dns/recordSet:RecordSet", "gcp:serviceaccount/account:Account"} {
		if names := s.OfType(typ); len(names) != 0 {
			t.Errorf("%s declared: %v", typ, names)
		}
	}
	assertHTTPSRoutes(t, s)
	if got := s.outputs["url"].Value; got != "https://api.example.com/api/v1/currencies" {
		t.Errorf("url %v", got)
	}
}

// ctmd's issuer on an existing cluster: cert-manager and the issuer, but no GCP resource and no
// Workload Identity annotation (the user grants the role; docs/https.md).
func TestHTTPSOnExistingWithOwnIssuer(t *testing.T) {
	cluster, kubeconfig := newAPIServer(t)
	s := mustDeploy(t, existingConfig(map[string]string{
		"ctmd:domain": domain, "ctmd:dnsZone": "example-com", "ctmd:acmeEmail": "ops@example.com", "gcp:project": "dns-project-1",
		"ctmd:certManagerChartRepository": "oci://registry.example/charts", "ctmd:kubeconfig": kubeconfig,
	}))
	if got := cluster.asked(); got != "app.kubernetes.io/name=cert-manager" {
		t.Errorf("the program asked the cluster for Deployments labelled %q, want cert-manager's controller", got)
	}
	chart := mockstack.Plain(s.Find(t, "kubernetes:helm.sh/v4:Chart", "cert-manager").Inputs)
	mockstack.AssertJSON(t, "chart source", map[string]any{"chart": chart["chart"], "repositoryOpts": chart["repositoryOpts"], "values": chart["values"]}, `{
		"chart": "oci://registry.example/charts/cert-manager", "repositoryOpts": null,
		"values": {"crds": {"enabled": false}, "enableCertificateOwnerRef": true, "startupapicheck": {"enabled": false},
			"webhook": {
				"validatingWebhookConfigurationAnnotations": {"pulumi.com/waitFor": "jsonpath={.webhooks[0].clientConfig.caBundle}"},
				"mutatingWebhookConfigurationAnnotations": {"pulumi.com/waitFor": "jsonpath={.webhooks[0].clientConfig.caBundle}"}
			}}
	}`)
	mockstack.AssertJSON(t, "solver", mockstack.Get(mockstack.Plain(s.Find(t, issuerRef, "ctmd-acme-letsencrypt").Inputs), "spec.acme.solvers"),
		`[{"dns01": {"cloudDNS": {"project": "dns-project-1", "hostedZoneName": "example-com"}}}]`)
	for _, r := range s.Resources {
		if strings.HasPrefix(r.Type, "gcp:") {
			t.Errorf("target existing declared %s %s", r.Type, r.Name)
		}
	}
}

// Trying Let's Encrypt's staging directory first and then removing ctmd:acmeServer (docs/https.md)
// must end in a trusted certificate: the Certificate names another issuer, the one for the
// production directory, and cert-manager issues again when a Certificate's issuer changes (not
// when an issuer's server does: cert-manager/cert-manager#4223).
func TestACMEServerSwitchChangesTheCertificatesIssuer(t *testing.T) {
	issuerOf := func(s *run) (name, server string) {
		t.Helper()
		name, _ = mockstack.Get(mockstack.Plain(s.Find(t, certificateRef, "ctmd-edge").Inputs), "spec.issuerRef.name").(string)
		if issuers := s.OfType(issuerRef); len(issuers) != 1 || issuers[0] != name {
			t.Fatalf("ClusterIssuers %v, want one: %q, the Certificate's", issuers, name)
		}
		server, _ = mockstack.Get(mockstack.Plain(s.Find(t, issuerRef, name).Inputs), "spec.acme.server").(string)
		return name, server
	}
	stagingName, stagingServer := issuerOf(mustDeploy(t, gkeHTTPS(map[string]string{"ctmd:acmeServer": config.StagingACMEServer})))
	productionName, productionServer := issuerOf(mustDeploy(t, gkeHTTPS(nil)))
	if stagingName == productionName {
		t.Errorf("staging and production both issue through ClusterIssuer %q: switching would keep the staging certificate until its renewal", stagingName)
	}
	if stagingServer != config.StagingACMEServer || productionServer != config.DefaultACMEServer {
		t.Errorf("issuers' servers: %q and %q, want staging's and production's", stagingServer, productionServer)
	}
}

// On an existing cluster that already runs a cert-manager of its own, ctmd refuses to install
// another over it (and so never deletes it later); the one ctmd installed, with ctmd's mark, is
// upgraded in place; and an issuer of the cluster's own needs no look at all.
func TestHTTPSOnExistingRefusesAForeignCertManager(t *testing.T) {
	own := existingConfig(map[string]string{
		"ctmd:domain": domain, "ctmd:dnsZone": "example-com", "ctmd:acmeEmail": "ops@example.com", "gcp:project": "dns-project-1",
	})
	for _, tt := range []struct {
		name    string
		running metav1.PartialObjectMetadata
		want    string
	}{
		{"installed with helm", certManagerController("cert-manager", nil, "helm"),
			"the cluster already runs one (Deployment cert-manager/cert-manager, written by helm)"},
		{"in a namespace of its own", certManagerController("security", map[string]string{"pulumi.com/patchForce": "true"}, "pulumi-kubernetes-1f2e"),
			"(Deployment security/cert-manager, written by pulumi-kubernetes-1f2e)"},
		{"ctmd's own", certManagerController("cert-manager", map[string]string{"pulumi.com/patchForce": "true"}, "pulumi-kubernetes-1f2e"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, kubeconfig := newAPIServer(t, tt.running)
			own["ctmd:kubeconfig"] = kubeconfig
			s, err := deploy(t, own)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ctmd's own cert-manager refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "pulumi config set ctmd:tlsIssuer <cluster-issuer>") {
				t.Fatalf("error %v, want one naming the Deployment (%s) and how to use its issuer", err, tt.want)
			}
			if len(s.Resources) != 0 {
				t.Errorf("%d resources declared before the refusal", len(s.Resources))
			}
		})
	}
	t.Run("the cluster's issuer", func(t *testing.T) {
		cluster, kubeconfig := newAPIServer(t, certManagerController("cert-manager", nil, "helm"))
		mustDeploy(t, existingConfig(map[string]string{"ctmd:domain": domain, "ctmd:tlsIssuer": "letsencrypt-prod", "ctmd:kubeconfig": kubeconfig}))
		if got := cluster.asked(); got != "" {
			t.Errorf("the program asked the cluster for %q, with nothing to install", got)
		}
	})
}

// On gke the preview reads the zone and refuses a domain outside it before anything is declared,
// where the first up would otherwise fail at the A record, after cert-manager was installed.
func TestDomainOutsideTheZoneFailsPreview(t *testing.T) {
	s, err := deploy(t, gkeHTTPS(map[string]string{"ctmd:domain": "api.example.org"}))
	want := `config "ctmd:domain" "api.example.org" is not in the Cloud DNS zone "ctmd:dnsZone" "example-com", which holds example.com`
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "pulumi config set ctmd:dnsZone <zone-name>") {
		t.Fatalf("error %v, want %q and the command", err, want)
	}
	if len(s.Resources) != 0 {
		t.Errorf("%d resources declared before the error", len(s.Resources))
	}
	// The zone's own name and any name under it are in it; a name that merely ends the same is not.
	for domain, in := range map[string]bool{"example.com": true, "a.b.example.com": true, "badexample.com": false} {
		_, err := deploy(t, gkeHTTPS(map[string]string{"ctmd:domain": domain}))
		if (err == nil) != in {
			t.Errorf("domain %s: error %v, want in the zone %v", domain, err, in)
		}
	}
	_, err = deploy(t, gkeHTTPS(map[string]string{"ctmd:dnsZone": "private-example-com", "ctmd:domain": "api.private.example.com"}))
	if err == nil || !strings.Contains(err.Error(), `the Cloud DNS zone "ctmd:dnsZone" "private-example-com" is private`) {
		t.Errorf("a private zone: error %v, want it refused", err)
	}
	if got := mustDeploy(t, gkeHTTPS(nil)).Invokes; !slices.Equal(got, []string{"gcp:dns/getManagedZone:getManagedZone", crds.TemplateToken, crds.TemplateToken}) {
		t.Errorf("invokes %v, want the zone read once", got)
	}
}

// Without a domain nothing of the edge exists and the routes stay plain HTTP for any host.
func TestNoDomainKeepsHTTP(t *testing.T) {
	s := mustDeploy(t, gkeConfig(nil))
	for _, typ := range []string{certificateRef, issuerRef, "gcp:dns/recordSet:RecordSet"} {
		if names := s.OfType(typ); len(names) != 0 {
			t.Errorf("%s declared without a domain: %v", typ, names)
		}
	}
	if got, _ := s.outputs["url"].Value.(string); !strings.HasPrefix(got, "http://") {
		t.Errorf("url %q, want plain http on the address", got)
	}
}

// A contradictory combination stops the program before any resource is declared.
func TestEdgeConfigErrorStopsPreview(t *testing.T) {
	s, err := deploy(t, gkeHTTPS(map[string]string{"ctmd:tlsIssuer": "letsencrypt-prod"}))
	if err == nil || !strings.Contains(err.Error(), "pulumi config rm ctmd:tlsIssuer") {
		t.Fatalf("error %v, want one naming pulumi config rm ctmd:tlsIssuer", err)
	}
	if len(s.Resources) != 0 {
		t.Errorf("%d resources declared before the error", len(s.Resources))
	}
}

// docs/https.md's adoption of an A record that already exists: `pulumi import` of the record under
// the type, name and parent the program declares it with, and an ID in the provider's import format
// for the program's own zone, name and type, unprotected (the domain's removal deletes the record).
// The import itself needs Cloud DNS, which no test reaches.
func TestDocsImportTheARecordTheProgramDeclares(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "docs", "https.md"))
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for line := range strings.Lines(string(text)) {
		if strings.HasPrefix(line, "pulumi import gcp:dns/recordSet:RecordSet ") {
			args = strings.Fields(line)[2:]
		}
	}
	if len(args) != 8 {
		t.Fatalf("docs/https.md: import command arguments %q, want type, name, id, --parent and its value, --protect=false, --generate-code=false, --yes", args)
	}
	// The docs' placeholders: project my-project-id, zone example-com, domain api.example.com.
	s := mustDeploy(t, gkeHTTPS(nil))
	record := s.Find(t, "gcp:dns/recordSet:RecordSet", domain)
	in := mockstack.Plain(record.Inputs)
	id := fmt.Sprintf("projects/my-project-id/managedZones/%s/rrsets/%s/%s", in["managedZone"], in["name"], in["type"])
	want := []string{record.Type, record.Name, id, "--parent", "edge=urn:pulumi:dev::ctmd::" + record.Parent}
	if !slices.Equal(args[:5], want) || !slices.Contains(args, "--protect=false") {
		t.Errorf("docs/https.md imports %q, want %q", args, want)
	}
}
