package edge

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/dns"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/config"
)

// workloadIdentityAnnotation on a Kubernetes service account names the Google service account its
// pods act as ("kubectl annotate serviceaccount KSA_NAME ... iam.gke.io/gcp-service-account=
// IAM_SA_NAME@IAM_SA_PROJECT_ID.iam.gserviceaccount.com",
// https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity).
const workloadIdentityAnnotation = "iam.gke.io/gcp-service-account"

// dnsRole is the role cert-manager's Cloud DNS solver needs ("roles/dns.admin",
// https://cert-manager.io/docs/configuration/acme/dns01/google/). It is granted on the managed
// zone, the narrowest resource Google allows: "Lowest-level resources where you can grant this
// role: Managed zone" (https://cloud.google.com/iam/docs/roles-permissions/dns; "Cloud DNS
// supports IAM permissions at the project level and individual DNS zone level",
// https://cloud.google.com/dns/docs/zones/iam-per-resource-zones).
const dnsRole = "roles/dns.admin"

// googleIdentity is the Google service account cert-manager's controller acts as. No key is ever
// created: GKE's metadata server hands the pods its tokens.
type googleIdentity struct {
	email pulumi.StringOutput
}

// newGoogleIdentity creates the service account, lets cert-manager's Kubernetes service account act
// as it ("roles/iam.workloadIdentityUser" for
// "serviceAccount:PROJECT_ID.svc.id.goog[NAMESPACE/KSA_NAME]", same GKE page), and gives it the DNS
// role on the zone alone.
func newGoogleIdentity(ctx *pulumi.Context, args Args, parent pulumi.ResourceOption) (*googleIdentity, error) {
	e := args.Edge
	// At most 30 characters: the cluster name has at most 24 (infra/config).
	id := args.ClusterName + "-certs"
	sa, err := serviceaccount.NewAccount(ctx, id, &serviceaccount.AccountArgs{
		Project:     pulumi.String(e.DNSProject),
		AccountId:   pulumi.String(id),
		DisplayName: pulumi.String("cert-manager of " + args.ClusterName + " (DNS-01 in " + e.DNSZone + ")"),
	}, parent)
	if err != nil {
		return nil, err
	}
	// The member names the cluster's workload pool, which exists only once the cluster does (IAM
	// refuses a member of a pool that does not exist): wait for the cluster's provider.
	if _, err := serviceaccount.NewIAMMember(ctx, id+"-workloadIdentityUser", &serviceaccount.IAMMemberArgs{
		ServiceAccountId: sa.Name,
		Role:             pulumi.String("roles/iam.workloadIdentityUser"),
		Member:           pulumi.String(fmt.Sprintf("serviceAccount:%s.svc.id.goog[%s/%s]", e.DNSProject, CertManagerNamespace, CertManagerRelease)),
	}, parent, pulumi.DependsOn([]pulumi.Resource{args.Provider})); err != nil {
		return nil, err
	}
	if _, err := dns.NewDnsManagedZoneIamMember(ctx, id+"-dnsAdmin", &dns.DnsManagedZoneIamMemberArgs{
		Project:     pulumi.String(e.DNSProject),
		ManagedZone: pulumi.String(e.DNSZone),
		Role:        pulumi.String(dnsRole),
		Member:      sa.Member,
	}, parent); err != nil {
		return nil, err
	}
	return &googleIdentity{email: sa.Email}, nil
}

// aRecord points the domain at the ingress gateway's reserved address.
func aRecord(ctx *pulumi.Context, args Args, parent pulumi.ResourceOption) error {
	e := args.Edge
	_, err := dns.NewRecordSet(ctx, e.Domain, &dns.RecordSetArgs{
		Project:     pulumi.String(e.DNSProject),
		ManagedZone: pulumi.String(e.DNSZone),
		// Cloud DNS names end with the root's dot.
		Name:    pulumi.String(e.Domain + "."),
		Type:    pulumi.String("A"),
		Ttl:     pulumi.Int(300),
		Rrdatas: pulumi.StringArray{args.IngressIP},
	}, parent)
	return err
}

// CheckZone reads the Cloud DNS zone ctmd:dnsZone names and refuses a domain it does not hold, or
// a zone the internet cannot query, before anything is declared: Cloud DNS would refuse the A
// record only during the first up, and Let's Encrypt's DNS-01 check queries the public DNS, which
// a private zone is not part of.
func CheckZone(ctx *pulumi.Context, e config.Edge) error {
	zone, err := dns.LookupManagedZone(ctx, &dns.LookupManagedZoneArgs{Name: e.DNSZone, Project: &e.DNSProject})
	if err != nil {
		return fmt.Errorf(`reading the Cloud DNS zone "ctmd:dnsZone" %q of project %s (gcloud dns managed-zones list --project %[2]s lists its zones): %w`, e.DNSZone, e.DNSProject, err)
	}
	name := strings.TrimSuffix(zone.DnsName, ".")
	if e.Domain != name && !strings.HasSuffix(e.Domain, "."+name) {
		return fmt.Errorf(`config "ctmd:domain" %q is not in the Cloud DNS zone "ctmd:dnsZone" %q, which holds %s: set the zone of the domain with pulumi config set ctmd:dnsZone <zone-name> (gcloud dns managed-zones list --project %s), or a domain under %[3]s with pulumi config set ctmd:domain api.%[3]s`,
			e.Domain, e.DNSZone, name, e.DNSProject)
	}
	if zone.Visibility != "public" {
		return fmt.Errorf(`the Cloud DNS zone "ctmd:dnsZone" %q is %s: Let's Encrypt checks the DNS-01 record in public DNS only; set a public zone holding %s with pulumi config set ctmd:dnsZone <zone-name>`,
			e.DNSZone, zone.Visibility, e.Domain)
	}
	return nil
}
