package app

import (
	"slices"
	"strconv"
	"time"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/object"
	"github.com/cryptotracker/ctmd/infra/slo"
)

// Rollout hands releases to Argo Rollouts: the stable track is a Rollout whose new template the
// engine brings in as a canary, moving the gateway's traffic through Steps and judging each on
// Gate before the next; a failed step aborts, an inconclusive one pauses.
type Rollout struct {
	// Steps are the canary's weights in percent; each is held for StepDuration, then judged.
	Steps        []int
	StepDuration time.Duration
	Gate         slo.Gate
	// PrometheusURL is the Prometheus HTTP API the gate queries.
	PrometheusURL string
	// Engine is what the Rollout and its analysis need first: the engine's CRDs and controller.
	Engine []pulumi.Resource
}

// Names of the engine's objects. The Services are the two hosts the gateway's route splits the
// traffic between, each of which the engine narrows to one ReplicaSet's pods (it adds
// rollouts-pod-template-hash to their selectors); Istio's request metrics then tell the tracks
// apart by destination_service_name, which follows the route, where the pods' labels would follow
// the pods (a promoted canary's proxy keeps the labels it started with).
const (
	StableService = Name + "-stable"
	CanaryService = Name + "-canary"
	// GateTemplate is the AnalysisTemplate every step runs.
	GateTemplate = Name + "-gate"
	// GateMetric names the gate's one measurement in the engine's AnalysisRuns.
	GateMetric = "availability"
	// apiRoute is the VirtualService route that splits the traffic, whose weights the engine sets.
	apiRoute = "api"
	// gateErrorLimit is how many failed queries in a row end a step's analysis in Error, which
	// aborts the rollout: Argo's default, written down so an unreachable Prometheus never promotes
	// (https://argo-rollouts.readthedocs.io/en/stable/features/analysis/#consecutiveerrorlimit).
	gateErrorLimit = 4
)

// engineServices declares the two Services the engine splits the traffic between.
func engineServices(ctx *pulumi.Context, opts []pulumi.ResourceOption) ([]pulumi.Resource, error) {
	var out []pulumi.Resource
	for _, name := range []string{StableService, CanaryService} {
		svc, err := corev1.NewService(ctx, name, service(name), opts...)
		if err != nil {
			return nil, err
		}
		out = append(out, svc)
	}
	return out, nil
}

// rollout declares the Rollout, its autoscaler and the gate's AnalysisTemplate. podOpts must
// order the Rollout after the routes that name engineServices: the engine refuses a Rollout whose
// route lacks either Service (InvalidSpec), and it would never become Available.
func rollout(ctx *pulumi.Context, t track, annotations pulumi.StringMap, r *Rollout, podOpts, opts []pulumi.ResourceOption) (pulumi.Resource, error) {
	afterEngine := append(slices.Clip(opts), pulumi.DependsOn(r.Engine))
	if _, err := object.New(ctx, "argoproj.io/v1alpha1", "AnalysisTemplate", GateTemplate, Namespace, gateTemplate(r), afterEngine...); err != nil {
		return nil, err
	}
	meta := trackMeta(t)
	// The up that creates the Rollout, or moves a stack onto it from the Deployment, waits for
	// its pods as it waits for a Deployment's, so the Deployment is deleted only once they serve.
	// A release does not wait: the stable pods stay available while the engine runs the steps.
	meta.Annotations = pulumi.StringMap{"pulumi.com/waitFor": pulumi.String("condition=Available")}
	ro, err := object.NewWithMeta(ctx, "argoproj.io/v1alpha1", "Rollout", t.name, meta, rolloutSpec(t, annotations, r.Steps, r.StepDuration),
		append(slices.Clip(podOpts), pulumi.DependsOn(r.Engine))...)
	if err != nil {
		return nil, err
	}
	return ro, autoscaler(ctx, t, "argoproj.io/v1alpha1", "Rollout", append(slices.Clip(opts), pulumi.DependsOn([]pulumi.Resource{ro})))
}

// rolloutSpec is the Rollout: the one pod template, and a canary strategy that sets each step's
// weight on the gateway's api route, holds it, then runs the gate. No replicas: the autoscaler
// owns them, as it owns a Deployment's (workload.go).
func rolloutSpec(t track, annotations pulumi.StringMap, weights []int, hold time.Duration) map[string]any {
	var steps []any
	for _, w := range weights {
		steps = append(steps,
			map[string]any{"setWeight": w},
			map[string]any{"pause": map[string]any{"duration": strconv.Itoa(int(hold.Seconds())) + "s"}},
			map[string]any{"analysis": map[string]any{"templates": []any{map[string]any{"templateName": GateTemplate}}}},
		)
	}
	return map[string]any{
		"selector": map[string]any{"matchLabels": map[string]any{"app": Name}},
		"template": podTemplate(t, annotations),
		"strategy": map[string]any{"canary": map[string]any{
			"stableService": StableService,
			"canaryService": CanaryService,
			// As the Deployment's: never below the wanted replica count.
			"maxSurge":       1,
			"maxUnavailable": 0,
			"trafficRouting": map[string]any{"istio": map[string]any{
				"virtualService": map[string]any{"name": RoutesName, "routes": []any{apiRoute}},
			}},
			"steps": steps,
		}},
	}
}

// gateTemplate is the step's judgement: one measurement of slo.Gate's query, failed above the
// margin, inconclusive on NaN (too little traffic or no data: the rollout pauses for a person),
// and in Error after gateErrorLimit failed queries in a row.
func gateTemplate(r *Rollout) map[string]any {
	return map[string]any{"metrics": []any{map[string]any{
		"name":                  GateMetric,
		"count":                 1,
		"failureLimit":          0,
		"inconclusiveLimit":     0,
		"consecutiveErrorLimit": gateErrorLimit,
		"successCondition":      r.Gate.Success,
		"failureCondition":      r.Gate.Failure,
		"provider": map[string]any{"prometheus": map[string]any{
			"address": r.PrometheusURL,
			"query":   r.Gate.Query,
			"timeout": 30,
		}},
	}}}
}

// service is a Service of every marketdata pod: the one in-mesh callers use, and the engine's two
// until it narrows each to one ReplicaSet's pods. The port name tells Istio the protocol.
func service(name string) *corev1.ServiceArgs {
	labels := pulumi.StringMap{"app": pulumi.String(Name)}
	return &corev1.ServiceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: pulumi.String(Namespace), Labels: labels},
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: labels,
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name: pulumi.String("http"), Port: pulumi.Int(80), TargetPort: pulumi.Int(port), Protocol: pulumi.String("TCP"),
			}},
		},
	}
}
