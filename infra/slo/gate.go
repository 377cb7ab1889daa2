package slo

import (
	"fmt"
	"math"
	"time"
)

// Gate is the judgement of one step of an automated canary, derived from the availability SLO as
// the canary alert is: the canary fails when its error ratio over the step exceeds the stable
// track's by more than the fast page's threshold, and it is judged only once it answered enough
// requests that one failure alone cannot cross that margin.
//
// Query always returns one sample: the excess of the canary's error ratio over the stable one's,
// or NaN when there is nothing to judge (too few canary requests, no series at all, no stable
// traffic). An engine that finds NaN meeting neither condition calls the step inconclusive and
// never promotes on it; Argo Rollouts does, and reads an empty result as an error instead
// (metricproviders/prometheus, utils/evaluate in argoproj/argo-rollouts), which vector(NaN) avoids.
type Gate struct {
	Query string
	// Success and Failure are the conditions on the sample, in Argo Rollouts' expression language
	// (result[0] is the sample); NaN meets neither.
	Success, Failure string
	// Margin is the excess the canary may have; MinRequests how many requests it must answer in
	// the step's window before it is judged.
	Margin      float64
	MinRequests int
}

// CanaryGate judges a canary whose requests reach the Service of canary while the others reach
// stable's, over the last window, against the availability objective.
func CanaryGate(objective float64, canary, stable Users, window time.Duration) Gate {
	w := PromDuration(window)
	canarySLO, stableSLO := Availability(objective, canary.gatewayOnly()), Availability(objective, stable.gatewayOnly())
	// Rounded as Budget is, so the conditions read 0.072 rather than 0.07200000000000001.
	margin := math.Round(FastestBurn*canarySLO.Budget()*1e9) / 1e9
	minRequests := MinRequests(margin)
	ratio := func(s SLO) string {
		all := fmt.Sprintf("sum (%s)", s.all(w))
		return fmt.Sprintf("(1 - (sum (%s) or 0 * %s) / %s)", s.good(w), all, all)
	}
	return Gate{
		Query: fmt.Sprintf("((%s - on() %s) and on() (sum (%s) * %d >= %d)) or on() vector(NaN)",
			ratio(canarySLO), ratio(stableSLO), canarySLO.all(w), int(window.Seconds()), minRequests),
		Success:     fmt.Sprintf("result[0] <= %s", formatFloat(margin)),
		Failure:     fmt.Sprintf("result[0] > %s", formatFloat(margin)),
		Margin:      margin,
		MinRequests: minRequests,
	}
}

// gatewayOnly counts only what the ingress gateway routed: a step's weights split the gateway's
// traffic, while in-mesh callers reach the pods of both tracks through the Service in proportion
// to their number, so their requests would judge the canary at a share the step did not set.
func (u Users) gatewayOnly() Users {
	u.gatewayOnlyCount = true
	return u
}

// PromDuration writes a duration as PromQL and rule files do: whole seconds, in the largest unit
// that divides it ("5m", "90s").
func PromDuration(d time.Duration) string {
	s := int(d.Seconds())
	switch {
	case s%3600 == 0:
		return fmt.Sprintf("%dh", s/3600)
	case s%60 == 0:
		return fmt.Sprintf("%dm", s/60)
	}
	return fmt.Sprintf("%ds", s)
}
