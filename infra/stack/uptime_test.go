package stack

import (
	"slices"
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

const (
	uptimeComponent = "ctmd:uptime:Check::uptime"
	uptimeCheckType = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
	alertPolicyType = "gcp:monitoring/alertPolicy:AlertPolicy"
	channelType     = "gcp:monitoring/notificationChannel:NotificationChannel"
)

// On gke, without a domain, Google's checkers GET the list route over HTTP on the reserved
// address, and the alert policy fires when more than one region fails for a minute (the condition
// Cloud Monitoring's console makes for an uptime check); without a receiver it notifies nobody.
func TestUptimeCheckOnGKE(t *testing.T) {
	s := mustDeploy(t, gkeConfig(nil))
	assertResource(t, s, uptimeCheckType, "uptime", uptimeComponent, "", `{
		"project": "`+project+`", "displayName": "ctmd ctmd-cluster: GET /api/v1/currencies",
		"period": "60s", "timeout": "10s",
		"httpCheck": {"requestMethod": "GET", "path": "/api/v1/currencies", "port": 80, "useSsl": false, "validateSsl": false,
		              "acceptedResponseStatusCodes": [{"statusClass": "STATUS_CLASS_2XX"}]},
		"monitoredResource": {"type": "uptime_url", "labels": {"project_id": "`+project+`", "host": "`+mockstack.AddressFor("ctmd-cluster-ingress")+`"}}
	}`)
	assertResource(t, s, alertPolicyType, "uptime", uptimeComponent, "", `{
		"project": "`+project+`", "displayName": "ctmd ctmd-cluster: marketdata unreachable from outside",
		"combiner": "OR", "severity": "CRITICAL",
		"conditions": [{"displayName": "uptime check failing in more than one region", "conditionThreshold": {
			"filter": "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND metric.label.check_id=\"uptime-check-id\" AND resource.type=\"uptime_url\"",
			"aggregations": [{"alignmentPeriod": "1200s", "perSeriesAligner": "ALIGN_NEXT_OLDER", "crossSeriesReducer": "REDUCE_COUNT_FALSE", "groupByFields": ["resource.label.*"]}],
			"comparison": "COMPARISON_GT", "thresholdValue": 1, "duration": "60s", "trigger": {"count": 1}}}],
		"notificationChannels": [],
		"documentation": {"mimeType": "text/markdown", "content": "Google's checkers cannot GET /api/v1/currencies from the public URL. Runbook: `+RunbookURL+`#marketdata-unreachable-from-outside"}
	}`)
	if got := s.OfType(channelType); len(got) != 0 {
		t.Errorf("notification channels without a receiver: %v", got)
	}
}

// With a domain the check goes over HTTPS to the name and validates the certificate.
func TestUptimeCheckOverHTTPS(t *testing.T) {
	s := mustDeploy(t, gkeHTTPS(nil))
	in := mockstack.Plain(s.Find(t, uptimeCheckType, "uptime").Inputs)
	mockstack.AssertJSON(t, "httpCheck", in["httpCheck"], `{"requestMethod": "GET", "path": "/api/v1/currencies", "port": 443, "useSsl": true, "validateSsl": true,
		"acceptedResponseStatusCodes": [{"statusClass": "STATUS_CLASS_2XX"}]}`)
	mockstack.AssertJSON(t, "host", mockstack.Get(in, "monitoredResource.labels.host"), `"`+domain+`"`)
}

// A webhook receiver becomes the policy's channel, and the URL appears nowhere else than that
// channel's labels and the Alertmanager's Secret, as secrets. A Slack receiver cannot be a Cloud
// Monitoring channel: the policy notifies the channels listed in uptimeNotificationChannels.
func TestUptimeNotifiesTheReceiver(t *testing.T) {
	webhook := "https://alerts.example.com/hook?token=" + receiverToken
	s := mustDeploy(t, gkeConfig(map[string]string{receiverKey: webhook}))
	assertResource(t, s, channelType, "uptime-receiver", uptimeComponent, "", `{
		"project": "`+project+`", "displayName": "ctmd ctmd-cluster receiver", "type": "webhook_tokenauth", "labels": {"url": "`+webhook+`"}
	}`)
	channels := mockstack.Get(mockstack.Plain(s.Find(t, alertPolicyType, "uptime").Inputs), "notificationChannels")
	mockstack.AssertJSON(t, "notificationChannels", channels, `["projects/`+project+`/notificationChannels/`+mockstack.UptimeChannelID+`"]`)
	hits := find(s.Stack, receiverToken)
	want := []hit{
		{Where: channelType + " uptime-receiver.labels.url", Secret: true},
		{Where: "kubernetes:core/v1:Secret alertmanager.stringData.alertmanager.yaml", Secret: true},
	}
	slices.SortFunc(hits, func(a, b hit) int { return strings.Compare(a.Where, b.Where) })
	if !slices.Equal(hits, want) {
		t.Errorf("the receiver appears at %+v, want only %+v", hits, want)
	}

	const listed = "projects/" + project + "/notificationChannels/77"
	s = mustDeploy(t, gkeConfig(map[string]string{receiverKey: slackURL, "ctmd:uptimeNotificationChannels": `["` + listed + `"]`}))
	if got := s.OfType(channelType); len(got) != 0 {
		t.Errorf("a Cloud Monitoring channel for a Slack incoming webhook: %v", got)
	}
	mockstack.AssertJSON(t, "notificationChannels", mockstack.Get(mockstack.Plain(s.Find(t, alertPolicyType, "uptime").Inputs), "notificationChannels"), `["`+listed+`"]`)
}

// target existing declares no GCP resource, so no uptime check.
func TestNoUptimeCheckOnExistingClusters(t *testing.T) {
	s := mustDeploy(t, existingConfig(nil))
	for _, typ := range []string{uptimeCheckType, alertPolicyType, channelType} {
		if got := s.OfType(typ); len(got) != 0 {
			t.Errorf("existing target declares %s %v", typ, got)
		}
	}
}
