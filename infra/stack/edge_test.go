package stack

import (
	"strings"
	"testing"

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
			"crds": {"enabled": true}, "enableCertificateOwnerRef": true, "startupapicheck": {"enabled": false},
			"serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": "ctmd-cluster-certs@`+project+`.iam.gserviceaccount.com"}}
		}
	}`)
	assertDependsOn(t, chart, "kubernetes:core/v1:Namespace::cert-manager")
	issuer := assertResource(t, s, issuerRef, "ctmd-acme", edgeComponent, k8sProvider, `{
		"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "ctmd-acme"},
		"spec": {"acme": {
			"email": "ops@example.com", "server": "https://acme-v02.api.letsencrypt.org/directory",
			"privateKeySecretRef": {"name": "ctmd-acme-account"},
			"solvers": [{"dns01": {"cloudDNS": {"project": "`+project+`", "hostedZoneName": "example-com"}}}]
		}}
	}`)
	assertDependsOn(t, issuer, certChartRef)
	cert := assertResource(t, s, certificateRef, "ctmd-edge", edgeComponent, k8sProvider, `{
		"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": {"name": "ctmd-edge", "namespace": "istio-ingress"},
		"spec": {"secretName": "ctmd-edge-tls", "dnsNames": ["api.example.com"],
			"issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "ctmd-acme"}}
	}`)
	// The CRDs, the issuer and the gateway (its chart, in the namespace the Secret goes to) first.
	assertDependsOn(t, cert, certChartRef, issuerRef+"::ctmd-acme", "kubernetes:helm.sh/v4:Chart::istio-ingressgateway")

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
	assertJSON(t, "Gateway", mockstack.Get(mockstack.Plain(s.Find(t, gatewayRef, "ctmd-gateway").Inputs), "spec"), `{
		"selector": {"istio": "ingressgateway"},
		"servers": [
			{"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["api.example.com"],
				"tls": {"mode": "SIMPLE", "credentialName": "ctmd-edge-tls"}},
			{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["api.example.com"],
				"tls": {"httpsRedirect": true}}
		]
	}`)
	vs := mockstack.Plain(s.Find(t, vsRef, "ctmd").Inputs)
	assertJSON(t, "VirtualService hosts", mockstack.Get(vs, "spec.hosts"), `["api.example.com"]`)
	assertJSON(t, "VirtualService gateways", mockstack.Get(vs, "spec.gateways"), `["ctmd-gateway"]`)
}

// The canary's header and weighted routes are the same over HTTPS.
func TestHTTPSKeepsCanaryRoutes(t *testing.T) {
	plain := mustDeploy(t, canaryConfig("20"))
	s := mustDeploy(t, func() map[string]string {
		v := canaryConfig("20")
		v["ctmd:domain"], v["ctmd:tlsIssuer"] = domain, "letsencrypt-prod"
		return v
	}())
	assertJSON(t, "routes over HTTPS", mockstack.Get(mockstack.Plain(s.Find(t, vsRef, "ctmd").Inputs), "spec.http"),
		jsonOf(t, mockstack.Get(mockstack.Plain(plain.Find(t, vsRef, "ctmd").Inputs), "spec.http")))
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
	s := mustDeploy(t, existingConfig(map[string]string{
		"ctmd:domain": domain, "ctmd:dnsZone": "example-com", "ctmd:acmeEmail": "ops@example.com", "gcp:project": "dns-project-1",
		"ctmd:certManagerChartRepository": "oci://registry.example/charts",
	}))
	chart := mockstack.Plain(s.Find(t, "kubernetes:helm.sh/v4:Chart", "cert-manager").Inputs)
	assertJSON(t, "chart source", map[string]any{"chart": chart["chart"], "repositoryOpts": chart["repositoryOpts"], "values": chart["values"]}, `{
		"chart": "oci://registry.example/charts/cert-manager", "repositoryOpts": null,
		"values": {"crds": {"enabled": true}, "enableCertificateOwnerRef": true, "startupapicheck": {"enabled": false}}
	}`)
	assertJSON(t, "solver", mockstack.Get(mockstack.Plain(s.Find(t, issuerRef, "ctmd-acme").Inputs), "spec.acme.solvers"),
		`[{"dns01": {"cloudDNS": {"project": "dns-project-1", "hostedZoneName": "example-com"}}}]`)
	for _, r := range s.Resources {
		if strings.HasPrefix(r.Type, "gcp:") {
			t.Errorf("target existing declared %s %s", r.Type, r.Name)
		}
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
