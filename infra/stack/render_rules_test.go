package stack

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cryptotracker/ctmd/infra/app"
	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

// rulesDirEnv names the directory TestRenderAlertRules writes to (make rules sets it and hands
// the same directory to test/rules); unset, it renders into a temporary directory.
const rulesDirEnv = "CTMD_RULES_RENDER_DIR"

// ruleScenarios are the configurations whose alertRules output test/rules runs through
// Prometheus's rule engine: the defaults, a running canary (which adds the canary alert), HTTPS
// for a domain (which adds the certificate's alerts), and releases handed to the rollout engine
// (the budget counted at its two Services, the release alerts; its gate goes to delivery-gate.json).
var ruleScenarios = map[string]map[string]string{
	"default":  nil,
	"canary":   meshScenarios["canary"],
	"https":    meshScenarios["https"],
	"delivery": {"ctmd:delivery": "argo-rollouts"},
}

// TestRenderAlertRules writes each scenario's alertRules output, as the program exports it, to
// <scenario>.yaml.
func TestRenderAlertRules(t *testing.T) {
	out := os.Getenv(rulesDirEnv)
	if out == "" {
		out = t.TempDir()
	}
	manifest := httptest.NewServer(http.FileServer(http.Dir("../delivery/testdata")))
	t.Cleanup(manifest.Close)
	for name, values := range ruleScenarios {
		if values["ctmd:delivery"] != "" {
			values = maps.Clone(values)
			values["ctmd:argoRolloutsManifestUrl"] = manifest.URL + "/install.yaml"
		}
		s := mustDeploy(t, gkeConfig(values))
		text, _ := s.outputs["alertRules"].Value.(string)
		if !strings.HasPrefix(text, "groups:") {
			t.Fatalf("%s: alertRules is not a rule file: %.60q", name, text)
		}
		if err := os.WriteFile(filepath.Join(out, name+".yaml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if values["ctmd:delivery"] != "" {
			writeGate(t, s, filepath.Join(out, name+"-gate.json"))
		}
	}
}

// writeGate writes the gate the stack's AnalysisTemplate runs, as test/rules reads it: its query
// and conditions, and read off them and the Rollout, its margin, minimum and window (the hold).
func writeGate(t *testing.T, s *run, path string) {
	t.Helper()
	metric, _ := mockstack.Get(mockstack.Plain(s.Find(t, templateRef, app.GateTemplate).Inputs), "spec.metrics.0").(map[string]any)
	query, _ := mockstack.Get(metric, "provider.prometheus.query").(string)
	success, _ := metric["successCondition"].(string)
	hold, _ := mockstack.Get(mockstack.Plain(s.Find(t, rolloutRef, app.Name).Inputs), "spec.strategy.canary.steps.1.pause.duration").(string)
	margin, err := strconv.ParseFloat(strings.TrimPrefix(success, "result[0] <= "), 64)
	if err != nil {
		t.Fatalf("success condition %q: %v", success, err)
	}
	minimum := regexp.MustCompile(`>= ([0-9]+)\)\) or on\(\) vector\(NaN\)$`).FindStringSubmatch(query)
	window, err := time.ParseDuration(hold)
	if len(minimum) != 2 || err != nil {
		t.Fatalf("gate %q, hold %q: no minimum or window (%v)", query, hold, err)
	}
	requests, _ := strconv.Atoi(minimum[1])
	b, err := json.Marshal(map[string]any{"Query": query, "Success": success, "Failure": metric["failureCondition"],
		"Margin": margin, "MinRequests": requests, "WindowSeconds": int(window.Seconds())})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
