// Package mesh installs Istio from its official Helm charts: CRDs (base), the control plane
// (istiod) and an ingress gateway behind a LoadBalancer Service.
package mesh

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// GatewayRelease names the gateway release; the chart derives the Service, its service account
// (the identity the app admits) and its istio= label from it.
const GatewayRelease = "istio-ingressgateway"

// Args configures the installation.
type Args struct {
	Provider *kubernetes.Provider
	Version  string
	// ChartRepository is a Helm repository URL, or an oci:// registry path holding the charts.
	ChartRepository       string
	OutboundTrafficPolicy string
	// LoadBalancerIP, when set, is a reserved address the gateway's LoadBalancer Service takes
	// (the gateway chart's service.loadBalancerIP); otherwise the cloud picks one.
	LoadBalancerIP pulumi.StringInput
}

// Mesh is the Istio component.
type Mesh struct {
	pulumi.ResourceState
	// Istiod is what workloads wait for: once it runs, new pods get sidecars.
	Istiod *helmv3.Release
	// IngressIP is the gateway's external address, empty until the load balancer has one.
	IngressIP pulumi.StringOutput
}

// New installs istio-base, istiod and the ingress gateway, each after the one before.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Mesh, error) {
	m := &Mesh{}
	if err := ctx.RegisterComponentResource("ctmd:mesh:Istio", name, m, opts...); err != nil {
		return nil, err
	}
	child := []pulumi.ResourceOption{pulumi.Parent(m), pulumi.Provider(args.Provider)}
	namespace := func(name string) (*corev1.Namespace, error) {
		return corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name)},
		}, child...)
	}
	release := func(name, chart string, ns *corev1.Namespace, values pulumi.Map, after ...pulumi.Resource) (*helmv3.Release, error) {
		source := chartSource(args.ChartRepository, chart)
		return helmv3.NewRelease(ctx, name, &helmv3.ReleaseArgs{
			// Without an explicit name Pulumi appends a random suffix, and the gateway chart
			// would derive its labels and service account from that.
			Name:           pulumi.String(name),
			Chart:          source.Chart,
			Version:        pulumi.String(args.Version),
			Namespace:      ns.Metadata.Name(),
			RepositoryOpts: source.RepositoryOpts,
			Values:         values,
			Timeout:        pulumi.Int(600),
			CleanupOnFail:  pulumi.Bool(true),
		}, slices.Concat(child, []pulumi.ResourceOption{pulumi.DependsOn(after)})...)
	}

	system, err := namespace("istio-system")
	if err != nil {
		return nil, err
	}
	base, err := release("istio-base", "base", system, pulumi.Map{"defaultRevision": pulumi.String("default")})
	if err != nil {
		return nil, err
	}
	m.Istiod, err = release("istiod", "istiod", system, pulumi.Map{
		"meshConfig": pulumi.Map{"outboundTrafficPolicy": pulumi.Map{"mode": pulumi.String(args.OutboundTrafficPolicy)}},
	}, base)
	if err != nil {
		return nil, err
	}
	ingress, err := namespace("istio-ingress")
	if err != nil {
		return nil, err
	}
	service := pulumi.Map{"type": pulumi.String("LoadBalancer")}
	if args.LoadBalancerIP != nil {
		service["loadBalancerIP"] = args.LoadBalancerIP
	}
	gateway, err := release(GatewayRelease, "gateway", ingress, pulumi.Map{
		"labels":  pulumi.Map{"istio": pulumi.String("ingressgateway")},
		"service": service,
	}, m.Istiod)
	if err != nil {
		return nil, err
	}

	// The gateway's Service is the chart's; read it back once the release is installed. The id
	// comes from the release status, so it stays unknown (and the read waits) during a preview.
	id := pulumi.Sprintf("%s/%s", gateway.Status.Namespace().Elem(), gateway.Status.Name().Elem()).
		ApplyT(func(s string) pulumi.ID { return pulumi.ID(s) }).(pulumi.IDOutput)
	svc, err := corev1.GetService(ctx, GatewayRelease, id, nil, slices.Concat(child, []pulumi.ResourceOption{pulumi.DependsOn([]pulumi.Resource{gateway})})...)
	if err != nil {
		return nil, fmt.Errorf("reading the ingress gateway Service: %w", err)
	}
	m.IngressIP = svc.Status.ApplyT(loadBalancerAddress).(pulumi.StringOutput)

	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{"ingressIp": m.IngressIP}); err != nil {
		return nil, err
	}
	return m, nil
}

// chartSource says where one chart comes from. The Release resource takes an OCI chart as a full
// oci:// reference with no repository (the provider hands it to Helm's registry client), and any
// other chart as a name within a Helm repository.
func chartSource(repository, chart string) helmv3.ReleaseArgs {
	if strings.HasPrefix(repository, "oci://") {
		return helmv3.ReleaseArgs{Chart: pulumi.String(repository + "/" + chart)}
	}
	return helmv3.ReleaseArgs{
		Chart:          pulumi.String(chart),
		RepositoryOpts: &helmv3.RepositoryOptsArgs{Repo: pulumi.String(repository)},
	}
}

// loadBalancerAddress is the first ingress address, or "" while none is assigned: a pending
// load balancer must not fail the update.
func loadBalancerAddress(status *corev1.ServiceStatus) string {
	if status == nil || status.LoadBalancer == nil {
		return ""
	}
	for _, in := range status.LoadBalancer.Ingress {
		if in.Ip != nil && *in.Ip != "" {
			return *in.Ip
		}
		if in.Hostname != nil && *in.Hostname != "" {
			return *in.Hostname
		}
	}
	return ""
}
