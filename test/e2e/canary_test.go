//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cryptotracker/ctmd/infra/slo"
)

var destinationRuleGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}

const (
	canaryImage  = "registry.example.test/ctmd/marketdata:e2e-canary@sha256:" + digestC
	canaryImage2 = "registry.example.test/ctmd/marketdata:e2e-canary-2@sha256:" + digestD
)

// TestCanaryReleases runs docs/operations.md's release flows with `pulumi config` and `pulumi up`
// only: start a canary, promote it, start a second one and roll it back.
func TestCanaryReleases(t *testing.T) {
	mainCluster.hold(t)
	ctx := t.Context()
	k := newClients(t)
	out := &transcript{}
	// On a cluster with Managed Prometheus, so the SLO ClusterRules object follows the canary.
	s := newExistingStack(t, "e2e-canary", withManagedPrometheus(nil))
	t.Cleanup(func() { destroy(t, k, s, out) })
	set := func(key, value string) {
		t.Helper()
		if err := s.SetConfig(ctx, key, auto.ConfigValue{Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	rm := func(keys ...string) {
		t.Helper()
		if err := s.RemoveAllConfig(ctx, keys); err != nil {
			t.Fatal(err)
		}
	}

	mustUp(t, s, out)
	waitRollout(t, k, "marketdata", image, replicas)
	assertJSON(t, "DestinationRule marketdata", k.spec(t, destinationRuleGVR, namespace, "marketdata"), `{
		"host": "marketdata", "subsets": [{"name": "stable", "labels": {"version": "v1"}}]
	}`)
	assertStableOnly(t, k)

	t.Run("start a canary at weight 20", func(t *testing.T) {
		set("ctmd:canaryImage", canaryImage)
		set("ctmd:canaryWeight", "20")
		res := mustUp(t, s, out)
		waitRollout(t, k, "marketdata-canary", canaryImage, 1)
		waitRollout(t, k, "marketdata", image, replicas)
		canary, err := k.kube.AppsV1().Deployments(namespace).Get(ctx, "marketdata-canary", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := canary.Spec.Template.Labels; got["app"] != "marketdata" || got["version"] != "canary" {
			t.Errorf("canary pod labels %v, want app marketdata, version canary", got)
		}
		assertJSON(t, "DestinationRule marketdata-canary", k.spec(t, destinationRuleGVR, namespace, "marketdata-canary"), `{
			"host": "marketdata", "subsets": [{"name": "canary", "labels": {"version": "canary"}}]
		}`)
		assertJSON(t, "VirtualService routes", k.spec(t, virtualServiceGVR, namespace, "ctmd").(map[string]any)["http"], `[
			{"name": "canary-by-header",
				"match": [{"uri": {"prefix": "/api"}, "ignoreUriCase": true, "headers": {"x-ctmd-canary": {"exact": "always"}}}],
				"route": [{"destination": {"host": "marketdata", "subset": "canary", "port": {"number": 80}}, "weight": 100}]},
			{"name": "api",
				"match": [{"uri": {"prefix": "/api"}, "ignoreUriCase": true}],
				"route": [
					{"destination": {"host": "marketdata", "subset": "stable", "port": {"number": 80}}, "weight": 80},
					{"destination": {"host": "marketdata", "subset": "canary", "port": {"number": 80}}, "weight": 20}
				]}
		]`)
		// The Service, and so the canary subset, reaches the canary's pods.
		eventually(t, time.Minute, "canary pods behind the Service", func(ctx context.Context) (bool, string) {
			pods, err := k.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=marketdata,version=canary"})
			if err != nil {
				return false, err.Error()
			}
			return len(pods.Items) == 1, fmt.Sprintf("%d canary pods", len(pods.Items))
		})
		if res.Outputs["canaryImage"].Value != canaryImage || fmt.Sprint(res.Outputs["canaryWeight"].Value) != "20" {
			t.Errorf("outputs canaryImage %v canaryWeight %v", res.Outputs["canaryImage"].Value, res.Outputs["canaryWeight"].Value)
		}
		// While the canary runs, the ClusterRules object compares it with stable.
		if names := checkAlertRules(t, k, res.Outputs); !slices.Contains(names, slo.CanaryAlert) {
			t.Errorf("alerts with a canary running %v, want %s among them", names, slo.CanaryAlert)
		}
		s.assertNoOp(t, out)
		analyzeMesh(t, "canary at weight 20", withoutIstio)
	})

	t.Run("promote", func(t *testing.T) {
		set("ctmd:image", canaryImage)
		rm("ctmd:canaryImage", "ctmd:canaryWeight")
		res := mustUp(t, s, out)
		waitRollout(t, k, "marketdata", canaryImage, replicas)
		assertStableOnly(t, k)
		// Promoted: nothing left to compare, so the canary alert is gone.
		waitCanaryAlert(t, k, false)
		checkAlertRules(t, k, res.Outputs)
		s.assertNoOp(t, out)
		analyzeMesh(t, "canary promotion", withoutIstio)
	})

	t.Run("roll back a second canary", func(t *testing.T) {
		set("ctmd:canaryImage", canaryImage2)
		mustUp(t, s, out)
		waitRollout(t, k, "marketdata-canary", canaryImage2, 1)
		rm("ctmd:canaryImage")
		mustUp(t, s, out)
		// The stable track never changed.
		waitRollout(t, k, "marketdata", canaryImage, replicas)
		assertStableOnly(t, k)
		s.assertNoOp(t, out)
		analyzeMesh(t, "canary rollback", withoutIstio)
	})
}

// assertStableOnly checks that no canary object is left and every request goes to stable.
func assertStableOnly(t *testing.T, k clients) {
	t.Helper()
	eventually(t, 2*time.Minute, "canary objects gone", func(ctx context.Context) (bool, string) {
		if _, err := k.kube.AppsV1().Deployments(namespace).Get(ctx, "marketdata-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("Deployment marketdata-canary: %v", err)
		}
		if _, err := k.kube.AutoscalingV2().HorizontalPodAutoscalers(namespace).Get(ctx, "marketdata-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("HPA marketdata-canary: %v", err)
		}
		if _, err := k.dyn.Resource(destinationRuleGVR).Namespace(namespace).Get(ctx, "marketdata-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("DestinationRule marketdata-canary: %v", err)
		}
		pods, err := k.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "version=canary"})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0, fmt.Sprintf("%d canary pods left", len(pods.Items))
	})
	assertJSON(t, "VirtualService routes", k.spec(t, virtualServiceGVR, namespace, "ctmd").(map[string]any)["http"], `[{
		"name": "api",
		"match": [{"uri": {"prefix": "/api"}, "ignoreUriCase": true}],
		"route": [{"destination": {"host": "marketdata", "subset": "stable", "port": {"number": 80}}, "weight": 100}]
	}]`)
}
