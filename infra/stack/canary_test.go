package stack

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

const (
	canaryImage = "registry.example/ctmd/marketdata:v2" + digestB
	vsRef       = "kubernetes:networking.istio.io/v1:VirtualService"
	drRef       = "kubernetes:networking.istio.io/v1:DestinationRule"
)

func canaryConfig(weight string) map[string]string {
	values := existingConfig(map[string]string{"ctmd:canaryImage": canaryImage})
	if weight != "" {
		values["ctmd:canaryWeight"] = weight
	}
	return values
}

// A canary is a second Deployment from the same pod spec, with its own autoscaler, behind the
// same Service, PDB and policy; the gateway sends it the header's requests and its weight.
func TestCanary(t *testing.T) {
	s := mustDeploy(t, canaryConfig("20"))

	stable := mockstack.Plain(s.Find(t, "kubernetes:apps/v1:Deployment", "marketdata").Inputs)
	canary := assertResource(t, s, "kubernetes:apps/v1:Deployment", "marketdata-canary", appComponent, "pulumi:providers:kubernetes::existing", `{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": {"name": "marketdata-canary", "namespace": "ctmd", "labels": {"app": "marketdata"}},
		"spec": {
			"selector": {"matchLabels": {"app": "marketdata", "version": "canary"}},
			"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
			"template": {
				"metadata": {"labels": {"app": "marketdata", "version": "canary"},
					"annotations": `+jsonOf(t, mockstack.Get(stable, "spec.template.metadata.annotations"))+`},
				"spec": `+jsonOf(t, withImage(t, mockstack.Get(stable, "spec.template.spec"), canaryImage))+`
			}
		}
	}`)
	assertDependsOn(t, canary, "kubernetes:core/v1:Namespace::ctmd", "kubernetes:core/v1:Secret::ctmd-config")
	if got := mockstack.Get(stable, "spec.template.spec.containers.0.image"); got != existingImage {
		t.Errorf("stable image %v", got)
	}
	// The stable Deployment keeps its selector: it is immutable, and changing it would replace
	// the Deployment (every stable pod at once).
	mockstack.AssertJSON(t, "stable selector", mockstack.Get(stable, "spec.selector"), `{"matchLabels": {"app": "marketdata"}}`)

	assertResource(t, s, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "marketdata-canary", appComponent, "pulumi:providers:kubernetes::existing", `{
		"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
		"metadata": {"name": "marketdata-canary", "namespace": "ctmd", "labels": {"app": "marketdata"}},
		"spec": {
			"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "marketdata-canary"},
			"minReplicas": 1, "maxReplicas": 6,
			"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
		}
	}`)

	vs := s.Find(t, vsRef, "ctmd")
	mockstack.AssertJSON(t, "VirtualService routes", mockstack.Get(mockstack.Plain(vs.Inputs), "spec.http"), `[
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
	// The canary's subset is a rule of its own for the same host (Istio merges the two), so that
	// it never outlives the canary's pods.
	assertResource(t, s, drRef, "marketdata-canary", appComponent, "pulumi:providers:kubernetes::existing", `{
		"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
		"metadata": {"name": "marketdata-canary", "namespace": "ctmd"},
		"spec": {"host": "marketdata", "subsets": [{"name": "canary", "labels": {"version": "canary"}}]}
	}`)
	mockstack.AssertJSON(t, "stable DestinationRule", mockstack.Get(mockstack.Plain(s.Find(t, drRef, "marketdata").Inputs), "spec"), `{
		"host": "marketdata", "subsets": [{"name": "stable", "labels": {"version": "v1"}}]
	}`)
	// Traffic moves only to rolled-out pods, and to the canary only once its subset is declared.
	assertDependsOn(t, vs, "kubernetes:apps/v1:Deployment::marketdata", "kubernetes:apps/v1:Deployment::marketdata-canary",
		"kubernetes:networking.istio.io/v1:DestinationRule::marketdata-canary")

	// One Service, PDB and policy for both tracks.
	for _, typ := range []string{"kubernetes:core/v1:Service", "kubernetes:policy/v1:PodDisruptionBudget", "kubernetes:security.istio.io/v1:AuthorizationPolicy"} {
		if got := s.OfType(typ); !reflect.DeepEqual(got, []string{"marketdata"}) {
			t.Errorf("%s: %v, want only marketdata", typ, got)
		}
	}
	if got := s.outputs["canaryImage"]; got.Value != canaryImage {
		t.Errorf("canaryImage output %v", got.Value)
	}
	if got := s.outputs["canaryWeight"]; jsonOf(t, got.Value) != "20" {
		t.Errorf("canaryWeight output %v", got.Value)
	}
}

// At weight 0 (and by default 10) the header still reaches the canary.
func TestCanaryWeights(t *testing.T) {
	for weight, want := range map[string][2]float64{"0": {100, 0}, "": {90, 10}, "100": {0, 100}} {
		s := mustDeploy(t, canaryConfig(weight))
		routes := mockstack.Get(mockstack.Plain(s.Find(t, vsRef, "ctmd").Inputs), "spec.http")
		if got := mockstack.Get(routes, "0.match.0.headers.x-ctmd-canary.exact"); got != "always" {
			t.Errorf("weight %q: first route matches %v, want the canary header", weight, got)
		}
		got := [2]any{mockstack.Get(routes, "1.route.0.weight"), mockstack.Get(routes, "1.route.1.weight")}
		if got != [2]any{want[0], want[1]} {
			t.Errorf("weight %q: stable/canary weights %v, want %v", weight, got, want)
		}
	}
}

// Without a canary: no canary objects, all traffic to the stable subset, and the outputs say so.
func TestNoCanary(t *testing.T) {
	s := mustDeploy(t, existingConfig(nil))
	for _, typ := range []string{"kubernetes:apps/v1:Deployment", "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", drRef} {
		if got := s.OfType(typ); !reflect.DeepEqual(got, []string{"marketdata"}) {
			t.Errorf("%s: %v, want only marketdata", typ, got)
		}
	}
	vs := s.Find(t, vsRef, "ctmd")
	assertDependsOn(t, vs, "kubernetes:apps/v1:Deployment::marketdata")
	mockstack.AssertJSON(t, "routes", mockstack.Get(mockstack.Plain(vs.Inputs), "spec.http"), `[{"name": "api",
		"match": [{"uri": {"prefix": "/api"}, "ignoreUriCase": true}],
		"route": [{"destination": {"host": "marketdata", "subset": "stable", "port": {"number": 80}}, "weight": 100}]}]`)
	if s.outputs["canaryImage"].Value != "" || jsonOf(t, s.outputs["canaryWeight"].Value) != "0" {
		t.Errorf("outputs canaryImage %v canaryWeight %v, want empty and 0", s.outputs["canaryImage"].Value, s.outputs["canaryWeight"].Value)
	}
}

// withImage returns a copy of a plain pod spec whose one container runs image.
func withImage(t *testing.T, spec any, image string) any {
	t.Helper()
	var cp map[string]any
	if err := json.Unmarshal([]byte(jsonOf(t, spec)), &cp); err != nil {
		t.Fatal(err)
	}
	cp["containers"].([]any)[0].(map[string]any)["image"] = image
	return cp
}
