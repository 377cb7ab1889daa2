package stack

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cryptotracker/ctmd/infra/app"
	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
	"github.com/cryptotracker/ctmd/infra/slo"
)

const (
	rolloutRef  = "kubernetes:argoproj.io/v1alpha1:Rollout"
	templateRef = "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate"
	prometheus  = "http://prometheus.monitoring.svc:9090"
)

// engineConfig hands an existing-cluster stack's releases to Argo Rollouts, whose manifest (the
// delivery package's small fixture) is served on loopback, on a cluster that runs the given
// Deployments (none: no engine of its own).
func engineConfig(t *testing.T, extra map[string]string, running ...metav1.PartialObjectMetadata) map[string]string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir("../delivery/testdata")))
	t.Cleanup(srv.Close)
	_, kubeconfig := newAPIServer(t, running...)
	values := existingConfig(map[string]string{
		"ctmd:delivery":                "argo-rollouts",
		"ctmd:deliveryPrometheusUrl":   prometheus,
		"ctmd:argoRolloutsManifestUrl": srv.URL + "/install.yaml",
		"ctmd:kubeconfig":              kubeconfig,
	})
	for k, v := range extra {
		values[k] = v
	}
	return values
}

// With the engine, the stable track is a Rollout of the very pod template the Deployment had, the
// autoscaler scales it, and the gateway's api route splits between the engine's two Services,
// declared at rest: everything to stable.
func TestArgoRolloutsWorkload(t *testing.T) {
	manual := mustDeploy(t, existingConfig(nil))
	s := mustDeploy(t, engineConfig(t, nil))

	for _, name := range s.OfType("kubernetes:apps/v1:Deployment") {
		if strings.HasPrefix(name, app.Name) {
			t.Errorf("Deployment %s next to the Rollout", name)
		}
	}
	deployment := mockstack.Plain(manual.Find(t, "kubernetes:apps/v1:Deployment", app.Name).Inputs)
	ro := s.Find(t, rolloutRef, app.Name)
	rollout := mockstack.Plain(ro.Inputs)
	mockstack.AssertJSON(t, "the Rollout's pod template", mockstack.Get(rollout, "spec.template"), jsonOf(t, mockstack.Get(deployment, "spec.template")))
	mockstack.AssertJSON(t, "the Rollout's selector", mockstack.Get(rollout, "spec.selector"), `{"matchLabels": {"app": "marketdata"}}`)
	if replicas := mockstack.Get(rollout, "spec.replicas"); replicas != nil {
		t.Errorf("the Rollout declares replicas %v: the autoscaler owns them", replicas)
	}
	mockstack.AssertJSON(t, "the canary strategy", mockstack.Get(rollout, "spec.strategy"), `{"canary": {
		"stableService": "marketdata-stable", "canaryService": "marketdata-canary",
		"maxSurge": 1, "maxUnavailable": 0,
		"trafficRouting": {"istio": {"virtualService": {"name": "ctmd", "routes": ["api"]}}},
		"steps": [
			{"setWeight": 10}, {"pause": {"duration": "300s"}}, {"analysis": {"templates": [{"templateName": "marketdata-gate"}]}},
			{"setWeight": 25}, {"pause": {"duration": "300s"}}, {"analysis": {"templates": [{"templateName": "marketdata-gate"}]}},
			{"setWeight": 50}, {"pause": {"duration": "300s"}}, {"analysis": {"templates": [{"templateName": "marketdata-gate"}]}}
		]
	}}`)
	if got := mockstack.Get(rollout, "metadata.annotations"); !strings.Contains(jsonOf(t, got), `"pulumi.com/waitFor":"condition=Available"`) {
		t.Errorf("the Rollout's annotations %v: the up that creates it must wait for its pods", got)
	}
	// The engine refuses a Rollout whose route names neither of its Services (InvalidSpec, found by
	// the e2e on the real controller): the routes go first, after the Services, and never wait for
	// the Rollout, which would wait for them forever.
	assertDependsOn(t, ro, "kubernetes:core/v1:Secret::ctmd-config", "kubernetes:apps/v1:Deployment::argo-rollouts", vsRef+"::"+app.RoutesName)
	routes := s.Find(t, vsRef, app.RoutesName)
	assertDependsOn(t, routes, "kubernetes:core/v1:Service::"+app.StableService, "kubernetes:core/v1:Service::"+app.CanaryService)
	assertNotDependsOn(t, routes, rolloutRef)

	hpa := mockstack.Plain(s.Find(t, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", app.Name).Inputs)
	mockstack.AssertJSON(t, "the autoscaler's target", mockstack.Get(hpa, "spec.scaleTargetRef"), `{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "marketdata"}`)

	for _, name := range []string{app.StableService, app.CanaryService} {
		assertResource(t, s, "kubernetes:core/v1:Service", name, appComponent, "pulumi:providers:kubernetes::existing", `{
			"apiVersion": "v1", "kind": "Service",
			"metadata": {"name": "`+name+`", "namespace": "ctmd", "labels": {"app": "marketdata"}},
			"spec": {"type": "ClusterIP", "selector": {"app": "marketdata"},
				"ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
		}`)
	}
	vs := mockstack.Plain(s.Find(t, vsRef, app.RoutesName).Inputs)
	mockstack.AssertJSON(t, "the routes", mockstack.Get(vs, "spec.http"), `[
		{"name": "canary-by-header",
		 "match": [{"uri": {"prefix": "/api"}, "ignoreUriCase": true, "headers": {"x-ctmd-canary": {"exact": "always"}}}],
		 "route": [{"destination": {"host": "marketdata-canary", "port": {"number": 80}}, "weight": 100}]},
		{"name": "api", "match": [{"uri": {"prefix": "/api"}, "ignoreUriCase": true}],
		 "route": [
			{"destination": {"host": "marketdata-stable", "port": {"number": 80}}, "weight": 100},
			{"destination": {"host": "marketdata-canary", "port": {"number": 80}}, "weight": 0}]}
	]`)
}

// Every step is judged by one measurement of the gate derived from the availability SLO, on the
// configured Prometheus; a failed query four times in a row is an error, which aborts.
func TestArgoRolloutsGate(t *testing.T) {
	s := mustDeploy(t, engineConfig(t, map[string]string{"ctmd:deliveryStepDuration": "2m", "ctmd:availabilityObjective": "99.5"}))
	users := func(service string) slo.Users {
		return slo.Users{Namespace: "ctmd", Service: service, GatewayNamespace: "istio-system"}
	}
	gate := slo.CanaryGate(0.995, users("marketdata-canary"), users("marketdata-stable"), 2*time.Minute)
	tmpl := mockstack.Plain(s.Find(t, templateRef, app.GateTemplate).Inputs)
	mockstack.AssertJSON(t, "the gate", mockstack.Get(tmpl, "spec"), `{"metrics": [{
		"name": "availability", "count": 1, "failureLimit": 0, "inconclusiveLimit": 0, "consecutiveErrorLimit": 4,
		"successCondition": "result[0] <= 0.072", "failureCondition": "result[0] > 0.072",
		"provider": {"prometheus": {"address": "`+prometheus+`", "query": `+jsonOf(t, gate.Query)+`, "timeout": 30}}
	}]}`)
	for _, want := range []string{`destination_service_name="marketdata-canary"`, `destination_service_name="marketdata-stable"`,
		`[2m]`, `* 120 >= 14`, `or on() vector(NaN)`} {
		if !strings.Contains(gate.Query, want) {
			t.Errorf("the gate's query lacks %q: %s", want, gate.Query)
		}
	}
	if strings.Contains(gate.Query, `reporter="destination"`) {
		t.Errorf("the gate counts in-mesh callers, whom the step's weights do not split: %s", gate.Query)
	}
	rules, _ := s.outputs["alertRules"].Value.(string)
	if got := s.outputs["rolloutStatus"].Value; got != RolloutStatusCommand {
		t.Errorf("rolloutStatus output %v", got)
	}
	// The release's fate reaches the receiver as alerts on the controller's metrics, a ticket each:
	// failed at once, stuck once paused for longer than a step (2m) and 10 minutes.
	for _, want := range []string{"name: marketdata-release", "alert: MarketdataReleaseFailed", "alert: MarketdataReleaseStuck",
		"for: 12m", `rollout_info{exported_namespace="ctmd", name="marketdata", phase=~"Abort|Error|Timeout|InvalidSpec"}`} {
		if !strings.Contains(rules, want) {
			t.Errorf("the alert rules lack %q", want)
		}
	}
	// The budget alerts count what the gateway sends to either of the engine's Services.
	if !strings.Contains(rules, `destination_service_name=~"marketdata|marketdata-stable|marketdata-canary"`) {
		t.Errorf("the alert rules do not count the engine's Services: %.400s", rules)
	}
}

// On gke, Managed Prometheus collects the controller's metrics, which the release alerts read.
func TestArgoRolloutsMetricsCollected(t *testing.T) {
	srv := httptest.NewServer(http.FileServer(http.Dir("../delivery/testdata")))
	t.Cleanup(srv.Close)
	s := mustDeploy(t, gkeConfig(map[string]string{"ctmd:delivery": "argo-rollouts", "ctmd:argoRolloutsManifestUrl": srv.URL + "/install.yaml"}))
	pm := mockstack.Plain(s.Find(t, "kubernetes:monitoring.googleapis.com/v1:PodMonitoring", "ctmd-argo-rollouts").Inputs)
	mockstack.AssertJSON(t, "the controller's PodMonitoring", map[string]any{"namespace": mockstack.Get(pm, "metadata.namespace"), "spec": pm["spec"]}, `{
		"namespace": "argo-rollouts",
		"spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "argo-rollouts"}},
			"endpoints": [{"port": 8090, "path": "/metrics", "interval": "30s"}]}
	}`)
}

// An existing cluster that already runs Argo Rollouts keeps it: the preview refuses to install a
// second controller over it, naming it and the way back; ctmd's own controller is no obstacle.
func TestArgoRolloutsOnACluster(t *testing.T) {
	theirs := metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: "argo-rollouts", Name: "argo-rollouts",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "argocd-controller", Operation: metav1.ManagedFieldsOperationApply}},
	}}
	s, err := deploy(t, engineConfig(t, nil, theirs))
	if err == nil || !strings.Contains(err.Error(), "the cluster already runs it (Deployment argo-rollouts/argo-rollouts, written by argocd-controller)") ||
		!strings.Contains(err.Error(), "pulumi config set ctmd:delivery manual") {
		t.Fatalf("error %v, want one naming the cluster's engine and the way back to manual", err)
	}
	if len(s.Resources) != 0 {
		t.Errorf("declared %d resources before refusing", len(s.Resources))
	}
	ours := theirs
	ours.Annotations = map[string]string{"pulumi.com/patchForce": "true"}
	mustDeploy(t, engineConfig(t, nil, ours))
}
