// Package mesh installs Istio from its official Helm charts: CRDs (base), the control plane
// (istiod) and an ingress gateway behind a LoadBalancer Service.
//
// Control planes are installed by revision, following Istio's Helm canary upgrade
// (https://istio.io/latest/docs/setup/upgrade/helm/#canary-upgrade-recommended): one chart
// istiod-<revision> per version, workloads pick theirs with the istio.io/rev label, so a new
// version runs beside the one in service until the upgrade is finished or rolled back.
//
// The charts are rendered by Pulumi (helm.v4.Chart) and each object is applied on its own with
// server-side apply, not installed as a Helm release (helm.v3.Release): applying an object again
// is harmless, so a `pulumi up` that was killed half-way is finished by the next one. A Helm
// release killed half-way stays in the cluster as pending-install or deployed but not in the
// state, and every later install of it fails ("cannot re-use a name that is still in use") until
// someone repairs the cluster by hand. docs/operations.md, "If pulumi up was interrupted", has the
// measurements.
package mesh

import (
	"slices"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/charts"
	"github.com/cryptotracker/ctmd/infra/internal/crds"
)

// GatewayRelease names the gateway release; the chart derives the Service, its service account
// (the identity the app admits) and its istio= label from it.
const GatewayRelease = "istio-ingressgateway"

// baseRelease is the release name of Istio's base chart, its CRDs.
const baseRelease = "istio-base"

// systemNamespace is where the control planes run.
const systemNamespace = "istio-system"

// GatewayNamespace is where the gateway runs, so where its TLS credentials must be.
const GatewayNamespace = "istio-ingress"

// GatewayLabel is the gateway pods' istio= label, which the app's Gateway selects.
const GatewayLabel = "ingressgateway"

// Args configures the installation.
type Args struct {
	Provider *kubernetes.Provider
	// Kubeconfig is what Provider was given ("" for the ambient kubeconfig), for the client that
	// applies the CRDs.
	Kubeconfig pulumi.StringOutput
	// Version is the control plane in service. CanaryVersion, when set, is a second control plane
	// that the gateway and the workloads move to while the first keeps running.
	Version, CanaryVersion string
	// ChartRepository is a Helm repository URL, or an oci:// registry path holding the charts.
	ChartRepository       string
	OutboundTrafficPolicy string
	// LoadBalancerIP, when set, is a reserved address the gateway's LoadBalancer Service takes
	// (the gateway chart's service.loadBalancerIP); otherwise the cloud picks one.
	LoadBalancerIP pulumi.StringInput
	// GatewayMinReplicas and IstiodMinReplicas are the autoscalers' minimums (availability.go).
	GatewayMinReplicas, IstiodMinReplicas int
}

// Mesh is the Istio component.
type Mesh struct {
	pulumi.ResourceState
	// Revision is the control plane workloads use: the canary's while there is one.
	Revision string
	// Revisions are the control planes this run keeps (RevisionGuard).
	Revisions []string
	// ControlPlane is that revision's istiod chart, what workloads wait for: once it runs, new
	// pods get its sidecars.
	ControlPlane pulumi.Resource
	// Gateway is the ingress gateway's chart, in GatewayNamespace: what the gateway's TLS
	// credentials wait for.
	Gateway pulumi.Resource
	// IngressIP is the gateway's external address, empty until the load balancer has one.
	IngressIP pulumi.StringOutput
}

// Hub is where Istio publishes its release images ("Releases are published to docker hub under
// 'istio' project": https://istio.io/latest/news/releases/1.1.x/announcing-1.1/helm-changes/).
const Hub = "docker.io/istio"

// ProxyImage is the sidecar image a control plane of version injects (the chart's
// global.proxy.image, proxyv2, under Hub and the version's tag).
func ProxyImage(version string) string { return Hub + "/proxyv2:" + version }

// Revision names the control plane of an Istio version (1.30.2 -> 1-30-2): revisions must be
// DNS labels, and this is the naming Istio's upgrade guide uses.
func Revision(version string) string { return strings.ReplaceAll(version, ".", "-") }

// New installs istio-base, the control plane(s) and the ingress gateway, each after the one before.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Mesh, error) {
	m := &Mesh{}
	if err := ctx.RegisterComponentResource("ctmd:mesh:Istio", name, m, opts...); err != nil {
		return nil, err
	}
	child := []pulumi.ResourceOption{pulumi.Parent(m), pulumi.Provider(args.Provider)}
	legacy, err := legacyReleases(ctx)
	if err != nil {
		return nil, err
	}
	names := map[*corev1.Namespace]string{}
	namespace := func(name string) (*corev1.Namespace, error) {
		ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name)},
		}, child...)
		names[ns] = name
		return ns, err
	}
	release := func(name, chart, version string, ns *corev1.Namespace, values pulumi.Map, after ...pulumi.Resource) (*helmv4.Chart, error) {
		if legacy[name] {
			old, err := relinquish(ctx, name, names[ns], child...)
			if err != nil {
				return nil, err
			}
			after = append(after, old)
		}
		// The release name the templates see: the gateway chart derives its labels, Service and
		// service account from it.
		return charts.New(ctx, name, charts.Args{
			Repository: args.ChartRepository, Chart: chart, Version: version,
			Namespace: ns.Metadata.Name(), Values: values,
		}, slices.Concat(child, []pulumi.ResourceOption{pulumi.DependsOn(after)})...)
	}

	system, err := namespace(systemNamespace)
	if err != nil {
		return nil, err
	}
	// The version workloads run on: the canary's while there is one.
	active := args.Version
	if args.CanaryVersion != "" {
		active = args.CanaryVersion
	}
	m.Revision = Revision(active)
	// The CRDs come from the newest control plane's chart before that control plane starts (the
	// guide upgrades them first; they serve older control planes too). The default revision, which
	// validates Istio resources and serves namespaces without a revision label, stays with the
	// control plane in service until the upgrade is finished.
	baseValues := func() pulumi.Map {
		return pulumi.Map{"defaultRevision": pulumi.String(Revision(args.Version)), "base": validationWebhook()}
	}
	// The CRDs are applied from a record's hook, not held in the state (infra/internal/crds); the
	// chart applies the rest of base (the reader's service account, the default revision's
	// validation) once they are, leaving them out by name.
	crdSet, err := crds.New(ctx, baseRelease, crds.Args{
		Provider:    args.Provider,
		Kubeconfig:  args.Kubeconfig,
		Chart:       charts.Args{Repository: args.ChartRepository, Chart: "base", Version: active, Values: baseValues()},
		ReleaseName: baseRelease,
		Namespace:   systemNamespace,
		After:       []pulumi.Resource{system},
	}, child...)
	if err != nil {
		return nil, err
	}
	withoutCRDs := baseValues()
	withoutCRDs["base"].(pulumi.Map)["excludedCRDs"] = crdSet.Names
	base, err := release(baseRelease, "base", active, system, withoutCRDs, crdSet.Record)
	if err != nil {
		return nil, err
	}
	for _, version := range slices.Compact([]string{args.Version, active}) {
		m.Revisions = append(m.Revisions, Revision(version))
		istiod, err := release("istiod-"+Revision(version), "istiod", version, system, merged(pulumi.Map{
			"revision": pulumi.String(Revision(version)),
			// Explicit, not the chart's default: the proxy image this control plane injects is
			// the one the app namespace's admission policy admits (ProxyImage).
			"global":                 pulumi.Map{"hub": pulumi.String(Hub), "tag": pulumi.String(version)},
			"base":                   validationWebhook(),
			"sidecarInjectorWebhook": pulumi.Map{"templates": unusedInjectionTemplates()},
			"meshConfig": pulumi.Map{
				"outboundTrafficPolicy": pulumi.Map{"mode": pulumi.String(args.OutboundTrafficPolicy)},
				"defaultConfig":         proxyLifecycle(),
			},
		}, istiodAvailability(Revision(version), args.IstiodMinReplicas)), base)
		if err != nil {
			return nil, err
		}
		m.ControlPlane = istiod
	}
	ingress, err := namespace(GatewayNamespace)
	if err != nil {
		return nil, err
	}
	service := pulumi.Map{"type": pulumi.String("LoadBalancer")}
	if args.LoadBalancerIP != nil {
		service["loadBalancerIP"] = args.LoadBalancerIP
	}
	// The gateway is a workload of the active revision: its pods carry istio.io/rev and move with it.
	gateway, err := release(GatewayRelease, "gateway", active, ingress, merged(pulumi.Map{
		"labels":   pulumi.Map{"istio": pulumi.String(GatewayLabel)},
		"service":  service,
		"revision": pulumi.String(m.Revision),
	}, gatewayAvailability(args.GatewayMinReplicas)), m.ControlPlane)
	if err != nil {
		return nil, err
	}
	m.Gateway = gateway

	// The address is in the state of the chart's own Service: the provider reports a LoadBalancer
	// Service applied once it has one. Not read back from the cluster: a read runs in every
	// update, also one that skips the chart (the README's targeted up of the cluster layer), where
	// the Service does not exist yet and the read fails the update.
	m.IngressIP = gateway.Resources.ApplyT(func(objects []any) pulumi.StringOutput {
		for _, object := range objects {
			if svc, ok := object.(*corev1.Service); ok {
				return svc.Status.ApplyT(loadBalancerAddress).(pulumi.StringOutput)
			}
		}
		return pulumi.String("").ToStringOutput()
	}).(pulumi.StringOutput)

	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{"ingressIp": m.IngressIP, "revision": pulumi.String(m.Revision)}); err != nil {
		return nil, err
	}
	return m, nil
}

// UnusedInjectionTemplates are the injector's templates for what the stack's Istio never runs:
// proxyless gRPC (grpc-simple, grpc-agent), ambient waypoints (waypoint) and agentgateway. The
// chart writes each into istiod's injector ConfigMap unless values name it (templates/
// istiod-injector-configmap.yaml, "if not (hasKey .Values.sidecarInjectorWebhook.templates ...)"),
// and the provider holds that ConfigMap three times in the state: emptied, they take 0.1 MB off it
// (docs/performance.md). A pod that asks for one (inject.istio.io/templates) gets nothing of it.
// sidecar and gateway (ctmd's pods and gateway) and kube-gateway (Gateway API deployments, which
// a cluster's other users may expect of its Istio) stay.
var UnusedInjectionTemplates = []string{"grpc-simple", "grpc-agent", "waypoint", "agentgateway", "agentgateway-waypoint"}

func unusedInjectionTemplates() pulumi.Map {
	templates := pulumi.Map{}
	for _, name := range UnusedInjectionTemplates {
		templates[name] = pulumi.String("")
	}
	return templates
}

// validationWebhook renders Istio's validation webhooks with the failure policy istiod gives them
// once it runs. The charts start them at "Ignore" on a first install (Helm's .Release.IsUpgrade),
// which is every render here: applying that again would undo istiod's "Fail". The charts' advice:
// "Set to "Fail" to avoid the flip-flop, which is useful for server-side apply tools that do not
// support .Release.IsUpgrade" (base.validationFailurePolicy in istiod's values.yaml). Istio
// resources are created only once istiod runs (infra/app waits for it), so none meets the
// webhook before it serves.
func validationWebhook() pulumi.Map {
	return pulumi.Map{"validationFailurePolicy": pulumi.String("Fail")}
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
