//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/cryptotracker/ctmd/infra/app"
)

// engineStepsEnv names the directory the engine's steps are recorded into; make e2e sets it, then
// runs test/meshsim's TestEngineSteps on what the suite recorded there.
const engineStepsEnv = "CTMD_MESH_ENGINE_STEPS"

// engineStepCount numbers the recorded steps across the process, so that their directories sort
// in the order the steps were taken.
var engineStepCount atomic.Int32

// engineWeights are the api route's weights in percent, as weights.json holds them.
type engineWeights struct {
	Stable int `json:"stable"`
	Canary int `json:"canary"`
}

// recordEngineStep writes the live VirtualService ctmd as Argo Rollouts left it, and the weights
// the Rollout reports, into $CTMD_MESH_ENGINE_STEPS/NN-<step>/, for test/meshsim to run through
// Istio's own translation; the rendered VirtualService only ever holds the weights at rest.
// The controller writes the VirtualService before the Rollout's status, so the two are read until
// they agree, for a while. Failures are Errorf, since watchWeights calls this from its goroutine;
// but a missing directory is Fatal, which the first call, at rest, meets on the test's own.
func recordEngineStep(t *testing.T, k clients, step string) {
	t.Helper()
	root := os.Getenv(engineStepsEnv)
	if root == "" {
		t.Fatalf("%s is not set: make e2e sets it to the directory test/meshsim's TestEngineSteps then reads", engineStepsEnv)
	}
	ctx := t.Context()
	var (
		vs               map[string]any
		routed, reported engineWeights
		err              error
		deadline         = time.Now().Add(10 * time.Second)
	)
	for {
		vs, routed, reported, err = readEngineStep(ctx, k)
		if (err == nil && routed == reported) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	switch {
	case ctx.Err() != nil:
		return // the test is over: nothing left to record, and no one to tell
	case err != nil:
		t.Errorf("record the engine's step %q: %v", step, err)
		return
	case routed != reported:
		t.Errorf("step %q: the VirtualService's api route sends stable %d%%, canary %d%%; the Rollout reports stable %d%%, canary %d%%",
			step, routed.Stable, routed.Canary, reported.Stable, reported.Canary)
	}
	name := regexp.MustCompile(`[^A-Za-z0-9.]+`).ReplaceAllString(step, "-")
	dir := filepath.Join(root, fmt.Sprintf("%02d-%s", engineStepCount.Add(1)-1, name))
	vsYAML, errVS := yaml.Marshal(vs)
	weightsJSON, errWeights := json.Marshal(reported)
	if err := errors.Join(errVS, errWeights, os.MkdirAll(dir, 0o755)); err != nil {
		t.Errorf("record the engine's step %q: %v", step, err)
		return
	}
	for file, content := range map[string][]byte{"virtualservice.yaml": vsYAML, "weights.json": weightsJSON} {
		if err := os.WriteFile(filepath.Join(dir, file), content, 0o644); err != nil {
			t.Errorf("record the engine's step %q: %v", step, err)
		}
	}
}

// readEngineStep reads the VirtualService ctmd, the weights of its api route and the weights the
// Rollout marketdata reports.
func readEngineStep(ctx context.Context, k clients) (vs map[string]any, routed, reported engineWeights, err error) {
	obj, err := k.dyn.Resource(virtualServiceGVR).Namespace(namespace).Get(ctx, app.RoutesName, metav1.GetOptions{})
	if err != nil {
		return nil, routed, reported, err
	}
	ro, err := k.dyn.Resource(rolloutGVR).Namespace(namespace).Get(ctx, app.Name, metav1.GetOptions{})
	if err != nil {
		return nil, routed, reported, err
	}
	weights, err := routeWeightsOf(obj.Object)
	if err != nil {
		return nil, routed, reported, err
	}
	routed = engineWeights{Stable: weights[app.StableService], Canary: weights[app.CanaryService]}
	stable, okStable, _ := unstructured.NestedInt64(ro.Object, "status", "canary", "weights", "stable", "weight")
	canary, okCanary, _ := unstructured.NestedInt64(ro.Object, "status", "canary", "weights", "canary", "weight")
	if !okStable || !okCanary {
		err = fmt.Errorf("the Rollout %s reports no weights (status.canary.weights)", app.Name)
	}
	return obj.Object, routed, engineWeights{int(stable), int(canary)}, err
}
