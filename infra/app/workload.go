package app

import (
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// track is one release line of marketdata: a Deployment and its autoscaler.
type track struct {
	name string
	// version is the pod label the DestinationRule's subsets select.
	version string
	image   pulumi.StringInput
	// selector selects the track's pods. The stable track keeps the selector it was created
	// with (a Deployment's selector is immutable: narrowing it would replace the Deployment).
	selector    pulumi.StringMap
	minReplicas int
	maxReplicas int
}

// workload declares one track's Deployment and HorizontalPodAutoscaler, every track from the
// same pod template, and returns the Deployment. podOpts apply to the Deployment, opts to the HPA.
func workload(ctx *pulumi.Context, t track, annotations pulumi.StringMap, podOpts, opts []pulumi.ResourceOption) (*appsv1.Deployment, error) {
	dep, err := appsv1.NewDeployment(ctx, t.name, &appsv1.DeploymentArgs{
		Metadata: trackMeta(t),
		// No replicas: the HorizontalPodAutoscaler owns .spec.replicas (its minimum is
		// t.minReplicas). Under Server-Side Apply a value here would either conflict with the
		// scale subresource's manager on every update once the HPA has acted, or (forced) undo
		// the HPA; ignoreChanges does not help, since the old value is still applied. See
		// https://kubernetes.io/docs/reference/using-api/server-side-apply/#transferring-ownership
		Spec: &appsv1.DeploymentSpecArgs{
			Selector: &metav1.LabelSelectorArgs{MatchLabels: t.selector},
			Strategy: &appsv1.DeploymentStrategyArgs{
				Type: pulumi.String("RollingUpdate"),
				// Never below the wanted replica count during a rollout.
				RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{MaxSurge: pulumi.Int(1), MaxUnavailable: pulumi.Int(0)},
			},
			Template: podTemplate(t, annotations),
		},
	}, podOpts...)
	if err != nil {
		return nil, err
	}
	return dep, autoscaler(ctx, t, "apps/v1", "Deployment", opts)
}

func trackMeta(t track) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{
		Name: pulumi.String(t.name), Namespace: pulumi.String(Namespace), Labels: pulumi.StringMap{"app": pulumi.String(Name)},
	}
}

// podTemplate is the one pod template of every workload: the tracks' Deployments and the Rollout.
func podTemplate(t track, annotations pulumi.StringMap) *corev1.PodTemplateSpecArgs {
	return &corev1.PodTemplateSpecArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Labels:      pulumi.StringMap{"app": pulumi.String(Name), "version": pulumi.String(t.version)},
			Annotations: annotations,
		},
		Spec: podSpec(t.image),
	}
}

// autoscaler scales a track's workload (a Deployment, or the Rollout) on CPU, between
// t.minReplicas and t.maxReplicas.
func autoscaler(ctx *pulumi.Context, t track, apiVersion, kind string, opts []pulumi.ResourceOption) error {
	_, err := autoscalingv2.NewHorizontalPodAutoscaler(ctx, t.name, &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: trackMeta(t),
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String(apiVersion), Kind: pulumi.String(kind), Name: pulumi.String(t.name),
			},
			MinReplicas: pulumi.Int(t.minReplicas),
			MaxReplicas: pulumi.Int(t.maxReplicas),
			Metrics: autoscalingv2.MetricSpecArray{&autoscalingv2.MetricSpecArgs{
				Type: pulumi.String("Resource"),
				Resource: &autoscalingv2.ResourceMetricSourceArgs{
					Name:   pulumi.String("cpu"),
					Target: &autoscalingv2.MetricTargetArgs{Type: pulumi.String("Utilization"), AverageUtilization: pulumi.Int(70)},
				},
			}},
		},
	}, opts...)
	return err
}
