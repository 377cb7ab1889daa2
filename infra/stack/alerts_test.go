package stack

import (
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cryptotracker/ctmd/infra/alerts"
	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
	"github.com/cryptotracker/ctmd/infra/slo"
)

const (
	alertsComponent   = "ctmd:alerts:Alerts::alerts"
	rulesType         = "kubernetes:monitoring.googleapis.com/v1:ClusterRules"
	podMonitoringType = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
	receiverKey       = "ctmd:alertReceiverUrl"
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

// On GKE the ClusterRules object sits under the alerts component and carries exactly the groups
// of the alertRules output; every alert names its severity, runbook section and the app's
// namespace (what ctmd's Alertmanager route matches).
func TestAlertRules(t *testing.T) {
	s := mustDeploy(t, gkeConfig(nil))
	r := s.Find(t, rulesType, alerts.RulesName)
	if r.Parent != alertsComponent || r.Provider != k8sProvider {
		t.Errorf("ClusterRules parent %q provider %q", r.Parent, r.Provider)
	}
	in := mockstack.Plain(r.Inputs)
	mockstack.AssertJSON(t, "ClusterRules metadata", in["metadata"], `{"name": "ctmd-marketdata-slo"}`)
	file := ruleFile(t, s)
	mockstack.AssertJSON(t, "ClusterRules spec.groups", mockstack.Get(in, "spec.groups"), jsonOf(t, file["groups"]))
	if got := s.OfType("kubernetes:monitoring.googleapis.com/v1:Rules"); len(got) != 0 {
		t.Errorf("a namespaced Rules object, which sees only its own namespace: %v", got)
	}

	names := alertNames(file)
	want := []string{"MarketdataAvailabilityBudgetBurn", "MarketdataAvailabilityBudgetDrain", "MarketdataLatencyBudgetBurn", "MarketdataLatencyBudgetDrain", "MarketdataNoTraffic"}
	if !slices.Equal(names, want) {
		t.Errorf("alerts %v, want %v (no canary alert without a canary, no certificate alert without a domain)", names, want)
	}
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
			if labels["runbook_url"] != RunbookURL+"#"+strings.ToLower(name) || !strings.HasSuffix(RunbookURL, "/docs/alerts.md") {
				t.Errorf("%s runbook %v", name, labels["runbook_url"])
			}
			if labels["namespace"] != "ctmd" {
				t.Errorf("%s carries no namespace label: %v", name, labels)
			}
		}
	}
}

// The objectives and the threshold come from config into the expressions, with the minimum of
// traffic each row needs at that budget.
func TestAlertRulesFollowConfig(t *testing.T) {
	file := ruleFile(t, mustDeploy(t, gkeConfig(map[string]string{
		"ctmd:availabilityObjective": "99.5", "ctmd:latencyObjective": "95", "ctmd:latencyThresholdMs": "500",
	})))
	text := jsonOf(t, file)
	// 1/(14.4*0.005) = 13.9, 1/(6*0.005) = 33.3, 1/0.005 = 200.
	for _, want := range []string{`14.4 * 0.005`, `6 * 0.005`, `1 * 0.005`, `14.4 * 0.05`, `le=~\"500(\\\\.0)?\"`, `* 3600 \u003e= 14)`, `* 21600 \u003e= 34)`, `* 259200 \u003e= 200)`} {
		if !strings.Contains(text, want) {
			t.Errorf("rules lack %s", want)
		}
	}
	if strings.Contains(text, "0.001") || strings.Contains(text, `"250`) {
		t.Errorf("rules still hold a default target")
	}
}

// The canary alert exists exactly while a canary shares the traffic with stable: not without one,
// and not at weight 100, where the canary is the whole service.
func TestCanaryAlertOnlyWithCanary(t *testing.T) {
	s := mustDeploy(t, gkeConfig(map[string]string{"ctmd:canaryImage": gkeCanaryImage}))
	file := ruleFile(t, s)
	if !slices.Contains(alertNames(file), slo.CanaryAlert) {
		t.Fatalf("canary running but alerts are %v", alertNames(file))
	}
	groups := mockstack.Get(mockstack.Plain(s.Find(t, rulesType, alerts.RulesName).Inputs), "spec.groups")
	mockstack.AssertJSON(t, "ClusterRules spec.groups", groups, jsonOf(t, file["groups"]))

	all := ruleFile(t, mustDeploy(t, gkeConfig(map[string]string{"ctmd:canaryImage": gkeCanaryImage, "ctmd:canaryWeight": "100"})))
	if slices.Contains(alertNames(all), slo.CanaryAlert) {
		t.Errorf("canary at weight 100 (no stable traffic to compare with) but alerts are %v", alertNames(all))
	}
}

// Targets without Managed Prometheus get neither ClusterRules nor PodMonitorings (the kinds would
// not exist) but the same rule file; an existing cluster that runs it opts in and gets both. The
// rules read the gateway where ctmd:ingressPrincipals says it runs.
func TestAlertRulesOnExistingClusters(t *testing.T) {
	gke := ruleFile(t, mustDeploy(t, gkeConfig(nil)))
	s := mustDeploy(t, existingConfig(map[string]string{"ctmd:noTrafficAlert": "page"}))
	for _, typ := range []string{rulesType, podMonitoringType} {
		if got := s.OfType(typ); len(got) != 0 {
			t.Errorf("existing target declares %v", got)
		}
	}
	existing := jsonOf(t, ruleFile(t, s))
	if want := strings.ReplaceAll(jsonOf(t, gke), `source_workload_namespace=\"istio-ingress\"`, `source_workload_namespace=\"istio-system\"`); existing != strings.ReplaceAll(want, `source_workload_namespace!=\"istio-ingress\"`, `source_workload_namespace!=\"istio-system\"`) {
		t.Errorf("existing alertRules differ from gke's beyond the gateway's namespace:\n%s", existing)
	}

	s = mustDeploy(t, existingConfig(map[string]string{"ctmd:managedPrometheus": "true"}))
	s.Find(t, rulesType, alerts.RulesName)
	// The app's own pods; the gateway belongs to the cluster's Istio, whose owner scrapes it.
	if got := s.OfType(podMonitoringType); !slices.Equal(got, []string{"marketdata"}) {
		t.Errorf("PodMonitorings on an existing cluster with its own Istio: %v", got)
	}
}

// The gateway's pods are scraped where ctmd installs them, for the rules that read its requests;
// with a domain, cert-manager's controller, for the certificate's rules.
func TestGatewayAndCertManagerScraped(t *testing.T) {
	s := mustDeploy(t, gkeConfig(nil))
	r := assertResource(t, s, podMonitoringType, alerts.GatewayMonitoring, alertsComponent, k8sProvider, `{
		"apiVersion": "monitoring.googleapis.com/v1", "kind": "PodMonitoring",
		"metadata": {"name": "ctmd-ingressgateway", "namespace": "istio-ingress"},
		"spec": {"selector": {"matchLabels": {"istio": "ingressgateway"}},
		         "endpoints": [{"port": 15020, "path": "/stats/prometheus", "interval": "30s"}]}
	}`)
	assertDependsOn(t, r, "kubernetes:helm.sh/v4:Chart::istio-ingressgateway")
	if got := s.OfType(podMonitoringType); slices.Contains(got, alerts.CertManagerMonitoring) {
		t.Errorf("cert-manager scraped without a domain: %v", got)
	}

	s = mustDeploy(t, gkeHTTPS(nil))
	r = assertResource(t, s, podMonitoringType, alerts.CertManagerMonitoring, alertsComponent, k8sProvider, `{
		"apiVersion": "monitoring.googleapis.com/v1", "kind": "PodMonitoring",
		"metadata": {"name": "ctmd-cert-manager", "namespace": "cert-manager"},
		"spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/instance": "cert-manager", "app.kubernetes.io/component": "controller"}},
		         "endpoints": [{"port": 9402, "path": "/metrics", "interval": "30s"}]}
	}`)
	assertDependsOn(t, r, certChartRef)
	names := alertNames(ruleFile(t, s))
	for _, want := range []string{alerts.CertificateExpiringAlert, alerts.CertificateExpiringSoonAlert, alerts.CertificateNotReadyAlert} {
		if !slices.Contains(names, want) {
			t.Errorf("with a domain, alerts %v lack %s", names, want)
		}
	}
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

// The receiver reaches the managed Alertmanager's Secret, and only it among the Kubernetes objects,
// as a secret (TestUptimeNotifiesTheReceiver: a webhook also reaches the uptime check's channel).
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
			mockstack.AssertJSON(t, "metadata", in["metadata"], `{"name": "alertmanager", "namespace": "gmp-public"}`)
			var config map[string]any
			if err := yaml.Unmarshal([]byte(in["stringData"].(map[string]any)["alertmanager.yaml"].(string)), &config); err != nil {
				t.Fatal(err)
			}
			if got := jsonOf(t, config["receivers"]); !strings.Contains(got, tc.want) {
				t.Errorf("receivers %s, want %s", got, tc.want)
			}
			mockstack.AssertJSON(t, "route", config["route"], `{
				"receiver": "unrouted",
				"routes": [{"receiver": "ctmd", "matchers": ["namespace=\"ctmd\""], "group_by": ["alertname", "destination_version"],
				            "routes": [{"matchers": ["severity=\"page\""], "repeat_interval": "1h"},
				                       {"matchers": ["severity=\"ticket\""], "repeat_interval": "24h"}]}]
			}`)
			if got := jsonOf(t, config["receivers"]); !strings.Contains(got, `{"name":"unrouted"}`) {
				t.Errorf("receivers %s lack the one that drops other teams' alerts", got)
			}
			if _, ok := s.outputs["alertmanagerRoute"]; ok {
				t.Errorf("an alertmanagerRoute output while the stack writes the configuration itself")
			}

			want := []hit{{Where: "kubernetes:core/v1:Secret alertmanager.stringData.alertmanager.yaml", Secret: true}}
			hits := slices.DeleteFunc(find(s.Stack, receiverToken), func(h hit) bool { return strings.HasPrefix(h.Where, "gcp:monitoring/") })
			if !slices.Equal(hits, want) {
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

// On an existing cluster the stack leaves the Alertmanager configuration alone unless asked: no
// Secret, and the route to add, with the receiver, only as a secret output; asked, it writes it.
func TestAlertmanagerLeftAloneOnExistingClusters(t *testing.T) {
	values := existingConfig(map[string]string{"ctmd:managedPrometheus": "true", receiverKey: slackURL})
	s := mustDeploy(t, values)
	if got := s.OfType("kubernetes:core/v1:Secret"); slices.Contains(got, alerts.AlertmanagerSecret) {
		t.Fatalf("the stack writes the cluster's Alertmanager configuration without being asked: %v", got)
	}
	route := s.outputs["alertmanagerRoute"]
	text, _ := route.Value.(string)
	if !route.Secret || !strings.Contains(text, receiverToken) {
		t.Fatalf("alertmanagerRoute: secret=%v, holds the receiver=%v", route.Secret, strings.Contains(text, receiverToken))
	}
	var add map[string]any
	if err := yaml.Unmarshal([]byte(text), &add); err != nil {
		t.Fatal(err)
	}
	if got := jsonOf(t, add["routes"]); !strings.Contains(got, `"matchers":["namespace=\"ctmd\""]`) || !strings.Contains(got, `"receiver":"ctmd"`) {
		t.Errorf("route to add %s", got)
	}
	if hits := find(s.Stack, receiverToken); len(hits) != 0 {
		t.Errorf("the receiver reaches resources the stack declares: %+v", hits)
	}

	values["ctmd:manageAlertmanager"] = "true"
	s = mustDeploy(t, values)
	s.Find(t, "kubernetes:core/v1:Secret", alerts.AlertmanagerSecret)
	if _, ok := s.outputs["alertmanagerRoute"]; ok {
		t.Errorf("an alertmanagerRoute output while the stack writes the configuration itself")
	}
}
