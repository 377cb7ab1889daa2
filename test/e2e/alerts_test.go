//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/cryptotracker/ctmd/infra/alerts"
	"github.com/cryptotracker/ctmd/infra/slo"
)

var rulesGVR = schema.GroupVersionResource{Group: "monitoring.googleapis.com", Version: "v1", Resource: "rules"}

// receiverToken is the credential part of the receiver URL the e2e stacks notify.
const (
	receiverToken = "E2eW3bhookT0ken"
	receiverURL   = "https://alerts.example.test/hook/" + receiverToken
)

// withManagedPrometheus is the config of a stack on a cluster running Managed Prometheus, with a
// receiver for its Alertmanager.
func withManagedPrometheus(extra auto.ConfigMap) auto.ConfigMap {
	cfg := auto.ConfigMap{
		"ctmd:managedPrometheus": {Value: "true"},
		"ctmd:alertReceiverUrl":  {Value: receiverURL, Secret: true},
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

// checkAlertRules reads the Rules object back from the API server and checks that it carries
// exactly the groups of the alertRules output; it returns the alerts' names.
func checkAlertRules(t *testing.T, k clients, outputs auto.OutputMap) []string {
	t.Helper()
	text, _ := outputs["alertRules"].Value.(string)
	var file struct {
		Groups []any `json:"groups"`
	}
	if err := yaml.Unmarshal([]byte(text), &file); err != nil || len(file.Groups) == 0 {
		t.Fatalf("alertRules output is not a rule file (%v): %.80q", err, text)
	}
	spec := k.spec(t, rulesGVR, namespace, alerts.RulesName)
	assertJSON(t, "Rules spec.groups", spec.(map[string]any)["groups"], jsonString(t, file.Groups))
	return alertNamesOf(spec.(map[string]any)["groups"].([]any))
}

func alertNamesOf(groups []any) []string {
	var names []string
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			if name, ok := r.(map[string]any)["alert"].(string); ok {
				names = append(names, name)
			}
		}
	}
	return names
}

// waitCanaryAlert waits until the Rules object in the cluster does (or does not) hold the canary
// alert.
func waitCanaryAlert(t *testing.T, k clients, want bool) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("canary alert present=%v in the Rules object", want), func(ctx context.Context) (bool, string) {
		obj, err := k.dyn.Resource(rulesGVR).Namespace(namespace).Get(ctx, alerts.RulesName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		groups, _, _ := unstructured.NestedSlice(obj.Object, "spec", "groups")
		names := alertNamesOf(groups)
		return slices.Contains(names, slo.CanaryAlert) == want, fmt.Sprintf("alerts %v", names)
	})
}

// checkAlertmanagerConfig checks that the managed Alertmanager's Secret holds the receiver (never
// printing it: it is a credential).
func checkAlertmanagerConfig(t *testing.T, k clients) {
	t.Helper()
	sec, err := k.kube.CoreV1().Secrets(alerts.AlertmanagerNamespace).Get(t.Context(), alerts.AlertmanagerSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		Receivers []struct {
			WebhookConfigs []struct {
				URL string `json:"url"`
			} `json:"webhook_configs"`
		} `json:"receivers"`
	}
	if err := yaml.Unmarshal(sec.Data[alerts.AlertmanagerKey], &config); err != nil {
		t.Fatalf("the Secret's %s is not YAML", alerts.AlertmanagerKey)
	}
	if len(config.Receivers) != 1 || len(config.Receivers[0].WebhookConfigs) != 1 || config.Receivers[0].WebhookConfigs[0].URL != receiverURL {
		t.Errorf("the Alertmanager configuration does not send to the configured receiver (%d receivers)", len(config.Receivers))
	}
}

// assertAlertmanagerConfigGone checks that destroy removed the Secret the stack wrote.
func assertAlertmanagerConfigGone(t *testing.T, k clients) {
	t.Helper()
	_, err := k.kube.CoreV1().Secrets(alerts.AlertmanagerNamespace).Get(context.Background(), alerts.AlertmanagerSecret, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Alertmanager Secret after destroy: %v", err)
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestNoReceiverWarnsOnce: on a cluster with Managed Prometheus but no receiver, the preview
// succeeds (the alerts still evaluate) and says exactly once that nobody will be notified.
func TestNoReceiverWarnsOnce(t *testing.T) {
	t.Parallel() // a preview only: nothing in the cluster changes
	s := newStack(t, "e2e-no-receiver", auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:installIstio":          {Value: "false"},
		"ctmd:image":                 {Value: image},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
		"ctmd:managedPrometheus":     {Value: "true"},
	})
	if err := s.SetConfigWithOptions(t.Context(), "ctmd:ingressPrincipals[0]", auto.ConfigValue{Value: gatewayPrincipal}, &auto.ConfigOptions{Path: true}); err != nil {
		t.Fatal(err)
	}
	stream := make(chan events.EngineEvent)
	warnings := make(chan int)
	go func() {
		n := 0
		for ev := range stream {
			if d := ev.DiagnosticEvent; d != nil && d.Severity == "warning" && strings.Contains(d.Message, "notify nobody") {
				n++
			}
		}
		warnings <- n
	}()
	out := &transcript{}
	if _, err := s.Preview(t.Context(), optpreview.EventStreams(stream), optpreview.ProgressStreams(out), optpreview.ErrorProgressStreams(out)); err != nil {
		t.Fatalf("preview without a receiver: %v", err)
	}
	if n := <-warnings; n != 1 {
		t.Errorf("the preview warned %d times that nobody is notified, want once", n)
	}
}
