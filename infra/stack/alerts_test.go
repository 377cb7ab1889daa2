package stack

import (
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
	"github.com/cryptotracker/ctmd/infra/slo"
)

const (
	alertsComponent = "ctmd:alerts:Alerts::alerts"
	rulesType       = "kubernetes:monitoring.googleapis.com/v1:Rules"
	receiverKey     = "ctmd:alertReceiverUrl"
	// slackURL is a receiver whose token is receiverToken.
	receiverToken = "Xq9WebhookT0ken"
	slackURL      = "https://hooks.slack.com/services/T000/B000/" + receiverToken
)

// ruleFile parses the alertRules output.
func ruleFile(t *testing.T, s *run) map[string]any {
	t.Helper()
	out := s.outputs["alertRules"]
	text, _ := out.Value.(string)
	if out.Secret || text == "" {
		t.Fatalf("alertRules output: secret=%v, %d bytes", out.Secret, len(text))
	}
	var file map[string]any
	if err := yaml.Unmarshal([]byte(text), &file); err != nil {
		t.Fatal(err)
	}
	return file
}

// alertNames lists the alerting rules of a rule file.
func alertNames(file map[string]any) []string {
	var names []string
	for _, g := range file["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			if name, ok := r.(map[string]any)["alert"].(string); ok {
				names = append(names, name)
			}
		}
	}
	return names
}

// On GKE the Rules object sits in the app's namespace, under the alerts component, and carries
// exactly the groups of the alertRules output.
func TestAlertRules(t *testing.T) {
	s := mustDeploy(t, gkeConfig(nil))
	r := s.Find(t, rulesType, "marketdata-slo")
	if r.Parent != alertsComponent || r.Provider != k8sProvider {
		t.Errorf("Rules parent %q provider %q", r.Parent, r.Provider)
	}
	in := mockstack.Plain(r.Inputs)
	assertJSON(t, "Rules metadata", in["metadata"], `{"name": "marketdata-slo", "namespace": "ctmd"}`)
	file := ruleFile(t, s)
	assertJSON(t, "Rules spec.groups", mockstack.Get(in, "spec.groups"), jsonOf(t, file["groups"]))
	// The namespace comes from the app's Namespace, so the object waits for it.
	assertDependsOn(t, r, "kubernetes:core/v1:Namespace::ctmd")

	names := alertNames(file)
	want := []string{"MarketdataAvailabilityBudgetBurn", "MarketdataAvailabilityBudgetDrain", "MarketdataLatencyBudgetBurn", "MarketdataLatencyBudgetDrain"}
	if !slices.Equal(names, want) {
		t.Errorf("alerts %v, want %v (no canary alert without a canary)", names, want)
	}
	// Every alert carries its severity and its runbook section.
	for _, g := range file["groups"].([]any) {
		for _, rule := range g.(map[string]any)["rules"].([]any) {
			rule := rule.(map[string]any)
			name, ok := rule["alert"].(string)
			if !ok {
				continue
			}
			labels := rule["labels"].(map[string]any)
			if labels["severity"] != "page" && labels["severity"] != "ticket" {
				t.Errorf("%s severity %v", name, labels["severity"])
			}
			if labels["runbook_url"] != RunbookURL+"#"+strings.ToLower(name) {
				t.Errorf("%s runbook %v", name, labels["runbook_url"])
			}
		}
	}
}

// The objectives and the threshold come from config into the expressions.
func TestAlertRulesFollowConfig(t *testing.T) {
	file := ruleFile(t, mustDeploy(t, gkeConfig(map[string]string{
		"ctmd:availabilityObjective": "99.5", "ctmd:latencyObjective": "95", "ctmd:latencyThresholdMs": "500",
	})))
	text := jsonOf(t, file)
	for _, want := range []string{`14.4 * 0.005`, `6 * 0.005`, `1 * 0.005`, `14.4 * 0.05`, `le=~\"500(\\\\.0)?\"`} {
		if !strings.Contains(text, want) {
			t.Errorf("rules lack %s", want)
		}
	}
	if strings.Contains(text, "0.001") || strings.Contains(text, `"250`) {
		t.Errorf("rules still hold a default target")
	}
}

// The canary alert exists exactly while a canary runs, in the output and in the Rules object.
func TestCanaryAlertOnlyWithCanary(t *testing.T) {
	s := mustDeploy(t, gkeConfig(map[string]string{"ctmd:canaryImage": "registry.example/ctmd/marketdata:v2"}))
	file := ruleFile(t, s)
	if !slices.Contains(alertNames(file), slo.CanaryAlert) {
		t.Fatalf("canary running but alerts are %v", alertNames(file))
	}
	groups := mockstack.Get(mockstack.Plain(s.Find(t, rulesType, "marketdata-slo").Inputs), "spec.groups")
	assertJSON(t, "Rules spec.groups", groups, jsonOf(t, file["groups"]))
}

// Targets without Managed Prometheus get no Rules object (its kind would not exist) but the same
// rule file; an existing cluster that runs it opts in and gets both kinds.
func TestAlertRulesOnExistingClusters(t *testing.T) {
	gke := ruleFile(t, mustDeploy(t, gkeConfig(nil)))
	s := mustDeploy(t, existingConfig(nil))
	if got := s.OfType(rulesType); len(got) != 0 {
		t.Errorf("existing target declares Rules %v", got)
	}
	assertJSON(t, "existing alertRules", ruleFile(t, s), jsonOf(t, gke))

	s = mustDeploy(t, existingConfig(map[string]string{"ctmd:managedPrometheus": "true"}))
	s.Find(t, rulesType, "marketdata-slo")
	s.Find(t, "kubernetes:monitoring.googleapis.com/v1:PodMonitoring", "marketdata")
}

// Without a receiver nothing is written for the managed Alertmanager: its configuration stays
// what the cluster has.
func TestNoAlertmanagerConfigWithoutReceiver(t *testing.T) {
	s := mustDeploy(t, gkeConfig(nil))
	for _, r := range s.Resources {
		if r.Type == "kubernetes:core/v1:Secret" && r.Name == "alertmanager" {
			t.Fatalf("Alertmanager Secret declared without a receiver")
		}
	}
}

// The receiver reaches the managed Alertmanager's Secret, and only it, as a secret.
func TestAlertmanagerConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		url, want string
	}{
		"slack":   {slackURL, `"slack_configs":[{"api_url":"` + slackURL + `"`},
		"webhook": {"https://alerts.example.com/hook?token=" + receiverToken, `"webhook_configs":[{"send_resolved":true,"url":"https://alerts.example.com/hook?token=` + receiverToken + `"}]`},
	} {
		t.Run(name, func(t *testing.T) {
			s := mustDeploy(t, gkeConfig(map[string]string{receiverKey: tc.url}))
			r := s.Find(t, "kubernetes:core/v1:Secret", "alertmanager")
			if r.Parent != alertsComponent || r.Provider != k8sProvider {
				t.Errorf("Secret parent %q provider %q", r.Parent, r.Provider)
			}
			in := mockstack.Plain(r.Inputs)
			assertJSON(t, "metadata", in["metadata"], `{"name": "alertmanager", "namespace": "gmp-public"}`)
			var config map[string]any
			if err := yaml.Unmarshal([]byte(in["stringData"].(map[string]any)["alertmanager.yaml"].(string)), &config); err != nil {
				t.Fatal(err)
			}
			if got := jsonOf(t, config["receivers"]); !strings.Contains(got, tc.want) {
				t.Errorf("receivers %s, want %s", got, tc.want)
			}
			assertJSON(t, "route", config["route"], `{
				"receiver": "ctmd", "group_by": ["alertname", "destination_version"],
				"routes": [{"matchers": ["severity=\"page\""], "repeat_interval": "1h"},
				           {"matchers": ["severity=\"ticket\""], "repeat_interval": "24h"}]
			}`)

			want := []hit{{Where: "kubernetes:core/v1:Secret alertmanager.stringData.alertmanager.yaml", Secret: true}}
			if hits := find(s.Stack, receiverToken); !slices.Equal(hits, want) {
				t.Errorf("the receiver appears at %+v, want only %+v", hits, want)
			}
			for out, v := range s.outputs {
				if strings.Contains(jsonOf(t, v.Value), receiverToken) {
					t.Errorf("stack output %s holds the receiver", out)
				}
			}
		})
	}
}
