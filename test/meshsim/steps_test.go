package meshsim

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"istio.io/istio/pilot/test/xdstest"
	"sigs.k8s.io/yaml"
)

// engineStepsEnv names the directory make e2e records a live Argo Rollouts release into, one
// NN-<step> directory per step (test/e2e/meshsteps_test.go, recordEngineStep).
const engineStepsEnv = "CTMD_MESH_ENGINE_STEPS"

const (
	// deliveryScenario is the rendered scenario whose releases the engine runs
	// (infra/stack/render_test.go).
	deliveryScenario = "delivery"
	// routesName is the VirtualService the engine rewrites, and apiRoute its route whose weights
	// it sets (infra/app/rollout.go).
	routesName = "ctmd"
	apiRoute   = "api"
)

// engineStep is one step of a live release: the VirtualService as the engine wrote it, and the
// weights the Rollout reported at that moment.
type engineStep struct {
	name           string
	virtualService map[string]any
	weights        stepWeights
}

// stepWeights is the layout of weights.json: the percentages the Rollout reports in
// status.canary.weights.
type stepWeights struct {
	Stable int `json:"stable"`
	Canary int `json:"canary"`
}

// TestEngineSteps runs what Argo Rollouts wrote at each step of a real release through Istio's
// translation: the gateway must route as the written VirtualService declares, and split the API's
// requests as the Rollout says it does. The rendered VirtualService only holds the weights at rest.
func TestEngineSteps(t *testing.T) {
	root := os.Getenv(engineStepsEnv)
	if root == "" {
		t.Skipf("%s is not set: make e2e runs this on the steps its release recorded on a live cluster", engineStepsEnv)
	}
	steps := readEngineSteps(t, root)
	if len(steps) == 0 {
		t.Fatalf("no step recorded under %s: the e2e's TestProgressiveDelivery records each step of its release "+
			"(make e2e-suite, not make e2e, runs a subset of the suite that leaves it out)", root)
	}
	s := scenarioNamed(t, deliveryScenario)
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) { checkEngineStep(t, s, step).report(t) })
	}
}

// TestEngineStepWeightsAreChecked gives checkEngineStep steps whose VirtualService agrees with the
// reported weights, at rest and with all to the canary included (Istio drops a zero weight), and
// steps where they disagree: proof that TestEngineSteps compares the gateway's split with the
// Rollout's own account.
func TestEngineStepWeightsAreChecked(t *testing.T) {
	s := scenarioNamed(t, deliveryScenario)
	step := func(stable, canary int, reported stepWeights) engineStep {
		vs := roundTrip(t, s.virtualService(t))
		setAPIWeights(t, vs, stable, canary)
		name := fmt.Sprintf("%d-%d reported as %d-%d", stable, canary, reported.Stable, reported.Canary)
		return engineStep{name: name, virtualService: vs, weights: reported}
	}
	consistent := []engineStep{
		step(100, 0, stepWeights{100, 0}), step(90, 10, stepWeights{90, 10}), step(50, 50, stepWeights{50, 50}),
		step(0, 100, stepWeights{0, 100}),
	}
	for _, ok := range consistent {
		t.Run(ok.name, func(t *testing.T) {
			if p := checkEngineStep(t, s, ok); len(p) > 0 {
				t.Errorf("a step that agrees with its weights fails: %q", p)
			}
		})
	}
	for _, bad := range []engineStep{step(90, 10, stepWeights{75, 25}), step(90, 10, stepWeights{100, 0})} {
		t.Run(bad.name, func(t *testing.T) {
			want := fmt.Sprintf("the Rollout reports stable %d%%, canary %d%%", bad.weights.Stable, bad.weights.Canary)
			if p := checkEngineStep(t, s, bad); !p.mention(want) {
				t.Errorf("want a problem mentioning %q, got %q", want, p)
			}
		})
	}
}

// checkEngineStep puts a step's VirtualService in place of the rendered one, in a copy of s.
// checkGateway then compares the generated routes with it; besides, a GET of the API without
// headers must take exactly the reported weights, a zero weight being no cluster at all.
func checkEngineStep(t *testing.T, s scenario, step engineStep) problems {
	t.Helper()
	c := s.clone(t)
	c.istio[c.routesIndex(t)] = step.virtualService
	p := checkGateway(t, c)
	sim := c.simulate(t, c.gatewayProxy())
	r, err := plainRoute(sim, xdstest.ExtractRouteConfigurations(sim.Routes), c.gatewayEntry(t).call(apiPaths[0]))
	if err != nil {
		p.add("%v", err)
		return p
	}
	want := map[string]uint32{}
	stable, canary := c.serviceCluster(t, stableService, ""), c.serviceCluster(t, canaryService, "")
	for cluster, weight := range map[string]int{stable: step.weights.Stable, canary: step.weights.Canary} {
		if weight != 0 {
			want[cluster] = uint32(weight)
		}
	}
	got := map[string]uint32{}
	for _, w := range weightedClusters(r) {
		got[w.cluster] = w.weight
	}
	if !maps.Equal(got, want) {
		p.add("GET %s without headers at the gateway is split %v, but the Rollout reports stable %d%%, canary %d%% (want %v)",
			apiPaths[0], got, step.weights.Stable, step.weights.Canary, want)
	}
	return p
}

// readEngineSteps reads the recorded steps in the order they were taken (their NN- prefix). Each
// VirtualService is taken as the API server returned it: Istio's parser reads its metadata
// (managedFields, uid and all) as Kubernetes object metadata, and skips a status it cannot read.
func readEngineSteps(t *testing.T, root string) []engineStep {
	t.Helper()
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var steps []engineStep
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		dir := filepath.Join(root, d.Name())
		docs := readDocs(t, filepath.Join(dir, "virtualservice.yaml"))
		if len(docs) != 1 || !isRoutes(docs[0]) {
			t.Fatalf("%s/virtualservice.yaml: want the one VirtualService %s, got %d documents", d.Name(), routesName, len(docs))
		}
		step := engineStep{name: d.Name(), virtualService: docs[0]}
		raw, err := os.ReadFile(filepath.Join(dir, "weights.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(raw, &step.weights); err != nil {
			t.Fatalf("%s/weights.json: %v", d.Name(), err)
		}
		steps = append(steps, step)
	}
	return steps
}

// scenarioNamed is one rendered scenario.
func scenarioNamed(t *testing.T, name string) scenario {
	t.Helper()
	all := loadScenarios(t)
	i := slices.IndexFunc(all, func(s scenario) bool { return s.name == name })
	if i < 0 {
		t.Fatalf("no scenario %s rendered: TestRenderMeshResources should render it", name)
	}
	return all[i]
}

func isRoutes(doc map[string]any) bool {
	meta, _ := doc["metadata"].(map[string]any)
	return doc["kind"] == "VirtualService" && meta["name"] == routesName
}

// virtualService is the rendered VirtualService the engine rewrites.
func (s scenario) virtualService(t *testing.T) map[string]any {
	t.Helper()
	return s.istio[s.routesIndex(t)]
}

func (s scenario) routesIndex(t *testing.T) int {
	t.Helper()
	i := slices.IndexFunc(s.istio, isRoutes)
	if i < 0 {
		t.Fatalf("scenario %s renders no VirtualService %s", s.name, routesName)
	}
	return i
}

// setAPIWeights sets the api route's weights as the engine does, by the destination's Service.
func setAPIWeights(t *testing.T, vs map[string]any, stable, canary int) {
	t.Helper()
	for _, r := range vs["spec"].(map[string]any)["http"].([]any) {
		if r.(map[string]any)["name"] != apiRoute {
			continue
		}
		for _, dst := range r.(map[string]any)["route"].([]any) {
			dst := dst.(map[string]any)
			switch dst["destination"].(map[string]any)["host"] {
			case stableService:
				dst["weight"] = stable
			case canaryService:
				dst["weight"] = canary
			}
		}
		return
	}
	t.Fatalf("VirtualService %s has no route %s", routesName, apiRoute)
}
