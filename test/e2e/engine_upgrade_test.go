//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cryptotracker/ctmd/infra/app"
	"github.com/cryptotracker/ctmd/infra/mesh"
)

// TestIstioUpgradeUnderTheEngine: with releases handed to Argo Rollouts, moving the app onto a new
// Istio revision is a release the engine steps through after the up has returned. An up that
// finishes the upgrade at once must still remove the old control plane only after the engine has
// moved every pod off it (mesh.RevisionGuard); without the guard it is removed while they run.
func TestIstioUpgradeUnderTheEngine(t *testing.T) {
	rolloutsCluster.hold(t)
	rig := startDeliveryRig(t, rolloutsCluster)
	k := rig.k
	from, to := env.istioVersion, env.istioNextVersion
	cfg := auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:istioChartRepository":  {Value: env.chartRepo},
		"ctmd:istioVersion":          {Value: from},
		"ctmd:image":                 {Value: goodImage},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
	}
	// One step held long enough that the up starting the move returns while the engine holds it.
	for key, value := range rig.engineConfig(moveStep) {
		cfg[key] = auto.ConfigValue{Value: value}
	}
	r := releases{s: rolloutsCluster.newStack(t, "e2e-istio-engine", cfg), k: k, out: &transcript{}}
	// A list: set by path, as the engine type-checks it against Pulumi.yaml.
	if err := r.s.SetConfigWithOptions(t.Context(), "ctmd:deliverySteps[0]", auto.ConfigValue{Value: "50"}, &auto.ConfigOptions{Path: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { destroy(t, k, r.s, r.out) })
	mustUp(t, r.s, r.out)
	waitRolloutState(t, k, "the Rollout serves "+goodImage, healthyOn(k, goodImage))

	r.set(t, map[string]string{"ctmd:istioCanaryVersion": to})
	mustUp(t, r.s, r.out)
	waitRolloutState(t, k, "the move to "+to+" held by the engine", atWeight(50))

	// Finished at once, as a hurried person would, while the engine still steps the move.
	r.set(t, map[string]string{"ctmd:istioVersion": to})
	if err := r.s.RemoveConfig(t.Context(), "ctmd:istioCanaryVersion"); err != nil {
		t.Fatal(err)
	}
	mustUp(t, r.s, r.out)
	if left := podsOnRevision(t, k, mesh.Revision(from)); len(left) > 0 {
		t.Errorf("the up removed the control plane of %s while pods still ran on it: %v", from, left)
	}
	waitRolloutState(t, k, "the Rollout serves "+goodImage+" on "+to, healthyOn(k, goodImage))
	checkRevisions(t, k, []string{to}, to, to)
	r.s.assertNoOp(t, r.out)
}

// moveStep is how long the engine holds the one step of the move; the revision guard waits longer.
const moveStep = 90 * time.Second

// podsOnRevision names the marketdata pods, not being deleted, made from a template on revision.
func podsOnRevision(t *testing.T, k clients, revision string) []string {
	t.Helper()
	pods, err := k.kube.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app.Name})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Annotations[app.RevisionAnnotation] == revision {
			names = append(names, fmt.Sprintf("%s (%s)", p.Name, p.Spec.Containers[0].Image))
		}
	}
	slices.Sort(names)
	return names
}
