package alerts

import (
	"fmt"
	"time"

	"github.com/cryptotracker/ctmd/infra/slo"
)

// Release alerts, with ctmd:delivery argo-rollouts: what the engine did with a release reaches the
// alerts' receiver through the Alertmanager like every other alert. Argo's own notifications
// would need the receiver's URL in the controller's configuration, and its HTTP client logs every
// URL it posts to.
const (
	ReleaseFailedAlert = "MarketdataReleaseFailed"
	ReleaseStuckAlert  = "MarketdataReleaseStuck"
	ReleaseGroup       = "marketdata-release"
	// RolloutsMonitoring is the PodMonitoring of the engine's controller.
	RolloutsMonitoring = "ctmd-argo-rollouts"
)

// The phases the controller reports for a Rollout in rollout_info (controller/metrics/rollouts.go,
// calculatePhase, in argoproj/argo-rollouts v1.10): Abort once the engine rolled a release back (a
// failed or errored gate, or a person's abort); Error, Timeout and InvalidSpec when it cannot go on;
// Paused in every step's hold and when a gate was inconclusive or a person paused it.
const (
	failedPhases = "Abort|Error|Timeout|InvalidSpec"
	pausedPhase  = "Paused"
	// stuckAfter is how much longer than a step's hold a pause may last before it is stuck.
	stuckAfter = 10 * time.Minute
)

// ReleaseRules watches the Rollout through the controller's rollout_info. A scraper that keeps
// the target's namespace label (Managed Prometheus does) renames the metric's own namespace label
// to exported_namespace; one that honours the metric's labels keeps it: both are matched.
func ReleaseRules(namespace, rollout string, hold time.Duration, labels map[string]string, runbook string) slo.Group {
	info := func(phase string) string {
		return fmt.Sprintf(`max(rollout_info{exported_namespace=%q, name=%q, phase=~%q} or rollout_info{namespace=%[1]q, name=%[2]q, phase=~%[3]q})`,
			namespace, rollout, phase)
	}
	rule := func(name, expr, forDuration, summary string) slo.Rule {
		return slo.Rule{Alert: name, Expr: expr, For: forDuration, Labels: slo.AlertLabels(labels, runbook, name, slo.Ticket),
			Annotations: map[string]string{"summary": summary}}
	}
	return slo.Group{Name: ReleaseGroup, Interval: slo.Interval, Rules: []slo.Rule{
		rule(ReleaseFailedAlert, info(failedPhases)+" == 1", "1m",
			"the release of marketdata was rolled back (or cannot go on): the stable version serves all the traffic; the canary's image is still in ctmd:image"),
		rule(ReleaseStuckAlert, info(pausedPhase)+" == 1", slo.PromDuration(hold+stuckAfter),
			"the release of marketdata has been paused for longer than a step: its gate could not judge it (too little traffic, or no data), or someone paused it"),
	}}
}
