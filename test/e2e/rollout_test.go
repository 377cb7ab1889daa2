//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cryptotracker/ctmd/infra/app"
)

// What the delivery tests read of the engine's work: the Rollout's state, its ReplicaSets and
// analysis runs, and the weights of the gateway's route.

// rolloutState is what the tests read of the Rollout.
type rolloutState struct {
	Spec struct {
		Replicas *int `json:"replicas"`
	} `json:"spec"`
	Status struct {
		AvailableReplicas int              `json:"availableReplicas"`
		Phase             string           `json:"phase"`
		Message           string           `json:"message"`
		StableRS          string           `json:"stableRS"`
		CurrentPodHash    string           `json:"currentPodHash"`
		Abort             bool             `json:"abort"`
		PauseConditions   []pauseCondition `json:"pauseConditions"`
		Canary            struct {
			Weights *struct {
				Canary struct {
					Weight int `json:"weight"`
				} `json:"canary"`
			} `json:"weights"`
		} `json:"canary"`
	} `json:"status"`
}

type pauseCondition struct {
	Reason string `json:"reason"`
}

func (r rolloutState) canaryWeight() int {
	if r.Status.Canary.Weights == nil {
		return 0
	}
	return r.Status.Canary.Weights.Canary.Weight
}

func (r rolloutState) String() string {
	var pauses []string
	for _, p := range r.Status.PauseConditions {
		pauses = append(pauses, p.Reason)
	}
	return fmt.Sprintf("phase %s (%s), stable %s, wanted %s, abort %v, paused %v, canary weight %d",
		r.Status.Phase, r.Status.Message, r.Status.StableRS, r.Status.CurrentPodHash, r.Status.Abort, pauses, r.canaryWeight())
}

// waitRolloutState waits until the Rollout meets cond.
func waitRolloutState(t *testing.T, k clients, what string, cond func(context.Context, rolloutState) (bool, string)) {
	t.Helper()
	eventually(t, 3*time.Minute, what, func(ctx context.Context) (bool, string) {
		obj, err := k.dyn.Resource(rolloutGVR).Namespace(namespace).Get(ctx, app.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		var r rolloutState
		if err := fromUnstructured(obj.Object, &r); err != nil {
			return false, err.Error()
		}
		ok, why := cond(ctx, r)
		return ok, r.String() + why
	})
}

// healthyOn: the release is over and the stable ReplicaSet, the one the Rollout wants, runs image
// and takes every request.
func healthyOn(k clients, image string) func(context.Context, rolloutState) (bool, string) {
	return func(ctx context.Context, r rolloutState) (bool, string) {
		got := replicaSetImage(ctx, k, r.Status.StableRS)
		return r.Status.Phase == "Healthy" && r.Status.StableRS == r.Status.CurrentPodHash && got == image && r.canaryWeight() == 0,
			"; stable runs " + got
	}
}

// scaledTo: want pods are asked for and available, and cond holds.
func scaledTo(want int, cond func(context.Context, rolloutState) (bool, string)) func(context.Context, rolloutState) (bool, string) {
	return func(ctx context.Context, r rolloutState) (bool, string) {
		ok, why := cond(ctx, r)
		replicas := -1
		if r.Spec.Replicas != nil {
			replicas = *r.Spec.Replicas
		}
		return ok && replicas == want && r.Status.AvailableReplicas == want, fmt.Sprintf("%s; replicas %d, %d available", why, replicas, r.Status.AvailableReplicas)
	}
}

// scaleRollout sets the Rollout's replicas through its scale subresource, as an autoscaler does.
func scaleRollout(t *testing.T, k clients, replicas int) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	if _, err := k.dyn.Resource(rolloutGVR).Namespace(namespace).Patch(t.Context(), app.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "scale"); err != nil {
		t.Fatalf("scale the Rollout to %d: %v", replicas, err)
	}
}

// atWeight: the engine holds the canary at weight, and the gateway's route says so.
func atWeight(weight int) func(context.Context, rolloutState) (bool, string) {
	return func(_ context.Context, r rolloutState) (bool, string) {
		return r.canaryWeight() == weight && r.Status.StableRS != r.Status.CurrentPodHash, ""
	}
}

// aborted: the engine gave up the release, stable still runs image and takes every request.
func aborted(k clients, image string) func(context.Context, rolloutState) (bool, string) {
	return func(ctx context.Context, r rolloutState) (bool, string) {
		got := replicaSetImage(ctx, k, r.Status.StableRS)
		return r.Status.Abort && r.Status.Phase == "Degraded" && got == image && routeAllStable(ctx, k), "; stable runs " + got
	}
}

// inconclusive: the engine paused on an analysis it could not judge, at the first step, with
// stable still on image.
func inconclusive(k clients, image string) func(context.Context, rolloutState) (bool, string) {
	return func(ctx context.Context, r rolloutState) (bool, string) {
		got := replicaSetImage(ctx, k, r.Status.StableRS)
		paused := slices.Contains(r.Status.PauseConditions, pauseCondition{Reason: "InconclusiveAnalysisRun"})
		return paused && r.Status.Phase == "Paused" && !r.Status.Abort && got == image && r.canaryWeight() == 10,
			"; stable runs " + got
	}
}

func routeAllStable(ctx context.Context, k clients) bool {
	w, err := apiRouteWeights(ctx, k)
	return err == nil && w[app.StableService] == 100 && w[app.CanaryService] == 0
}

// replicaSetImage is the image of the Rollout's ReplicaSet of a pod template hash.
func replicaSetImage(ctx context.Context, k clients, hash string) string {
	list, err := k.kube.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: "rollouts-pod-template-hash=" + hash})
	if err != nil || len(list.Items) != 1 {
		return fmt.Sprintf("(%d ReplicaSets of hash %q: %v)", len(list.Items), hash, err)
	}
	return list.Items[0].Spec.Template.Spec.Containers[0].Image
}

// onlyPodsOf: want pods run image, and no other marketdata pod is left.
func onlyPodsOf(k clients, image string, want int) func(context.Context) (bool, string) {
	return func(ctx context.Context) (bool, string) {
		pods, err := k.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app.Name})
		if err != nil {
			return false, err.Error()
		}
		var images []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				images = append(images, p.Spec.Containers[0].Image)
			}
		}
		return len(images) == want && !slices.ContainsFunc(images, func(i string) bool { return i != image }),
			fmt.Sprintf("pods run %v", images)
	}
}

// assertAnalysisRuns: the release's analyses (those of the Rollout's wanted pod template) are
// want of the given phase, and nothing else.
func assertAnalysisRuns(t *testing.T, k clients, phase string, want int) {
	t.Helper()
	obj, err := k.dyn.Resource(rolloutGVR).Namespace(namespace).Get(t.Context(), app.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var r rolloutState
	if err := fromUnstructured(obj.Object, &r); err != nil {
		t.Fatal(err)
	}
	list, err := k.dyn.Resource(analysisRunGVR).Namespace(namespace).List(t.Context(), metav1.ListOptions{
		LabelSelector: "rollouts-pod-template-hash=" + r.Status.CurrentPodHash,
	})
	if err != nil {
		t.Fatal(err)
	}
	var phases []string
	for _, run := range list.Items {
		p, _ := run.Object["status"].(map[string]any)["phase"].(string)
		phases = append(phases, p)
	}
	if len(phases) != want || slices.ContainsFunc(phases, func(p string) bool { return p != phase }) {
		t.Errorf("analysis runs of the release: %v, want %d %s", phases, want, phase)
	}
}

// watchWeights records every canary weight of the gateway's api route until the returned
// function is called, which returns them in the order they came, repeats left out.
func watchWeights(t *testing.T, k clients) func() []int {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan []int)
	go func() {
		var seen []int
		for ctx.Err() == nil {
			if w, err := apiRouteWeights(ctx, k); err == nil {
				if c := w[app.CanaryService]; len(seen) == 0 || seen[len(seen)-1] != c {
					seen = append(seen, c)
					recordEngineStep(t, k, fmt.Sprintf("canary at %d", c))
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		done <- seen
	}()
	return func() []int {
		cancel()
		return <-done
	}
}

func fromUnstructured(obj map[string]any, v any) error {
	raw, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}
