// Package app declares the marketdata workload and the mesh resources that route to it, guard it
// and let it reach MongoDB.
package app

import (
	"slices"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/object"
)

// Names fixed by the design (and by the service's environment contract).
const (
	Namespace  = "ctmd"
	Name       = "marketdata"
	SecretName = "ctmd-config"
	// SecretKey is the env var the service reads its connection string from.
	SecretKey   = "MongoDB__ConnectionString"
	GatewayName = "ctmd-gateway"
	// RoutesName is the VirtualService that binds the API's routes to the Gateway.
	RoutesName = "ctmd"
	// RevisionLabel is Istio's namespace label naming the control plane that injects sidecars.
	RevisionLabel = "istio.io/rev"
	// RevisionAnnotation names that revision in the pod template, so moving it rolls the pods.
	RevisionAnnotation = "ctmd.cryptotracker.io/istio-revision"
	// ConfigDigestAnnotation holds a keyed digest of the Secret's content on the pod template.
	ConfigDigestAnnotation = "ctmd/config-digest"
	// The version labels of the two tracks, which the DestinationRule's subsets select (Istio's
	// request metrics carry them as destination_version).
	stableVersion = "v1"
	canaryVersion = "canary"
	port          = 8080
)

// Args configures the workload.
type Args struct {
	Provider *kubernetes.Provider
	Image    string
	Replicas int
	// MongoConnectionString must be a secret output; it goes into the Secret and nowhere else.
	MongoConnectionString pulumi.StringOutput
	// MongoHosts narrows the mongo-ext ServiceEntry to these hosts; empty allows any address.
	MongoHosts []string
	// IngressPrincipals (the ingress gateways) and CallerPrincipals (in-mesh workloads calling
	// the Service directly) are the only identities the AuthorizationPolicy admits; New refuses
	// both empty.
	IngressPrincipals []string
	CallerPrincipals  []string
	// ManagedPrometheus declares a PodMonitoring for Google Managed Prometheus (GKE only: the
	// kind exists where managed collection is on).
	ManagedPrometheus bool
	// CanaryImage, when set, runs a second track (Deployment marketdata-canary) that receives
	// CanaryWeight percent of the gateway's /api traffic, and every request with the canary
	// header.
	CanaryImage  string
	CanaryWeight int
	// TLS, when it names a domain, makes the gateway serve HTTPS for it (routes.go).
	TLS TLS
	// Rollout, when set, makes the stable track an Argo Rollout that releases new images in
	// steps (rollout.go); CanaryImage is then empty.
	Rollout *Rollout
	// Mesh is what must exist before pods start (istiod, so they get sidecars) and before the
	// Istio custom resources are created. Empty when the cluster already runs Istio.
	Mesh []pulumi.Resource
	// IstioRevision is the control plane revision the pods use when the stack installs Istio;
	// empty leaves the choice to the cluster's default injection.
	IstioRevision string
}

// App is the marketdata component.
type App struct {
	pulumi.ResourceState
	Namespace pulumi.StringOutput
}

// New declares the namespace, Secret, the stable (and canary) Deployment and HPA, the Service,
// the PDB and the Istio resources.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*App, error) {
	// Refused before anything is declared, so a bad policy never leaves half a deployment.
	policy, err := authorizationPolicy(slices.Concat(args.IngressPrincipals, args.CallerPrincipals))
	if err != nil {
		return nil, err
	}
	a := &App{}
	if err := ctx.RegisterComponentResource("ctmd:app:Marketdata", name, a, opts...); err != nil {
		return nil, err
	}
	child := func(extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
		return slices.Concat([]pulumi.ResourceOption{pulumi.Parent(a), pulumi.Provider(args.Provider)}, extra)
	}
	labels := pulumi.StringMap{"app": pulumi.String(Name)}
	meta := func(name string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: pulumi.String(Namespace), Labels: labels}
	}

	// A revision label, never beside istio-injection (which would take precedence), picks the
	// control plane whose injector gives the pods their sidecars.
	injection := pulumi.StringMap{"istio-injection": pulumi.String("enabled")}
	if args.IstioRevision != "" {
		injection = pulumi.StringMap{RevisionLabel: pulumi.String(args.IstioRevision)}
	}
	ns, err := corev1.NewNamespace(ctx, Namespace, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(Namespace), Labels: injection},
	}, child()...)
	if err != nil {
		return nil, err
	}
	inNamespace := child(pulumi.DependsOn([]pulumi.Resource{ns}))

	secret, err := corev1.NewSecret(ctx, SecretName, &corev1.SecretArgs{
		Metadata:   meta(SecretName),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{SecretKey: args.MongoConnectionString},
	}, inNamespace...)
	if err != nil {
		return nil, err
	}

	// Every track's pods need the Secret to start and istiod to get their sidecars.
	podOpts := child(pulumi.DependsOn(slices.Concat([]pulumi.Resource{ns, secret}, args.Mesh)))
	annotations := podAnnotations(configDigest(ctx, args.MongoConnectionString), args.IstioRevision)
	stableTrack := track{
		name: Name, version: stableVersion, image: pulumi.String(args.Image),
		selector:    labels,
		minReplicas: args.Replicas, maxReplicas: 3 * args.Replicas,
	}
	meshOpts := child(pulumi.DependsOn(slices.Concat([]pulumi.Resource{ns}, args.Mesh)))
	var stable pulumi.Resource
	if args.Rollout != nil {
		// With the engine the routes come before the Rollout (rollout says why).
		services, err := engineServices(ctx, inNamespace)
		if err != nil {
			return nil, err
		}
		routes, err := meshResources(ctx, args, policy, meshOpts, services)
		if err != nil {
			return nil, err
		}
		stable, err = rollout(ctx, stableTrack, annotations, args.Rollout, append(slices.Clip(podOpts), pulumi.DependsOn([]pulumi.Resource{routes})), inNamespace)
		if err != nil {
			return nil, err
		}
	} else if stable, err = workload(ctx, stableTrack, annotations, podOpts, inNamespace); err != nil {
		return nil, err
	}
	workloads := []pulumi.Resource{stable}
	if args.CanaryImage != "" {
		canary, err := workload(ctx, track{
			name: Name + "-canary", version: canaryVersion, image: pulumi.String(args.CanaryImage),
			selector:    pulumi.StringMap{"app": pulumi.String(Name), "version": pulumi.String(canaryVersion)},
			minReplicas: 1, maxReplicas: 3 * args.Replicas,
		}, annotations, podOpts, inNamespace)
		if err != nil {
			return nil, err
		}
		workloads = append(workloads, canary)
	}

	if _, err := corev1.NewService(ctx, Name, service(Name), inNamespace...); err != nil {
		return nil, err
	}

	// One budget over both tracks (pods may not be covered by two: eviction refuses them).
	// maxUnavailable rather than minAvailable: node drains keep working with a single replica.
	if _, err := policyv1.NewPodDisruptionBudget(ctx, Name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta(Name),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: labels},
		},
	}, inNamespace...); err != nil {
		return nil, err
	}

	if args.Rollout == nil {
		if _, err := meshResources(ctx, args, policy, meshOpts, workloads); err != nil {
			return nil, err
		}
	}

	if args.ManagedPrometheus {
		if _, err := object.New(ctx, "monitoring.googleapis.com/v1", "PodMonitoring", Name, Namespace, podMonitoring(), inNamespace...); err != nil {
			return nil, err
		}
	}

	a.Namespace = ns.Metadata.Name().Elem()
	if err := ctx.RegisterResourceOutputs(a, pulumi.Map{"namespace": a.Namespace}); err != nil {
		return nil, err
	}
	return a, nil
}
