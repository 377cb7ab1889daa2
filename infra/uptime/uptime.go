// Package uptime watches the API from outside the cluster (target gke): a Cloud Monitoring uptime
// check requests the public URL from Google's checker regions, and an alert policy notifies the
// stack's receiver when it fails. It sees what no in-cluster metric can: the load balancer, the
// firewall, DNS, the certificate, a gateway that is gone, a cluster that is down; and its
// requests, a few a minute through the gateway, keep the in-cluster rules from mistaking a quiet
// stack for a dark one.
package uptime

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/monitoring"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Path is what the check requests: the list route, which reads the database (through the cache),
// so a check that passes means the API answers with data.
const Path = "/api/v1/currencies"

// Check settings. A check every minute from every checker region; one that does not answer in 10 s
// fails ("Uptime checks", https://cloud.google.com/monitoring/uptime-checks).
const (
	period  = "60s"
	timeout = "10s"
)

// Args configures the check.
type Args struct {
	Project string
	// Name tells this stack's check and policy from others' in the project (the cluster's name).
	Name string
	// Host is the API's public name (HTTPS, certificate validated) or, without a domain, the
	// gateway's address (HTTP).
	Host  pulumi.StringInput
	HTTPS bool
	// Receiver is the stack's webhook (secret), notified when HasReceiver and it is not Slack's:
	// Cloud Monitoring's webhook channel posts its own JSON, which Slack's incoming webhooks refuse,
	// and its Slack channel needs an OAuth grant made in the console.
	Receiver      pulumi.StringOutput
	HasReceiver   bool
	SlackReceiver bool
	// Channels are notification channels of the project's own (projects/<p>/notificationChannels/<id>).
	Channels []string
	// Runbook is the link in the alert's documentation.
	Runbook string
}

// Check is the component.
type Check struct {
	pulumi.ResourceState
}

// New declares the uptime check, the webhook channel and the alert policy.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Check, error) {
	c := &Check{}
	if err := ctx.RegisterComponentResource("ctmd:uptime:Check", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	port := 80
	if args.HTTPS {
		port = 443
	}
	check, err := monitoring.NewUptimeCheckConfig(ctx, name, &monitoring.UptimeCheckConfigArgs{
		Project:     pulumi.String(args.Project),
		DisplayName: pulumi.String(fmt.Sprintf("ctmd %s: GET %s", args.Name, Path)),
		Period:      pulumi.String(period),
		Timeout:     pulumi.String(timeout),
		HttpCheck: &monitoring.UptimeCheckConfigHttpCheckArgs{
			RequestMethod: pulumi.String("GET"),
			Path:          pulumi.String(Path),
			Port:          pulumi.Int(port),
			UseSsl:        pulumi.Bool(args.HTTPS),
			// With a domain, an expired or untrusted certificate fails the check.
			ValidateSsl: pulumi.Bool(args.HTTPS),
			AcceptedResponseStatusCodes: monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArray{
				&monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs{StatusClass: pulumi.String("STATUS_CLASS_2XX")},
			},
		},
		MonitoredResource: &monitoring.UptimeCheckConfigMonitoredResourceArgs{
			Type:   pulumi.String("uptime_url"),
			Labels: pulumi.StringMap{"project_id": pulumi.String(args.Project), "host": args.Host},
		},
	}, parent)
	if err != nil {
		return nil, err
	}

	channels := pulumi.StringArray{}
	for _, ch := range args.Channels {
		channels = append(channels, pulumi.String(ch))
	}
	if args.HasReceiver && !args.SlackReceiver {
		// The URL is a credential: it goes only to the channel's labels, as a secret.
		ch, err := monitoring.NewNotificationChannel(ctx, name+"-receiver", &monitoring.NotificationChannelArgs{
			Project:     pulumi.String(args.Project),
			DisplayName: pulumi.String(fmt.Sprintf("ctmd %s receiver", args.Name)),
			Type:        pulumi.String("webhook_tokenauth"),
			Labels:      pulumi.StringMap{"url": args.Receiver},
		}, parent)
		if err != nil {
			return nil, err
		}
		channels = append(channels, ch.Name)
	}

	// The condition Cloud Monitoring's console makes for an uptime check: the number of checker
	// regions whose latest result failed, above 1 for a minute ("Create alerting policies for
	// uptime checks", https://cloud.google.com/monitoring/uptime-checks/uptime-alerting-policies).
	filter := check.UptimeCheckId.ApplyT(func(id string) string {
		return fmt.Sprintf(`metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND metric.label.check_id="%s" AND resource.type="uptime_url"`, id)
	}).(pulumi.StringOutput)
	if _, err := monitoring.NewAlertPolicy(ctx, name, &monitoring.AlertPolicyArgs{
		Project:     pulumi.String(args.Project),
		DisplayName: pulumi.String(fmt.Sprintf("ctmd %s: marketdata unreachable from outside", args.Name)),
		Combiner:    pulumi.String("OR"),
		Severity:    pulumi.String("CRITICAL"),
		Conditions: monitoring.AlertPolicyConditionArray{&monitoring.AlertPolicyConditionArgs{
			DisplayName: pulumi.String("uptime check failing in more than one region"),
			ConditionThreshold: &monitoring.AlertPolicyConditionConditionThresholdArgs{
				Filter: filter,
				Aggregations: monitoring.AlertPolicyConditionConditionThresholdAggregationArray{
					&monitoring.AlertPolicyConditionConditionThresholdAggregationArgs{
						AlignmentPeriod:    pulumi.String("1200s"),
						PerSeriesAligner:   pulumi.String("ALIGN_NEXT_OLDER"),
						CrossSeriesReducer: pulumi.String("REDUCE_COUNT_FALSE"),
						GroupByFields:      pulumi.StringArray{pulumi.String("resource.label.*")},
					},
				},
				Comparison:     pulumi.String("COMPARISON_GT"),
				ThresholdValue: pulumi.Float64(1),
				Duration:       pulumi.String("60s"),
				Trigger:        &monitoring.AlertPolicyConditionConditionThresholdTriggerArgs{Count: pulumi.Int(1)},
			},
		}},
		NotificationChannels: channels,
		Documentation: &monitoring.AlertPolicyDocumentationArgs{
			MimeType: pulumi.String("text/markdown"),
			Content:  pulumi.String("Google's checkers cannot GET " + Path + " from the public URL. Runbook: " + args.Runbook),
		},
	}, parent); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{}); err != nil {
		return nil, err
	}
	return c, nil
}
