package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Edge is how the public reaches the API: plain HTTP on the gateway's address when Domain is
// empty, otherwise HTTPS for Domain with a certificate cert-manager issues and renews.
//
// Who issues the certificate, by target and keys:
//   - gke, domain + dnsZone + acmeEmail: ctmd installs cert-manager and its own ACME ClusterIssuer
//     (DNS-01 through the Cloud DNS zone dnsZone of gcp:project, with a Google service account
//     cert-manager acts as through Workload Identity), and writes the domain's A record.
//   - existing, domain + tlsIssuer: the cluster's own ClusterIssuer; ctmd installs nothing and
//     touches no DNS.
//   - existing, domain + dnsZone + acmeEmail (+ gcp:project, the zone's project): ctmd installs
//     cert-manager and the same ClusterIssuer as on gke, but declares no GCP resource (target
//     existing never does): the user grants cert-manager's Kubernetes service account the DNS
//     role on the zone and writes the A record (docs/https.md).
type Edge struct {
	// Domain is the API's public DNS name; empty keeps the HTTP-only edge.
	Domain string
	// Issuer is the ClusterIssuer the Certificate names: ctmd's own for ACMEServer (OwnIssuer) or
	// ctmd:tlsIssuer.
	Issuer string
	// InstallCertManager is true when the issuer is ctmd's own: the stack installs cert-manager
	// (CertManagerVersion from CertManagerChartRepository) and declares the ClusterIssuer.
	InstallCertManager bool
	// ACMEEmail and ACMEServer are the ACME account of ctmd's own issuer.
	ACMEEmail, ACMEServer string
	// DNSZone is the Cloud DNS managed zone (its name, not its DNS name) holding Domain, in
	// DNSProject; the DNS-01 challenges are written there.
	DNSZone, DNSProject string
	// WriteDNS is true on target gke: the stack writes Domain's A record to the ingress address and
	// grants cert-manager's Google service account the DNS role on the zone.
	WriteDNS                   bool
	CertManagerVersion         string
	CertManagerChartRepository string
}

// HTTPS tells whether the edge serves HTTPS.
func (e Edge) HTTPS() bool { return e.Domain != "" }

// Defaults of the edge keys.
const (
	// DefaultACMEServer is Let's Encrypt's production directory; StagingACMEServer issues
	// untrusted certificates under far higher rate limits, for trying the setup out
	// (https://letsencrypt.org/docs/staging-environment/).
	DefaultACMEServer = "https://acme-v02.api.letsencrypt.org/directory"
	StagingACMEServer = "https://acme-staging-v02.api.letsencrypt.org/directory"
	// DefaultCertManagerVersion is versions.env CERT_MANAGER_VERSION (a test keeps them equal).
	DefaultCertManagerVersion = "v1.21.2"
	// DefaultCertManagerChartRepository is cert-manager's official Helm repository
	// (https://cert-manager.io/docs/installation/helm/).
	DefaultCertManagerChartRepository = "https://charts.jetstack.io"
)

// OwnIssuer names the ClusterIssuer ctmd declares for an ACME server: one per server, so that
// changing ctmd:acmeServer (staging, then production, as docs/https.md advises) changes the
// Certificate's issuerRef, which makes cert-manager issue again ("Issuing certificate as Secret was
// previously issued by ...", SecretIssuerAnnotationsMismatch in cert-manager v1.21.2's
// internal/controller/certificates/policies/checks.go). A change to the server of one issuer does
// not: the staging certificate would stay until its renewal, about 60 days on
// (cert-manager/cert-manager#4223). Let's Encrypt's two directories get names a person reads;
// another server a digest of its URL.
func OwnIssuer(server string) string {
	switch server {
	case DefaultACMEServer:
		return "ctmd-acme-letsencrypt"
	case StagingACMEServer:
		return "ctmd-acme-letsencrypt-staging"
	}
	sum := sha256.Sum256([]byte(server))
	return "ctmd-acme-" + hex.EncodeToString(sum[:5])
}

var (
	// A fully qualified DNS name without a wildcard: the certificate is for this one name.
	domainPattern = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// A Cloud DNS managed zone name: "The name must be 1-63 characters long, must begin with a
	// letter, end with a letter or digit, and only contain lowercase letters, digits or dashes"
	// (ManagedZone.name, https://cloud.google.com/dns/docs/reference/rest/v1/managedZones).
	dnsZonePattern = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// A Kubernetes object name (DNS subdomain), which a ClusterIssuer's is.
	issuerPattern       = regexp.MustCompile(`^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$`)
	emailPattern        = regexp.MustCompile(`^[^@\s]+@([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$`)
	chartVersionPattern = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)
)

// edge reads the edge keys. project is gcp:project as Load read it for target gke ("" elsewhere).
func (r *reader) edge(target Target, project string) Edge {
	e := Edge{
		Domain:                     r.matching("domain", "", domainPattern, "a fully qualified DNS name without a wildcard, in lowercase", "api.example.com"),
		ACMEServer:                 r.acmeServer("acmeServer"),
		CertManagerVersion:         r.matching("certManagerVersion", DefaultCertManagerVersion, chartVersionPattern, "a cert-manager release such as "+DefaultCertManagerVersion, DefaultCertManagerVersion),
		CertManagerChartRepository: r.chartRepository("certManagerChartRepository", DefaultCertManagerChartRepository),
	}
	zone := r.matching("dnsZone", "", dnsZonePattern, "the name of a Cloud DNS managed zone (gcloud dns managed-zones list)", "<zone-name>")
	email := r.matching("acmeEmail", "", emailPattern, "an email address for the ACME account (expiry notices)", "ops@example.com")
	issuer := r.matching("tlsIssuer", "", issuerPattern, "the name of a ClusterIssuer of the cluster (kubectl get clusterissuers)", "<cluster-issuer>")
	// The engine applies Pulumi.yaml's default to real runs, so only a changed server can be told
	// apart from an unset one (as with canaryWeight).
	serverSet := e.ACMEServer != DefaultACMEServer

	if e.Domain == "" {
		set := map[string]bool{"dnsZone": zone != "", "acmeEmail": email != "", "tlsIssuer": issuer != "", "acmeServer": serverSet}
		for _, key := range []string{"dnsZone", "acmeEmail", "acmeServer", "tlsIssuer"} {
			if set[key] {
				r.fail(fmt.Errorf(`config %q is set but ctmd:domain is not: there is no certificate to issue; serve HTTPS with pulumi config set ctmd:domain api.example.com, or remove it with pulumi config rm %[1]s`, Namespace+":"+key))
			}
		}
		r.warn("ctmd:domain is not set: the API is served over plain HTTP on the gateway's address; serve it over HTTPS with pulumi config set ctmd:domain api.example.com (docs/https.md)")
		return e
	}

	if issuer != "" {
		// The user's issuer: every key of ctmd's own issuer contradicts it.
		if target == TargetGKE {
			r.fail(errors.New(`config "ctmd:tlsIssuer" is only used with ctmd:target existing (a cluster the stack creates has no ClusterIssuer of its own; ctmd issues through ctmd:dnsZone): remove it with pulumi config rm ctmd:tlsIssuer`))
		}
		for key, isSet := range map[string]bool{"dnsZone": zone != "", "acmeEmail": email != "", "acmeServer": serverSet} {
			if isSet {
				r.fail(fmt.Errorf(`config %q configures ctmd's own issuer, but ctmd:tlsIssuer names the cluster's: remove it with pulumi config rm %[1]s, or let ctmd issue with pulumi config rm ctmd:tlsIssuer`, Namespace+":"+key))
			}
		}
		e.Issuer = issuer
		return e
	}

	e.Issuer, e.InstallCertManager, e.ACMEEmail, e.DNSZone = OwnIssuer(e.ACMEServer), true, email, zone
	if zone == "" {
		hint := ""
		if target == TargetExisting {
			hint = ", or use a ClusterIssuer the cluster already has with pulumi config set ctmd:tlsIssuer <cluster-issuer>"
		}
		r.fail(fmt.Errorf(`missing required config "ctmd:dnsZone" (needed with ctmd:domain: certificates are issued through DNS-01 in that Cloud DNS zone): set it with pulumi config set ctmd:dnsZone <zone-name>%s`, hint))
	}
	if email == "" {
		r.fail(errors.New(`missing required config "ctmd:acmeEmail" (needed with ctmd:domain: the ACME account's address, where expiry notices go): set it with pulumi config set ctmd:acmeEmail ops@example.com`))
	}
	switch target {
	case TargetGKE:
		e.DNSProject, e.WriteDNS = project, true
	case TargetExisting:
		// The zone's project: gcp:project is otherwise a gke key, read here only for the issuer.
		e.DNSProject = r.gcpProjectFor(`ctmd:dnsZone on target existing: the project of the zone`)
	}
	return e
}

// acmeServer reads an https URL of an ACME directory.
func (r *reader) acmeServer(key string) string {
	v, ok := r.get(key)
	if !ok {
		return DefaultACMEServer
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(v, " \t") {
		r.invalid(key, v, "the https URL of an ACME directory (Let's Encrypt staging: "+StagingACMEServer+")", scalarFix(key, StagingACMEServer))
		return DefaultACMEServer
	}
	return v
}
