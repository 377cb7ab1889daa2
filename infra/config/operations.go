package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Operations is what keeps the stack serving while GKE maintains the cluster: how many replicas
// of Istio's ingress gateway and control plane survive a node drain, and when GKE may upgrade.
type Operations struct {
	// GatewayMinReplicas and IstiodMinReplicas are the autoscalers' minimums. With two or more,
	// each gets a PodDisruptionBudget that lets a drain evict one pod at a time (infra/mesh).
	GatewayMinReplicas int
	IstiodMinReplicas  int
	// MaintenanceWindow is when GKE may upgrade the control plane and the nodes (target gke).
	MaintenanceWindow MaintenanceWindow
	// MaintenanceExclusion, when set, is a period in which GKE does not upgrade (target gke).
	MaintenanceExclusion *MaintenanceExclusion
}

// MaintenanceWindow is GKE's recurring window: the first occurrence (RFC 3339, UTC) and an RRULE.
type MaintenanceWindow struct {
	Start, End, Recurrence string
}

// MaintenanceExclusion is one GKE maintenance exclusion (RFC 3339, UTC) and what it holds back.
type MaintenanceExclusion struct {
	Name, Start, End, Scope string
}

// Defaults of the operations keys. The window is weekend nights in the default zone's local time
// (europe-west1 is in Belgium): Friday and Saturday 23:00 UTC for six hours, that is Saturday
// and Sunday 00:00-06:00 CET (01:00-07:00 CEST). GKE reads BYDAY in UTC and stores no time zone
// ("The recurrence of days of the week is always based on UTC",
// https://cloud.google.com/kubernetes-engine/docs/how-to/maintenance-windows-and-exclusions), so
// the keys are UTC too. Two six-hour windows a week give exactly the 48 hours in any 32 days GKE
// requires.
const (
	DefaultGatewayMinReplicas          = 2
	DefaultIstiodMinReplicas           = 2
	DefaultMaintenanceWindowStart      = "2025-01-03T23:00:00Z"
	DefaultMaintenanceWindowEnd        = "2025-01-04T05:00:00Z"
	DefaultMaintenanceWindowRecurrence = "FREQ=WEEKLY;BYDAY=FR,SA"
	DefaultMaintenanceExclusionScope   = "NO_UPGRADES"
	// MaintenanceExclusionName names the exclusion in the cluster's maintenance policy.
	MaintenanceExclusionName = "ctmd"
)

// GKE's rules for a maintenance policy, from
// https://cloud.google.com/kubernetes-engine/docs/how-to/maintenance-windows-and-exclusions:
// "you must allow at least 48 hours of maintenance availability in a 32-day rolling window. Only
// contiguous availability periods of at least four hours are considered", and a "No upgrades"
// exclusion lasts at most 30 days
// (https://cloud.google.com/kubernetes-engine/docs/concepts/maintenance-windows-and-exclusions).
const (
	minWindow          = 4 * time.Hour
	minAvailability    = 48 * time.Hour
	maxNoUpgradesSpell = 30 * 24 * time.Hour
)

var exclusionScopes = []string{"NO_UPGRADES", "NO_MINOR_UPGRADES", "NO_MINOR_OR_NODE_UPGRADES"}

// operations reads the operations keys; the maintenance keys belong to target gke only.
func (r *reader) operations(target Target) Operations {
	ops := Operations{
		GatewayMinReplicas: r.integer("gatewayMinReplicas", DefaultGatewayMinReplicas, 1),
		IstiodMinReplicas:  r.integer("istiodMinReplicas", DefaultIstiodMinReplicas, 1),
	}
	for key, n := range map[string]int{"gatewayMinReplicas": ops.GatewayMinReplicas, "istiodMinReplicas": ops.IstiodMinReplicas} {
		if n == 1 {
			r.warn(fmt.Sprintf("ctmd:%s is 1: draining the node that runs it (GKE does so on every node upgrade) leaves none running; set it with pulumi config set ctmd:%[1]s 2", key))
		}
	}
	windowKeys := []string{"maintenanceWindowStart", "maintenanceWindowEnd", "maintenanceWindowRecurrence",
		"maintenanceExclusionStart", "maintenanceExclusionEnd", "maintenanceExclusionScope"}
	if target != TargetGKE {
		for _, key := range windowKeys {
			if _, set := r.get(key); set {
				r.fail(fmt.Errorf(`config %q is only used with ctmd:target gke (GKE's maintenance policy): remove it with pulumi config rm %[1]s`, Namespace+":"+key))
			}
		}
		return ops
	}
	ops.MaintenanceWindow = r.maintenanceWindow()
	ops.MaintenanceExclusion = r.maintenanceExclusion()
	return ops
}

func (r *reader) maintenanceWindow() MaintenanceWindow {
	w := MaintenanceWindow{Start: DefaultMaintenanceWindowStart, End: DefaultMaintenanceWindowEnd, Recurrence: DefaultMaintenanceWindowRecurrence}
	start, okStart := r.utcTime("maintenanceWindowStart", DefaultMaintenanceWindowStart)
	end, okEnd := r.utcTime("maintenanceWindowEnd", DefaultMaintenanceWindowEnd)
	recurrence, perWeek, okRecurrence := r.recurrence("maintenanceWindowRecurrence")
	if !okStart || !okEnd || !okRecurrence {
		return w
	}
	length := end.Sub(start)
	if length < minWindow {
		r.fail(fmt.Errorf(`invalid config "ctmd:maintenanceWindowEnd" value %q: GKE counts only windows of at least 4 hours, and it is %s after ctmd:maintenanceWindowStart; set it with pulumi config set ctmd:maintenanceWindowEnd %s`,
			end.Format(time.RFC3339), length, start.Add(6*time.Hour).Format(time.RFC3339)))
		return w
	}
	// The fewest occurrences any 32 days can hold: 32 for a daily window, 4 per weekday for a
	// weekly one (four whole weeks, the four days left over possibly holding none).
	fewest := 32
	if perWeek > 0 {
		fewest = 4 * perWeek
	}
	if time.Duration(fewest)*length < minAvailability {
		r.fail(fmt.Errorf(`config "ctmd:maintenanceWindowRecurrence" %q with %s windows allows %s of maintenance in some 32-day spans; GKE requires 48 hours: add days with pulumi config set ctmd:maintenanceWindowRecurrence 'FREQ=WEEKLY;BYDAY=FR,SA,SU' or lengthen the window with ctmd:maintenanceWindowEnd`,
			recurrence, length, time.Duration(fewest)*length))
		return w
	}
	return MaintenanceWindow{Start: start.Format(time.RFC3339), End: end.Format(time.RFC3339), Recurrence: recurrence}
}

// recurrence reads an RRULE of the two forms GKE's documentation uses, FREQ=DAILY and
// FREQ=WEEKLY;BYDAY=<days>, and returns how many days a week a weekly one names (0 for daily).
func (r *reader) recurrence(key string) (string, int, bool) {
	v, ok := r.get(key)
	if !ok {
		v = DefaultMaintenanceWindowRecurrence
	}
	perWeek, valid := weekdays(v)
	if !valid {
		r.invalid(key, v, "FREQ=DAILY, or FREQ=WEEKLY;BYDAY= and days among MO,TU,WE,TH,FR,SA,SU (UTC)", scalarFix(key, "'"+DefaultMaintenanceWindowRecurrence+"'"))
	}
	return v, perWeek, valid
}

func weekdays(rrule string) (int, bool) {
	if rrule == "FREQ=DAILY" {
		return 0, true
	}
	days, ok := strings.CutPrefix(rrule, "FREQ=WEEKLY;BYDAY=")
	if !ok {
		return 0, false
	}
	seen := map[string]bool{}
	for _, day := range strings.Split(days, ",") {
		if !slices.Contains([]string{"MO", "TU", "WE", "TH", "FR", "SA", "SU"}, day) || seen[day] {
			return 0, false
		}
		seen[day] = true
	}
	return len(seen), true
}

func (r *reader) maintenanceExclusion() *MaintenanceExclusion {
	_, startSet := r.get("maintenanceExclusionStart")
	_, endSet := r.get("maintenanceExclusionEnd")
	scope := r.oneOf("maintenanceExclusionScope", DefaultMaintenanceExclusionScope, exclusionScopes...)
	if !startSet && !endSet {
		if _, set := r.get("maintenanceExclusionScope"); set {
			r.fail(fmt.Errorf(`config "ctmd:maintenanceExclusionScope" is set but no exclusion is: set its period with pulumi config set ctmd:maintenanceExclusionStart <2026-11-27T00:00:00Z> and ctmd:maintenanceExclusionEnd, or remove it with pulumi config rm ctmd:maintenanceExclusionScope`))
		}
		return nil
	}
	if startSet != endSet {
		missing := "maintenanceExclusionEnd"
		if !startSet {
			missing = "maintenanceExclusionStart"
		}
		r.fail(fmt.Errorf(`missing config %q: an exclusion needs a start and an end; set it with pulumi config set %[1]s <2026-11-30T00:00:00Z>`, Namespace+":"+missing))
		return nil
	}
	start, okStart := r.utcTime("maintenanceExclusionStart", "")
	end, okEnd := r.utcTime("maintenanceExclusionEnd", "")
	if !okStart || !okEnd {
		return nil
	}
	switch length := end.Sub(start); {
	case length <= 0:
		r.invalid("maintenanceExclusionEnd", end.Format(time.RFC3339), "after ctmd:maintenanceExclusionStart", scalarFix("maintenanceExclusionEnd", start.Add(24*time.Hour).Format(time.RFC3339)))
		return nil
	case scope == "NO_UPGRADES" && length > maxNoUpgradesSpell:
		r.fail(fmt.Errorf(`invalid config "ctmd:maintenanceExclusionEnd": a NO_UPGRADES exclusion lasts at most 30 days and this one lasts %s; set it with pulumi config set ctmd:maintenanceExclusionEnd %s, or narrow what it holds back with pulumi config set ctmd:maintenanceExclusionScope NO_MINOR_UPGRADES`,
			length, start.Add(maxNoUpgradesSpell).Format(time.RFC3339)))
		return nil
	}
	return &MaintenanceExclusion{Name: MaintenanceExclusionName, Start: start.Format(time.RFC3339), End: end.Format(time.RFC3339), Scope: scope}
}

// utcTime reads an RFC 3339 time in UTC ("Z"): GKE returns its times in UTC, so any other offset
// would show as a change on every preview, and BYDAY is read in UTC anyway.
func (r *reader) utcTime(key, def string) (time.Time, bool) {
	v, ok := r.get(key)
	if !ok {
		v = def
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || !strings.HasSuffix(v, "Z") {
		r.invalid(key, v, "an RFC 3339 time in UTC such as 2025-01-03T23:00:00Z (GKE reads it, and the weekdays of the recurrence, in UTC)", scalarFix(key, "2025-01-03T23:00:00Z"))
		return time.Time{}, false
	}
	return t, true
}
