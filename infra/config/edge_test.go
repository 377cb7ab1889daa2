package config_test

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/internal/pins"
)

func TestCertManagerDefaultIsVersionsEnv(t *testing.T) {
	pinned, err := pins.Version("CERT_MANAGER_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if pinned != config.DefaultCertManagerVersion {
		t.Fatalf("versions.env CERT_MANAGER_VERSION=%q, config.DefaultCertManagerVersion=%q", pinned, config.DefaultCertManagerVersion)
	}
}

// Each combination of keys that serves HTTPS, and who issues the certificate.
func TestEdgeCombinations(t *testing.T) {
	defaults := config.Edge{
		ACMEServer: config.DefaultACMEServer, CertManagerVersion: config.DefaultCertManagerVersion,
		CertManagerChartRepository: config.DefaultCertManagerChartRepository,
	}
	with := func(e config.Edge) config.Edge {
		e.ACMEServer = cmpOr(e.ACMEServer, defaults.ACMEServer)
		e.CertManagerVersion, e.CertManagerChartRepository = defaults.CertManagerVersion, defaults.CertManagerChartRepository
		return e
	}
	tests := []struct {
		name   string
		values map[string]string
		want   config.Edge
	}{
		{"no domain: plain HTTP", gke(nil), defaults},
		{"gke: ctmd's issuer, DNS written", gke(map[string]string{
			"ctmd:domain": "api.example.com", "ctmd:dnsZone": "example-com", "ctmd:acmeEmail": "ops@example.com",
		}), with(config.Edge{Domain: "api.example.com", Issuer: "ctmd-acme-letsencrypt", InstallCertManager: true,
			ACMEEmail: "ops@example.com", DNSZone: "example-com", DNSProject: "ctmd-dev-123", WriteDNS: true})},
		{"gke: staging server", gke(map[string]string{
			"ctmd:domain": "api.example.com", "ctmd:dnsZone": "example-com", "ctmd:acmeEmail": "ops@example.com",
			"ctmd:acmeServer": config.StagingACMEServer,
		}), with(config.Edge{Domain: "api.example.com", Issuer: "ctmd-acme-letsencrypt-staging", InstallCertManager: true, ACMEServer: config.StagingACMEServer,
			ACMEEmail: "ops@example.com", DNSZone: "example-com", DNSProject: "ctmd-dev-123", WriteDNS: true})},
		// Another ACME server (ZeroSSL's directory) gets an issuer of its own too, named after a
		// digest of its URL.
		{"gke: another ACME server", gke(map[string]string{
			"ctmd:domain": "api.example.com", "ctmd:dnsZone": "example-com", "ctmd:acmeEmail": "ops@example.com",
			"ctmd:acmeServer": "https://acme.zerossl.com/v2/DV90",
		}), with(config.Edge{Domain: "api.example.com", Issuer: "ctmd-acme-" + digest("https://acme.zerossl.com/v2/DV90"), InstallCertManager: true,
			ACMEServer: "https://acme.zerossl.com/v2/DV90", ACMEEmail: "ops@example.com", DNSZone: "example-com", DNSProject: "ctmd-dev-123", WriteDNS: true})},
		{"existing: the cluster's issuer", existing(map[string]string{
			"ctmd:domain": "api.example.com", "ctmd:tlsIssuer": "letsencrypt-prod",
		}), with(config.Edge{Domain: "api.example.com", Issuer: "letsencrypt-prod"})},
		{"existing: ctmd's issuer, DNS left to the user", existing(map[string]string{
			"ctmd:domain": "api.example.com", "ctmd:dnsZone": "example-com", "ctmd:acmeEmail": "ops@example.com", "gcp:project": "dns-project-1",
		}), with(config.Edge{Domain: "api.example.com", Issuer: "ctmd-acme-letsencrypt", InstallCertManager: true,
			ACMEEmail: "ops@example.com", DNSZone: "example-com", DNSProject: "dns-project-1"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(t, tt.values, "ctmd:mongoConnectionString")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Edge, tt.want) {
				t.Errorf("edge %+v\nwant %+v", cfg.Edge, tt.want)
			}
			if cfg.Edge.HTTPS() != (tt.want.Domain != "") {
				t.Errorf("HTTPS() = %v with domain %q", cfg.Edge.HTTPS(), tt.want.Domain)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Contradictory or incomplete combinations fail with the key and the command that fixes them.
func TestEdgeErrors(t *testing.T) {
	own := map[string]string{"ctmd:domain": "api.example.com", "ctmd:dnsZone": "example-com", "ctmd:acmeEmail": "ops@example.com"}
	plus := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		values map[string]string
		want   []string
	}{
		{"dnsZone without domain", gke(map[string]string{"ctmd:dnsZone": "example-com"}),
			[]string{`"ctmd:dnsZone" is set but ctmd:domain is not`, "pulumi config set ctmd:domain", "pulumi config rm ctmd:dnsZone"}},
		{"acmeEmail without domain", gke(map[string]string{"ctmd:acmeEmail": "ops@example.com"}),
			[]string{`"ctmd:acmeEmail" is set but ctmd:domain is not`, "pulumi config rm ctmd:acmeEmail"}},
		{"staging server without domain", gke(map[string]string{"ctmd:acmeServer": config.StagingACMEServer}),
			[]string{`"ctmd:acmeServer" is set but ctmd:domain is not`, "pulumi config rm ctmd:acmeServer"}},
		{"tlsIssuer without domain", existing(map[string]string{"ctmd:tlsIssuer": "le"}),
			[]string{`"ctmd:tlsIssuer" is set but ctmd:domain is not`, "pulumi config rm ctmd:tlsIssuer"}},
		{"gke domain without zone", gke(map[string]string{"ctmd:domain": "api.example.com", "ctmd:acmeEmail": "ops@example.com"}),
			[]string{`missing required config "ctmd:dnsZone"`, "pulumi config set ctmd:dnsZone <zone-name>"}},
		{"existing domain alone", existing(map[string]string{"ctmd:domain": "api.example.com"}),
			[]string{`missing required config "ctmd:dnsZone"`, "pulumi config set ctmd:tlsIssuer <cluster-issuer>", `missing required config "ctmd:acmeEmail"`}},
		{"own issuer without email", gke(map[string]string{"ctmd:domain": "api.example.com", "ctmd:dnsZone": "example-com"}),
			[]string{`missing required config "ctmd:acmeEmail"`, "pulumi config set ctmd:acmeEmail ops@example.com"}},
		{"tlsIssuer on gke", gke(plus(nil, "ctmd:domain", "api.example.com", "ctmd:tlsIssuer", "le")),
			[]string{`"ctmd:tlsIssuer" is only used with ctmd:target existing`, "pulumi config rm ctmd:tlsIssuer"}},
		{"tlsIssuer with dnsZone", existing(plus(own, "ctmd:tlsIssuer", "le")),
			[]string{`"ctmd:dnsZone" configures ctmd's own issuer`, "pulumi config rm ctmd:dnsZone",
				`"ctmd:acmeEmail" configures ctmd's own issuer`}},
		{"tlsIssuer with a server", existing(plus(nil, "ctmd:domain", "api.example.com", "ctmd:tlsIssuer", "le", "ctmd:acmeServer", config.StagingACMEServer)),
			[]string{`"ctmd:acmeServer" configures ctmd's own issuer`}},
		{"existing own issuer without project", existing(own),
			[]string{`missing required config "gcp:project" (ctmd:dnsZone on target existing`, "pulumi config set gcp:project <project-id>"}},
		{"wildcard domain", gke(plus(own, "ctmd:domain", "*.example.com")),
			[]string{`invalid config "ctmd:domain" value "*.example.com"`, "pulumi config set ctmd:domain api.example.com"}},
		{"bad zone", gke(plus(own, "ctmd:dnsZone", "example.com.")),
			[]string{`invalid config "ctmd:dnsZone" value "example.com."`}},
		{"bad email", gke(plus(own, "ctmd:acmeEmail", "ops")),
			[]string{`invalid config "ctmd:acmeEmail" value "ops"`}},
		{"http server", gke(plus(own, "ctmd:acmeServer", "http://acme.example/directory")),
			[]string{`invalid config "ctmd:acmeServer"`, "pulumi config set ctmd:acmeServer " + config.StagingACMEServer}},
		{"chart version without v", gke(plus(own, "ctmd:certManagerVersion", "1.21.2")),
			[]string{`invalid config "ctmd:certManagerVersion" value "1.21.2"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.values, "ctmd:mongoConnectionString")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// digest is the first 5 bytes of a SHA-256 of s, in hex: what names the issuer of an ACME server
// that is not Let's Encrypt's.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:5])
}
