package delivery

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/podsec"
)

// Managed Prometheus's query frontend: a proxy that serves the Prometheus HTTP API
// (api/v1/query, query_range) over Cloud Monitoring's, authenticating as its Google service
// account, so the engine's Prometheus provider, which has no Google authentication, can query
// Managed Prometheus ("Query using the Prometheus API or UI",
// https://cloud.google.com/stackdriver/docs/managed-prometheus/query-api-ui; the Deployment
// follows Google's GoogleCloudPlatform/prometheus-engine examples/frontend.yaml: its image, its
// args --web.listen-address=:9090 --query.project-id=PROJECT_ID, port 9090 named web, readiness
// /-/ready, liveness /-/healthy, user 1000).
const (
	// FrontendName names the frontend's Deployment, Service and both service accounts' Kubernetes
	// side; config.FrontendURL is its Service's URL.
	FrontendName = "gmp-frontend"
	FrontendPort = 9090
	// FrontendRepository is where Google publishes Managed Prometheus's images.
	FrontendRepository = "gke.gcr.io/prometheus-engine"
	FrontendImage      = FrontendRepository + "/frontend:v0.15.3-gke.0"
	// frontendRole lets the frontend read the project's metrics, nothing else
	// ("roles/monitoring.viewer", query-api-ui above).
	frontendRole = "roles/monitoring.viewer"
	// workloadIdentityAnnotation names, on a Kubernetes service account, the Google service account
	// its pods act as (https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity).
	workloadIdentityAnnotation = "iam.gke.io/gcp-service-account"
	// frontendUser is the example's user: the image runs as any non-root user.
	frontendUser = 1000
)

var frontendLabels = pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(FrontendName)}

// newFrontend declares the frontend's Google identity (parent) and its Kubernetes objects (k8s:
// the engine's child options, after its namespace); the Deployment is returned.
func newFrontend(ctx *pulumi.Context, args Args, parent pulumi.ResourceOption, k8s []pulumi.ResourceOption) (pulumi.Resource, error) {
	// At most 30 characters: the cluster name has at most 24 (infra/config). No key is created:
	// GKE's metadata server hands the pods its tokens.
	id := args.ClusterName + "-query"
	sa, err := serviceaccount.NewAccount(ctx, id, &serviceaccount.AccountArgs{
		Project:     pulumi.String(args.Project),
		AccountId:   pulumi.String(id),
		DisplayName: pulumi.String("Managed Prometheus query frontend of " + args.ClusterName + " (Argo Rollouts' analysis)"),
	}, parent)
	if err != nil {
		return nil, err
	}
	viewer, err := projects.NewIAMMember(ctx, id+"-monitoringViewer", &projects.IAMMemberArgs{
		Project: pulumi.String(args.Project),
		Role:    pulumi.String(frontendRole),
		Member:  sa.Member,
	}, parent)
	if err != nil {
		return nil, err
	}
	// The member names the cluster's workload pool, which exists only once the cluster does (IAM
	// refuses a member of a pool that does not exist): wait for the cluster's provider.
	identity, err := serviceaccount.NewIAMMember(ctx, id+"-workloadIdentityUser", &serviceaccount.IAMMemberArgs{
		ServiceAccountId: sa.Name,
		Role:             pulumi.String("roles/iam.workloadIdentityUser"),
		Member:           pulumi.String(fmt.Sprintf("serviceAccount:%s.svc.id.goog[%s/%s]", args.Project, Namespace, FrontendName)),
	}, parent, pulumi.DependsOn([]pulumi.Resource{args.Provider}))
	if err != nil {
		return nil, err
	}

	meta := &metav1.ObjectMetaArgs{Name: pulumi.String(FrontendName), Namespace: pulumi.String(Namespace), Labels: frontendLabels}
	ksa, err := corev1.NewServiceAccount(ctx, FrontendName, &corev1.ServiceAccountArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(FrontendName), Namespace: pulumi.String(Namespace), Labels: frontendLabels,
			Annotations: pulumi.StringMap{workloadIdentityAnnotation: sa.Email},
		},
	}, k8s...)
	if err != nil {
		return nil, err
	}
	// Its pods serve once they can act as the Google account with its role.
	deployment, err := appsv1.NewDeployment(ctx, FrontendName, &appsv1.DeploymentArgs{
		Metadata: meta,
		Spec: &appsv1.DeploymentSpecArgs{
			// Two, spread over the nodes: a step's analysis errors while the frontend is away, and
			// four errors in a row abort the release.
			Replicas: pulumi.Int(2),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: frontendLabels},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: frontendLabels},
				Spec:     frontendPod(args.Project),
			},
		},
	}, append(slices.Clip(k8s), pulumi.DependsOn([]pulumi.Resource{ksa, viewer, identity}))...)
	if err != nil {
		return nil, err
	}
	if _, err := corev1.NewService(ctx, FrontendName, &corev1.ServiceArgs{
		Metadata: meta,
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: frontendLabels,
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name: pulumi.String("http"), Port: pulumi.Int(FrontendPort), TargetPort: pulumi.String("web"), Protocol: pulumi.String("TCP"),
			}},
		},
	}, k8s...); err != nil {
		return nil, err
	}
	// The frontend answers without authentication with whatever its role reads, every metric of the
	// project: only the engine's controller may reach it (GKE's Dataplane V2 enforces the policy;
	// the kubelet's probes are not subject to it).
	if _, err := networkingv1.NewNetworkPolicy(ctx, FrontendName, &networkingv1.NetworkPolicyArgs{
		Metadata: meta,
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: frontendLabels},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
				From: networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
					PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(Controller)}},
				}},
				Ports: networkingv1.NetworkPolicyPortArray{&networkingv1.NetworkPolicyPortArgs{
					Port: pulumi.Int(FrontendPort), Protocol: pulumi.String("TCP"),
				}},
			}},
		},
	}, k8s...); err != nil {
		return nil, err
	}
	return deployment, nil
}

// frontendPod runs the frontend unprivileged and read-only, as the app's pods run.
func frontendPod(project string) *corev1.PodSpecArgs {
	probe := func(path string) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:       &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String("web")},
			PeriodSeconds: pulumi.Int(10), TimeoutSeconds: pulumi.Int(2), FailureThreshold: pulumi.Int(3),
		}
	}
	return &corev1.PodSpecArgs{
		ServiceAccountName: pulumi.String(FrontendName),
		SecurityContext: &corev1.PodSecurityContextArgs{
			RunAsNonRoot:   pulumi.Bool(true),
			SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
		},
		NodeSelector: pulumi.StringMap{"kubernetes.io/os": pulumi.String("linux")},
		// Soft: on a one-node cluster both replicas still schedule.
		TopologySpreadConstraints: corev1.TopologySpreadConstraintArray{&corev1.TopologySpreadConstraintArgs{
			MaxSkew:           pulumi.Int(1),
			TopologyKey:       pulumi.String("kubernetes.io/hostname"),
			WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
			LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: frontendLabels},
		}},
		Containers: corev1.ContainerArray{&corev1.ContainerArgs{
			Name:  pulumi.String("frontend"),
			Image: pulumi.String(FrontendImage),
			Args: pulumi.StringArray{
				pulumi.String("--web.listen-address=:" + strconv.Itoa(FrontendPort)),
				pulumi.String("--query.project-id=" + project),
			},
			Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{
				Name: pulumi.String("web"), ContainerPort: pulumi.Int(FrontendPort), Protocol: pulumi.String("TCP"),
			}},
			ReadinessProbe: probe("/-/ready"),
			LivenessProbe:  probe("/-/healthy"),
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("32Mi")},
				Limits:   pulumi.StringMap{"memory": pulumi.String("128Mi")},
			},
			SecurityContext: podsec.Container(frontendUser),
			VolumeMounts:    podsec.TmpMount(),
		}},
		Volumes: podsec.TmpVolume("16Mi"),
	}
}
