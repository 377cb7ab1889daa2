package app

import (
	"strconv"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/podsec"
)

// podAnnotations are the pod template's annotations: Istio's metrics merging (see metrics.go),
// the connection string's digest, and the Istio revision when the stack installs Istio.
func podAnnotations(digest pulumi.StringOutput, istioRevision string) pulumi.StringMap {
	annotations := pulumi.StringMap{
		"prometheus.io/scrape": pulumi.String("true"),
		"prometheus.io/port":   pulumi.String(strconv.Itoa(port)),
		"prometheus.io/path":   pulumi.String(metricsPath),
		// Env from a secretKeyRef is read at container start only: a new digest changes the
		// template, so a rotated connection string rolls the pods.
		ConfigDigestAnnotation: digest,
	}
	if istioRevision != "" {
		// Sidecars are injected only when a pod is created: naming the revision in the pod
		// template rolls the pods onto a new control plane when the namespace label moves.
		annotations[RevisionAnnotation] = pulumi.String(istioRevision)
	}
	return annotations
}

// podSpec runs the service as an unprivileged, read-only container; Istio adds its sidecar.
func podSpec(image pulumi.StringInput) *corev1.PodSpecArgs {
	probe := func(path string, period int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String("http")},
			PeriodSeconds:    pulumi.Int(period),
			TimeoutSeconds:   pulumi.Int(2),
			FailureThreshold: pulumi.Int(3),
		}
	}
	return &corev1.PodSpecArgs{
		SecurityContext: &corev1.PodSecurityContextArgs{
			SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
		},
		// Soft spreading: on a one-node cluster the replicas still schedule.
		TopologySpreadConstraints: corev1.TopologySpreadConstraintArray{&corev1.TopologySpreadConstraintArgs{
			MaxSkew:           pulumi.Int(1),
			TopologyKey:       pulumi.String("kubernetes.io/hostname"),
			WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
			LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app": pulumi.String(Name)}},
		}},
		TerminationGracePeriodSeconds: pulumi.Int(30),
		Containers: corev1.ContainerArray{&corev1.ContainerArgs{
			Name:  pulumi.String(Name),
			Image: image,
			Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{
				Name: pulumi.String("http"), ContainerPort: pulumi.Int(port), Protocol: pulumi.String("TCP"),
			}},
			Env: corev1.EnvVarArray{&corev1.EnvVarArgs{
				Name: pulumi.String(SecretKey),
				ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
					Name: pulumi.String(SecretName), Key: pulumi.String(SecretKey),
				}},
			}},
			LivenessProbe:  probe("/healthz", 10),
			ReadinessProbe: probe("/readyz", 5),
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("64Mi")},
				Limits:   pulumi.StringMap{"memory": pulumi.String("256Mi")},
			},
			SecurityContext: podsec.Container(65532),
			VolumeMounts:    podsec.TmpMount(),
		}},
		Volumes: podsec.TmpVolume("64Mi"),
	}
}
