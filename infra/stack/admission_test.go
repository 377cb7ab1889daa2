package stack

import (
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

const (
	policyType  = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
	bindingType = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
	policyName  = "ctmd-pinned-images"
)

// refusedExpression is the policy's CEL variable that lists the containers it refuses.
func refusedExpression(t *testing.T, s *run) string {
	t.Helper()
	p := mockstack.Plain(s.Find(t, policyType, policyName).Inputs)
	vars, _ := mockstack.Get(p, "spec.variables").([]any)
	for _, v := range vars {
		if m, _ := v.(map[string]any); m["name"] == "refused" {
			return m["expression"].(string)
		}
	}
	t.Fatalf("policy variables %v: no refused", vars)
	return ""
}

// The policy admits the stack's repository by digest and the proxy of each control plane the
// stack runs, binds to the app's namespace alone, and the app's pods wait for it.
func TestImagePolicy(t *testing.T) {
	s := mustDeploy(t, gkeConfig(map[string]string{"ctmd:istioVersion": "1.29.2", "ctmd:istioCanaryVersion": "1.30.1"}))
	p := mockstack.Plain(s.Find(t, policyType, policyName).Inputs)
	if got := mockstack.Get(p, "spec.failurePolicy"); got != "Fail" {
		t.Errorf("failurePolicy %v, want Fail: an unevaluated policy must not admit", got)
	}
	rules, _ := mockstack.Get(p, "spec.matchConstraints.resourceRules").([]any)
	var resources []string
	for _, r := range rules {
		for _, res := range mockstack.Get(r, "resources").([]any) {
			resources = append(resources, res.(string))
		}
	}
	for _, want := range []string{"pods", "pods/ephemeralcontainers", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs"} {
		if !strings.Contains(" "+strings.Join(resources, " ")+" ", " "+want+" ") {
			t.Errorf("policy matches %v, not %s", resources, want)
		}
	}
	refused := refusedExpression(t, s)
	for _, want := range []string{
		`c.image.startsWith("` + gkeRepository + `/")`, `matches('@sha256:[a-f0-9]{64}$')`,
		`c.name in ["istio-proxy", "istio-init", "istio-validation"]`,
		`c.image in ["docker.io/istio/proxyv2:1.29.2", "docker.io/istio/proxyv2:1.30.1"]`,
	} {
		if !strings.Contains(refused, want) {
			t.Errorf("refused expression %s\nlacks %s", refused, want)
		}
	}
	b := s.Find(t, bindingType, policyName)
	bp := mockstack.Plain(b.Inputs)
	mockstack.AssertJSON(t, "binding spec", bp["spec"], `{"policyName": "`+policyName+`", "validationActions": ["Deny"],
		"matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ctmd"}}}}`)
	assertDependsOn(t, s.Find(t, "kubernetes:apps/v1:Deployment", "marketdata"), bindingType+"::"+policyName)
}

func TestImagePolicyModes(t *testing.T) {
	warn := mustDeploy(t, existingConfig(map[string]string{"ctmd:imageAdmission": "warn"}))
	actions := mockstack.Get(mockstack.Plain(warn.Find(t, bindingType, policyName).Inputs), "spec.validationActions")
	mockstack.AssertJSON(t, "warn actions", actions, `["Warn", "Audit"]`)
	// The cluster's own Istio: its configured proxy image, and the configured repository.
	refused := refusedExpression(t, warn)
	for _, want := range []string{`startsWith("registry.example/ctmd/")`, `c.image in ["` + clusterProxyImage + `"]`} {
		if !strings.Contains(refused, want) {
			t.Errorf("refused expression %s\nlacks %s", refused, want)
		}
	}
	off := mustDeploy(t, existingConfig(map[string]string{"ctmd:imageAdmission": "off"}))
	for _, typ := range []string{policyType, bindingType} {
		if names := off.OfType(typ); len(names) != 0 {
			t.Errorf("imageAdmission off declares %s %v", typ, names)
		}
	}
}
