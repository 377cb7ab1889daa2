package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rulesDirEnv names the directory TestRenderAlertRules writes to (make rules sets it and hands
// the same directory to test/rules); unset, it renders into a temporary directory.
const rulesDirEnv = "CTMD_RULES_RENDER_DIR"

// ruleScenarios are the configurations whose alertRules output test/rules runs through
// Prometheus's rule engine: the defaults, a running canary (which adds the canary alert), and
// HTTPS for a domain (which adds the certificate's alerts).
var ruleScenarios = map[string]map[string]string{
	"default": nil,
	"canary":  meshScenarios["canary"],
	"https":   meshScenarios["https"],
}

// TestRenderAlertRules writes each scenario's alertRules output, as the program exports it, to
// <scenario>.yaml.
func TestRenderAlertRules(t *testing.T) {
	out := os.Getenv(rulesDirEnv)
	if out == "" {
		out = t.TempDir()
	}
	for name, values := range ruleScenarios {
		s := mustDeploy(t, gkeConfig(values))
		text, _ := s.outputs["alertRules"].Value.(string)
		if !strings.HasPrefix(text, "groups:") {
			t.Fatalf("%s: alertRules is not a rule file: %.60q", name, text)
		}
		if err := os.WriteFile(filepath.Join(out, name+".yaml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
