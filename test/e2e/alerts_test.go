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
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/cryptotracker/ctmd/infra/alerts"
	"github.com/cryptotracker/ctmd/infra/slo"
)

var rulesGVR = schema.GroupVersionResource{Group: "monitoring.googleapis.com", Version: "v1", Resource: "clusterrules"}

// receiverToken is the credential part of the receiver URL the e2e stacks notify.
const (
	receiverToken = "E2eW3bhookT0ken"
	receiverURL   = "https://alerts.example.test/hook/" + receiverToken
)

// withManagedPrometheus is the config of a stack on a cluster running Managed Prometheus, with a
// receiver for its Alertmanager, whose configuration the stack may own.
func withManagedPrometheus(extra auto.ConfigMap) auto.ConfigMap {
	cfg := auto.ConfigMap{
		"ctmd:managedPrometheus":  {Value: "true"},
		"ctmd:alertReceiverUrl":   {Value: receiverURL, Secret: true},
		"ctmd:manageAlertmanager": {Value: "true"},
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

// checkAlertRules reads the ClusterRules object back from the API server and checks that it
// carries exactly the groups of the alertRules output; it returns the alerts' names.
func checkAlertRules(t *testing.T, k clients, outputs auto.OutputMap) []string {
	t.Helper()
	text, _ := outputs["alertRules"].Value.(string)
	var file struct {
		Groups []any `json:"groups"`
	}
	if err := yaml.Unmarshal([]byte(text), &file); err != nil || len(file.Groups) == 0 {
		t.Fatalf("alertRules output is not a rule file (%v): %.80q", err, text)
	}
	spec := k.spec(t, rulesGVR, "", alerts.RulesName)
	assertJSON(t, "ClusterRules spec.groups", spec.(map[string]any)["groups"], jsonString(t, file.Groups))
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

// waitCanaryAlert waits until the ClusterRules object in the cluster does (or does not) hold the
// canary alert.
func waitCanaryAlert(t *testing.T, k clients, want bool) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("canary alert present=%v in the ClusterRules object", want), func(ctx context.Context) (bool, string) {
		obj, err := k.dyn.Resource(rulesGVR).Get(ctx, alerts.RulesName, metav1.GetOptions{})
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
			Name           string `json:"name"`
			WebhookConfigs []struct {
				URL string `json:"url"`
			} `json:"webhook_configs"`
		} `json:"receivers"`
	}
	if err := yaml.Unmarshal(sec.Data[alerts.AlertmanagerKey], &config); err != nil {
		t.Fatalf("the Secret's %s is not YAML", alerts.AlertmanagerKey)
	}
	sent := 0
	for _, r := range config.Receivers {
		for _, w := range r.WebhookConfigs {
			if r.Name == "ctmd" && w.URL == receiverURL {
				sent++
			}
		}
	}
	if sent != 1 {
		t.Errorf("the Alertmanager configuration does not send to the configured receiver once (%d receivers)", len(config.Receivers))
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

// anotherTeamsConfig is an Alertmanager configuration the cluster had before ctmd.
const anotherTeamsConfig = "route:\n  receiver: payments-oncall\nreceivers:\n- name: payments-oncall\n  webhook_configs:\n  - url: https://oncall.payments.example.test/hook\n"

// TestAlertmanagerOfAnotherTeam: on an existing cluster whose managed Alertmanager configuration
// another team wrote (with its own field manager, as kubectl would), a default up and a destroy
// with a receiver leave it byte for byte as it was, and the route to add is the secret output
// alertmanagerRoute, matching ctmd's namespace.
func TestAlertmanagerOfAnotherTeam(t *testing.T) {
	mainCluster.hold(t)
	ensureManagedPrometheus(t)
	k := newClients(t)
	secrets := k.kube.CoreV1().Secrets(alerts.AlertmanagerNamespace)
	theirs := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: alerts.AlertmanagerSecret},
		Data:       map[string][]byte{alerts.AlertmanagerKey: []byte(anotherTeamsConfig)},
	}
	if _, err := secrets.Create(t.Context(), theirs, metav1.CreateOptions{FieldManager: "payments-team"}); err != nil {
		t.Fatalf("another team's configuration: %v", err)
	}
	t.Cleanup(func() { _ = secrets.Delete(context.Background(), alerts.AlertmanagerSecret, metav1.DeleteOptions{}) })
	unchanged := func(when string) {
		t.Helper()
		got, err := secrets.Get(context.Background(), alerts.AlertmanagerSecret, metav1.GetOptions{})
		switch {
		case err != nil:
			t.Errorf("%s: another team's Alertmanager configuration is gone: %v", when, err)
		case string(got.Data[alerts.AlertmanagerKey]) != anotherTeamsConfig || len(got.Data) != 1:
			t.Errorf("%s: another team's Alertmanager configuration was changed", when)
		}
	}

	out := &transcript{}
	s := newExistingStack(t, "e2e-shared-alertmanager", auto.ConfigMap{
		"ctmd:managedPrometheus": {Value: "true"},
		"ctmd:alertReceiverUrl":  {Value: receiverURL, Secret: true},
	})
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			destroy(t, k, s, out)
		}
	})
	// The preview says that the stack leaves the configuration alone, and where the route is.
	stream := make(chan events.EngineEvent)
	said := make(chan bool)
	go func() {
		found := false
		for ev := range stream {
			if d := ev.DiagnosticEvent; d != nil && d.Severity == "warning" && strings.Contains(d.Message, "leaves the cluster's Alertmanager configuration alone") &&
				strings.Contains(d.Message, "pulumi stack output --show-secrets alertmanagerRoute") {
				found = true
			}
		}
		said <- found
	}()
	if _, err := s.Preview(t.Context(), optpreview.EventStreams(stream), optpreview.ProgressStreams(out), optpreview.ErrorProgressStreams(out)); err != nil {
		t.Fatalf("preview: %v", err)
	}
	if !<-said {
		t.Errorf("the preview did not say that the Alertmanager configuration is left alone")
	}
	up, err := s.Up(t.Context(), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	unchanged("after up")
	if !up.Outputs["alertmanagerRoute"].Secret {
		t.Errorf("alertmanagerRoute is not a secret output")
	}
	// The command docs/alerts.md gives, as written.
	text := s.cli(t, "stack", "output", "--show-secrets", "alertmanagerRoute")
	if !strings.Contains(text, `namespace="ctmd"`) || !strings.Contains(text, receiverToken) || !strings.Contains(text, "receivers:") {
		t.Errorf("pulumi stack output --show-secrets alertmanagerRoute: matches the namespace=%v, holds the receiver=%v",
			strings.Contains(text, `namespace="ctmd"`), strings.Contains(text, receiverToken))
	}
	if strings.Contains(out.String(), receiverToken) {
		t.Errorf("the engine's output holds the receiver")
	}
	destroy(t, k, s, out)
	destroyed = true
	unchanged("after destroy")
}
