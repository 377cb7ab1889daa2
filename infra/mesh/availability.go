package mesh

import (
	"maps"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// GKE drains every node it upgrades (several times a year on the release channel) through the
// Eviction API, which honours PodDisruptionBudgets. These values keep at least one gateway and one
// istiod serving throughout: two or more replicas, a budget that lets a drain evict one pod at a
// time, and pods spread over the nodes so one drain never takes them all at once.

// chartMaxReplicas is both charts' default autoscaler maximum (autoscaling.maxReplicas,
// autoscaleMax), kept unless the minimum is higher.
const chartMaxReplicas = 5

// disruptionBudget lets a drain evict one pod at a time. The charts create it only when the
// minimum is above one (their workaround for kubernetes#93476): with one replica a budget could
// only block the drain or allow the outage. Unhealthy pods may always be evicted, so a pod that
// never becomes ready does not hold a node upgrade up: "It is recommended to set AlwaysAllow
// Unhealthy Pod Eviction Policy to your PodDisruptionBudgets to support eviction of misbehaving
// applications during a node drain"
// (https://kubernetes.io/docs/tasks/run-application/configure-pdb/#unhealthy-pod-eviction-policy).
func disruptionBudget() pulumi.Map {
	return pulumi.Map{"maxUnavailable": pulumi.Int(1), "unhealthyPodEvictionPolicy": pulumi.String("AlwaysAllow")}
}

// spreadOverNodes asks the scheduler to place the pods of each rollout (pod-template-hash) on
// different nodes. ScheduleAnyway, not DoNotSchedule: on a one-node cluster (the default dev
// stack) both replicas must still run.
func spreadOverNodes(selector pulumi.StringMap) pulumi.Array {
	return pulumi.Array{pulumi.Map{
		"maxSkew":           pulumi.Int(1),
		"topologyKey":       pulumi.String("kubernetes.io/hostname"),
		"whenUnsatisfiable": pulumi.String("ScheduleAnyway"),
		"labelSelector":     pulumi.Map{"matchLabels": selector},
		"matchLabelKeys":    pulumi.StringArray{pulumi.String("pod-template-hash")},
	}}
}

// gatewayAvailability are the gateway chart's values for surviving a drain.
func gatewayAvailability(minReplicas int) pulumi.Map {
	return pulumi.Map{
		"autoscaling":         pulumi.Map{"minReplicas": pulumi.Int(minReplicas), "maxReplicas": pulumi.Int(max(chartMaxReplicas, minReplicas))},
		"podDisruptionBudget": disruptionBudget(),
		// The chart's selector labels: app from the release name, istio from ours.
		"topologySpreadConstraints": spreadOverNodes(pulumi.StringMap{
			"app": pulumi.String(GatewayRelease), "istio": pulumi.String(GatewayLabel),
		}),
	}
}

// istiodAvailability are the istiod chart's values for surviving a drain.
func istiodAvailability(revision string, minReplicas int) pulumi.Map {
	return pulumi.Map{
		"autoscaleMin": pulumi.Int(minReplicas),
		"autoscaleMax": pulumi.Int(max(chartMaxReplicas, minReplicas)),
		// The chart's default is minAvailable: 1; maxUnavailable takes precedence when set.
		"pdb": disruptionBudget(),
		"topologySpreadConstraints": spreadOverNodes(pulumi.StringMap{
			"app": pulumi.String("istiod"), "istio.io/rev": pulumi.String(revision),
		}),
	}
}

// proxyLifecycle is the mesh-wide proxy configuration (meshConfig.defaultConfig) that keeps
// requests flowing while pods start and stop. Istio injects its proxy as a Kubernetes native
// sidecar where every node runs Kubernetes 1.33 or later (ENABLE_NATIVE_SIDECARS, default "auto":
// https://istio.io/latest/docs/reference/commands/pilot-discovery/#envvars), and then the kubelet
// starts it before the application and stops it after. These two settings give the same order to
// a classic sidecar, injected when some node is older (a mixed pool during an upgrade):
//   - holdApplicationUntilProxyStarts "adds hooks to delay application startup until the pod
//     proxy is ready to accept traffic"
//     (https://istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/#ProxyConfig);
//   - EXIT_ON_ZERO_ACTIVE_CONNECTIONS "terminates proxy when number of active connections become
//     zero during draining" (https://istio.io/latest/docs/reference/commands/pilot-agent/#envvars),
//     after MINIMUM_DRAIN_DURATION (5 s), instead of after the fixed terminationDrainDuration
//     (5 s) that would cut requests the application is still answering: marketdata stays
//     listening for its 5 s shutdown delay, then finishes what is in flight. The gateway drains
//     its client connections the same way, within its 30 s grace period.
func proxyLifecycle() pulumi.Map {
	return pulumi.Map{
		"holdApplicationUntilProxyStarts": pulumi.Bool(true),
		"proxyMetadata":                   pulumi.Map{"EXIT_ON_ZERO_ACTIVE_CONNECTIONS": pulumi.String("true")},
	}
}

// merged returns the union of value maps (later ones win on a shared top-level key).
func merged(values ...pulumi.Map) pulumi.Map {
	out := pulumi.Map{}
	for _, v := range values {
		maps.Copy(out, v)
	}
	return out
}
