// Package edge gives the public entry its certificate: it installs cert-manager from its official
// Helm chart and declares ctmd's ACME ClusterIssuer when the issuer is ctmd's own, and always the
// Certificate for the domain, whose Secret lands in the ingress gateway's namespace where the
// Gateway's credentialName finds it (infra/app). On target gke it also declares the Google side
// (gcp.go): the identity cert-manager solves DNS-01 challenges with, and the domain's A record.
// These live here rather than in infra/gke because they exist only while a domain is set and come
// and go with it; infra/gke stays the cluster.
package edge

import (
	"slices"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/internal/charts"
	"github.com/cryptotracker/ctmd/infra/internal/crds"
	"github.com/cryptotracker/ctmd/infra/internal/object"
)

// Names of what the edge declares in the cluster.
const (
	// CertManagerNamespace and CertManagerRelease are where ctmd installs cert-manager. The chart
	// names the controller's service account after the release, so the Kubernetes identity that
	// solves the challenges is cert-manager/cert-manager (the Workload Identity member in gcp.go).
	CertManagerNamespace = "cert-manager"
	CertManagerRelease   = "cert-manager"
	// CertificateName is the Certificate, CredentialName the Secret cert-manager writes it to and
	// the Gateway reads. Istio's guide warns that a credential's name must not begin with istio or
	// prometheus (https://istio.io/latest/docs/ops/integrations/certmanager/).
	CertificateName = "ctmd-edge"
	CredentialName  = "ctmd-edge-tls"
	// MetricsPort is where the chart's controller serves its Prometheus metrics (the chart's
	// prometheus.enabled, on by default, names the container port http-metrics).
	MetricsPort = 9402
)

// ControllerLabels select the cert-manager controller's pods (the chart's Deployment selector).
var ControllerLabels = map[string]string{
	"app.kubernetes.io/name":      "cert-manager",
	"app.kubernetes.io/instance":  CertManagerRelease,
	"app.kubernetes.io/component": "controller",
}

// Args configures the edge.
type Args struct {
	Provider *kubernetes.Provider
	// Kubeconfig is what Provider was given ("" for the ambient kubeconfig), for the client that
	// applies cert-manager's CRDs.
	Kubeconfig pulumi.StringOutput
	Edge       config.Edge
	// ClusterName names the Google service account (target gke).
	ClusterName string
	// IngressIP is the address the A record points at (target gke: the reserved address).
	IngressIP pulumi.StringInput
	// GatewayNamespace is where the ingress gateway runs, so where the Certificate's Secret goes;
	// Gateway is what must exist first (the namespace, created by infra/mesh), nil when the
	// cluster's own Istio installation owns it.
	GatewayNamespace string
	Gateway          pulumi.Resource
}

// Edge is the certificate component.
type Edge struct {
	pulumi.ResourceState
}

// New declares cert-manager, the issuer and the Certificate as the config asks.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Edge, error) {
	e := &Edge{}
	if err := ctx.RegisterComponentResource("ctmd:edge:Certificate", name, e, opts...); err != nil {
		return nil, err
	}
	child := func(after ...pulumi.Resource) []pulumi.ResourceOption {
		return []pulumi.ResourceOption{pulumi.Parent(e), pulumi.Provider(args.Provider), pulumi.DependsOn(slices.DeleteFunc(after, isNil))}
	}
	// The Certificate waits for the gateway's namespace and, with ctmd's issuer, for cert-manager
	// (its CRDs) and the issuer.
	certAfter := []pulumi.Resource{args.Gateway}
	if args.Edge.InstallCertManager {
		var identity *googleIdentity
		if args.Edge.WriteDNS {
			var err error
			if identity, err = newGoogleIdentity(ctx, args, pulumi.Parent(e)); err != nil {
				return nil, err
			}
		}
		ns, err := corev1.NewNamespace(ctx, CertManagerNamespace, &corev1.NamespaceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(CertManagerNamespace)},
		}, child()...)
		if err != nil {
			return nil, err
		}
		// cert-manager's CRDs are applied from a record's hook, not held in the state
		// (infra/internal/crds); the chart, which leaves them out by default, runs once they are.
		crdSet, err := crds.New(ctx, CertManagerRelease, crds.Args{
			Provider:   args.Provider,
			Kubeconfig: args.Kubeconfig,
			Chart: charts.Args{Repository: args.Edge.CertManagerChartRepository, Chart: "cert-manager", Version: args.Edge.CertManagerVersion,
				Values: pulumi.Map{"crds": pulumi.Map{"enabled": pulumi.Bool(true)}}},
			ReleaseName: CertManagerRelease,
			Namespace:   CertManagerNamespace,
			After:       []pulumi.Resource{ns},
		}, pulumi.Parent(e), pulumi.Provider(args.Provider))
		if err != nil {
			return nil, err
		}
		chart, err := charts.New(ctx, CertManagerRelease, charts.Args{
			Repository: args.Edge.CertManagerChartRepository, Chart: "cert-manager", Version: args.Edge.CertManagerVersion,
			Namespace: ns.Metadata.Name(), Values: certManagerValues(identity),
		}, child(ns, crdSet.Record)...)
		if err != nil {
			return nil, err
		}
		issuer, err := object.New(ctx, "cert-manager.io/v1", "ClusterIssuer", args.Edge.Issuer, "", clusterIssuer(args.Edge), child(chart)...)
		if err != nil {
			return nil, err
		}
		certAfter = append(certAfter, chart, issuer)
		if args.Edge.WriteDNS {
			if err := aRecord(ctx, args, pulumi.Parent(e)); err != nil {
				return nil, err
			}
		}
	}
	if _, err := object.New(ctx, "cert-manager.io/v1", "Certificate", CertificateName, args.GatewayNamespace, certificate(args.Edge), child(certAfter...)...); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{}); err != nil {
		return nil, err
	}
	return e, nil
}

func isNil(r pulumi.Resource) bool { return r == nil }

// certManagerValues are the chart's values: without its CRDs (the CRD record applies them, and
// keeps them when the edge goes, as the chart's crds.keep would: they, and any issuer the user
// added, outlive cert-manager, as cert-manager advises,
// https://cert-manager.io/docs/installation/helm/#crd-considerations), the Certificate's Secret
// deleted with the Certificate, so removing the domain leaves no certificate behind, and, on gke,
// the controller's service account annotated with the Google service account it acts as.
func certManagerValues(identity *googleIdentity) pulumi.Map {
	values := pulumi.Map{
		// Explicit, though it is the chart's default: the CRDs must never come from the chart too.
		"crds":                      pulumi.Map{"enabled": pulumi.Bool(false)},
		"enableCertificateOwnerRef": pulumi.Bool(true),
		// A Helm post-install hook that polls the webhook until it serves, which a rendered chart
		// would run as a plain Job on every change; the webhook configurations' wait below is
		// what the issuer needs.
		"startupapicheck": pulumi.Map{"enabled": pulumi.Bool(false)},
		// The webhook is usable once cainjector has copied the webhook's CA into the webhook
		// configurations; before that the API server cannot call it ("x509: certificate signed by
		// unknown authority"), and an issuer created as soon as the Deployments are ready races it
		// (pulumi/pulumi-kubernetes-cert-manager#18: "have to run it twice"). The provider waits,
		// after applying each configuration, until it carries a CA bundle (pulumi.com/waitFor,
		// pulumi-kubernetes 4.18 and later), and the issuer depends on the whole chart.
		"webhook": pulumi.Map{
			"validatingWebhookConfigurationAnnotations": waitForCA,
			"mutatingWebhookConfigurationAnnotations":   waitForCA,
		},
	}
	if identity != nil {
		values["serviceAccount"] = pulumi.Map{"annotations": pulumi.Map{workloadIdentityAnnotation: identity.email}}
	}
	return values
}

// waitForCA holds an object's update until its first webhook has a CA bundle, which cainjector
// writes (the chart leaves the field out).
var waitForCA = pulumi.Map{"pulumi.com/waitFor": pulumi.String("jsonpath={.webhooks[0].clientConfig.caBundle}")}

// clusterIssuer is ctmd's ACME issuer, solving DNS-01 in the Cloud DNS zone. A ClusterIssuer,
// not an Issuer: cert-manager lets only cluster issuers use ambient credentials (Workload
// Identity) by default ("--cluster-issuer-ambient-credentials", default true;
// https://cert-manager.io/docs/configuration/acme/dns01/google/). hostedZoneName names the zone,
// so cert-manager never lists the project's zones and the role on that one zone suffices.
func clusterIssuer(e config.Edge) map[string]any {
	return map[string]any{"acme": map[string]any{
		"email":  e.ACMEEmail,
		"server": e.ACMEServer,
		// The ACME account's private key (cert-manager creates it): an account is the server's.
		"privateKeySecretRef": map[string]any{"name": e.Issuer + "-account"},
		"solvers": []any{map[string]any{"dns01": map[string]any{"cloudDNS": map[string]any{
			"project":        e.DNSProject,
			"hostedZoneName": e.DNSZone,
		}}}},
	}}
}

// certificate asks the issuer for the domain's certificate, written to CredentialName.
func certificate(e config.Edge) map[string]any {
	return map[string]any{
		"secretName": CredentialName,
		"dnsNames":   []any{e.Domain},
		"issuerRef":  map[string]any{"group": "cert-manager.io", "kind": "ClusterIssuer", "name": e.Issuer},
	}
}
