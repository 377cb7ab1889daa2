package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/config"
)

// What target gke runs with when no operations key is set: two of each, weekend nights, no
// exclusion.
var defaultOperations = config.Operations{
	GatewayMinReplicas: 2,
	IstiodMinReplicas:  2,
	MaintenanceWindow: config.MaintenanceWindow{
		Start: "2025-01-03T23:00:00Z", End: "2025-01-04T05:00:00Z", Recurrence: "FREQ=WEEKLY;BYDAY=FR,SA",
	},
}

func TestOperationsDefaults(t *testing.T) {
	cfg, err := load(t, gke(nil), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Operations, defaultOperations) {
		t.Errorf("operations %+v, want %+v", cfg.Operations, defaultOperations)
	}
	// Existing clusters have no GKE maintenance policy of the stack's.
	cfg, err = load(t, existing(nil), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	want := config.Operations{GatewayMinReplicas: 2, IstiodMinReplicas: 2}
	if !reflect.DeepEqual(cfg.Operations, want) {
		t.Errorf("existing: operations %+v, want %+v", cfg.Operations, want)
	}
}

func TestOperationsSetValues(t *testing.T) {
	cfg, err := load(t, gke(map[string]string{
		"ctmd:gatewayMinReplicas":          "3",
		"ctmd:istiodMinReplicas":           "1",
		"ctmd:maintenanceWindowStart":      "2026-01-05T01:00:00Z",
		"ctmd:maintenanceWindowEnd":        "2026-01-05T05:00:00Z",
		"ctmd:maintenanceWindowRecurrence": "FREQ=DAILY",
		"ctmd:maintenanceExclusionStart":   "2026-11-26T00:00:00Z",
		"ctmd:maintenanceExclusionEnd":     "2026-12-26T00:00:00Z",
		"ctmd:maintenanceExclusionScope":   "NO_MINOR_UPGRADES",
	}), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	want := config.Operations{
		GatewayMinReplicas: 3, IstiodMinReplicas: 1,
		MaintenanceWindow: config.MaintenanceWindow{Start: "2026-01-05T01:00:00Z", End: "2026-01-05T05:00:00Z", Recurrence: "FREQ=DAILY"},
		MaintenanceExclusion: &config.MaintenanceExclusion{
			Name: "ctmd", Start: "2026-11-26T00:00:00Z", End: "2026-12-26T00:00:00Z", Scope: "NO_MINOR_UPGRADES",
		},
	}
	if !reflect.DeepEqual(cfg.Operations, want) {
		t.Errorf("operations %+v\nwant %+v", cfg.Operations, want)
	}
	// A NO_UPGRADES exclusion of exactly 30 days is GKE's longest, and the default scope.
	cfg, err = load(t, gke(map[string]string{
		"ctmd:maintenanceExclusionStart": "2026-11-26T00:00:00Z", "ctmd:maintenanceExclusionEnd": "2026-12-26T00:00:00Z",
	}), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	if x := cfg.Operations.MaintenanceExclusion; x == nil || x.Scope != "NO_UPGRADES" {
		t.Errorf("exclusion %+v, want scope NO_UPGRADES", x)
	}
	// Three four-hour windows a week are exactly 48 hours in the leanest 32 days.
	if _, err := load(t, gke(map[string]string{
		"ctmd:maintenanceWindowStart": "2026-01-05T01:00:00Z", "ctmd:maintenanceWindowEnd": "2026-01-05T05:00:00Z",
		"ctmd:maintenanceWindowRecurrence": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
	}), "ctmd:mongoConnectionString"); err != nil {
		t.Errorf("12 hours a week: %v", err)
	}
}

func TestOperationsErrors(t *testing.T) {
	const secretKey = "ctmd:mongoConnectionString"
	tests := []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"no gateway", gke(map[string]string{"ctmd:gatewayMinReplicas": "0"}),
			`invalid config "ctmd:gatewayMinReplicas" value "0": must be an integer of at least 1; set it with pulumi config set ctmd:gatewayMinReplicas 2`},
		{"istiod not a number", gke(map[string]string{"ctmd:istiodMinReplicas": "two"}),
			`invalid config "ctmd:istiodMinReplicas" value "two": must be an integer of at least 1; set it with pulumi config set ctmd:istiodMinReplicas 2`},
		{"start not UTC", gke(map[string]string{"ctmd:maintenanceWindowStart": "2025-01-04T00:00:00+01:00"}),
			`invalid config "ctmd:maintenanceWindowStart" value "2025-01-04T00:00:00+01:00": must be an RFC 3339 time in UTC such as 2025-01-03T23:00:00Z (GKE reads it, and the weekdays of the recurrence, in UTC); set it with pulumi config set ctmd:maintenanceWindowStart 2025-01-03T23:00:00Z`},
		{"end not a time", gke(map[string]string{"ctmd:maintenanceWindowEnd": "05:00"}),
			`invalid config "ctmd:maintenanceWindowEnd" value "05:00": must be an RFC 3339 time in UTC`},
		{"window too short", gke(map[string]string{"ctmd:maintenanceWindowEnd": "2025-01-04T02:00:00Z"}),
			`invalid config "ctmd:maintenanceWindowEnd" value "2025-01-04T02:00:00Z": GKE counts only windows of at least 4 hours, and it is 3h0m0s after ctmd:maintenanceWindowStart; set it with pulumi config set ctmd:maintenanceWindowEnd 2025-01-04T05:00:00Z`},
		{"end before start", gke(map[string]string{"ctmd:maintenanceWindowEnd": "2025-01-03T22:00:00Z"}),
			`GKE counts only windows of at least 4 hours, and it is -1h0m0s after ctmd:maintenanceWindowStart`},
		{"too little maintenance", gke(map[string]string{"ctmd:maintenanceWindowRecurrence": "FREQ=WEEKLY;BYDAY=SU"}),
			`config "ctmd:maintenanceWindowRecurrence" "FREQ=WEEKLY;BYDAY=SU" with 6h0m0s windows allows 24h0m0s of maintenance in some 32-day spans; GKE requires 48 hours: add days with pulumi config set ctmd:maintenanceWindowRecurrence 'FREQ=WEEKLY;BYDAY=FR,SA,SU' or lengthen the window with ctmd:maintenanceWindowEnd`},
		{"monthly recurrence", gke(map[string]string{"ctmd:maintenanceWindowRecurrence": "FREQ=MONTHLY;BYMONTHDAY=1"}),
			`invalid config "ctmd:maintenanceWindowRecurrence" value "FREQ=MONTHLY;BYMONTHDAY=1": must be FREQ=DAILY, or FREQ=WEEKLY;BYDAY= and days among MO,TU,WE,TH,FR,SA,SU (UTC); set it with pulumi config set ctmd:maintenanceWindowRecurrence 'FREQ=WEEKLY;BYDAY=FR,SA'`},
		{"unknown weekday", gke(map[string]string{"ctmd:maintenanceWindowRecurrence": "FREQ=WEEKLY;BYDAY=SAT,SUN"}),
			`invalid config "ctmd:maintenanceWindowRecurrence" value "FREQ=WEEKLY;BYDAY=SAT,SUN": must be FREQ=DAILY, or FREQ=WEEKLY;BYDAY=`},
		{"weekday twice", gke(map[string]string{"ctmd:maintenanceWindowRecurrence": "FREQ=WEEKLY;BYDAY=SA,SA"}),
			`invalid config "ctmd:maintenanceWindowRecurrence" value "FREQ=WEEKLY;BYDAY=SA,SA"`},
		{"exclusion without end", gke(map[string]string{"ctmd:maintenanceExclusionStart": "2026-11-26T00:00:00Z"}),
			`missing config "ctmd:maintenanceExclusionEnd": an exclusion needs a start and an end; set it with pulumi config set ctmd:maintenanceExclusionEnd <2026-11-30T00:00:00Z>`},
		{"exclusion without start", gke(map[string]string{"ctmd:maintenanceExclusionEnd": "2026-11-30T00:00:00Z"}),
			`missing config "ctmd:maintenanceExclusionStart": an exclusion needs a start and an end`},
		{"scope without exclusion", gke(map[string]string{"ctmd:maintenanceExclusionScope": "NO_MINOR_UPGRADES"}),
			`config "ctmd:maintenanceExclusionScope" is set but no exclusion is: set its period with pulumi config set ctmd:maintenanceExclusionStart <2026-11-27T00:00:00Z> and ctmd:maintenanceExclusionEnd, or remove it with pulumi config rm ctmd:maintenanceExclusionScope`},
		{"exclusion ends before it starts", gke(map[string]string{"ctmd:maintenanceExclusionStart": "2026-11-26T00:00:00Z", "ctmd:maintenanceExclusionEnd": "2026-11-25T00:00:00Z"}),
			`invalid config "ctmd:maintenanceExclusionEnd" value "2026-11-25T00:00:00Z": must be after ctmd:maintenanceExclusionStart; set it with pulumi config set ctmd:maintenanceExclusionEnd 2026-11-27T00:00:00Z`},
		{"no-upgrades exclusion too long", gke(map[string]string{"ctmd:maintenanceExclusionStart": "2026-11-26T00:00:00Z", "ctmd:maintenanceExclusionEnd": "2026-12-27T00:00:00Z"}),
			`invalid config "ctmd:maintenanceExclusionEnd": a NO_UPGRADES exclusion lasts at most 30 days and this one lasts 744h0m0s; set it with pulumi config set ctmd:maintenanceExclusionEnd 2026-12-26T00:00:00Z, or narrow what it holds back with pulumi config set ctmd:maintenanceExclusionScope NO_MINOR_UPGRADES`},
		{"bad scope", gke(map[string]string{"ctmd:maintenanceExclusionStart": "2026-11-26T00:00:00Z", "ctmd:maintenanceExclusionEnd": "2026-11-27T00:00:00Z", "ctmd:maintenanceExclusionScope": "NONE"}),
			`invalid config "ctmd:maintenanceExclusionScope" value "NONE": must be one of NO_UPGRADES, NO_MINOR_UPGRADES, NO_MINOR_OR_NODE_UPGRADES; set it with pulumi config set ctmd:maintenanceExclusionScope NO_UPGRADES`},
		{"window on an existing cluster", existing(map[string]string{"ctmd:maintenanceWindowRecurrence": "FREQ=DAILY"}),
			`config "ctmd:maintenanceWindowRecurrence" is only used with ctmd:target gke (GKE's maintenance policy): remove it with pulumi config rm ctmd:maintenanceWindowRecurrence`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.values, secretKey)
			if err == nil {
				t.Fatalf("Load succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}
