package stack

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/crds"
	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

const crdSet, crdRecord = "ctmd:crds:Set::istio-base", "kubernetes:core/v1:ConfigMap::istio-base-crds"

// assertBaseCRDs checks Istio's base chart's CRDs (assertCRDRecord).
func assertBaseCRDs(t *testing.T, s *run, version, values string) mockstack.Resource {
	t.Helper()
	return assertCRDRecord(t, s, "istio-base", "istio-system", "base", version, values)
}

// assertCRDRecord checks that the chart was rendered once, as the release in namespace at version
// with those values, and that the stack holds its CRDs only as the record: the chart and a SHA-256
// per CRD, in the CRD set's component, with the hooks that apply them. It returns the record.
func assertCRDRecord(t *testing.T, s *run, release, namespace, chart, version, values string) mockstack.Resource {
	t.Helper()
	var rendered []map[string]any
	for _, opts := range s.Templates {
		if opts["release_name"] == release {
			rendered = append(rendered, opts)
		}
	}
	if len(rendered) != 1 {
		t.Fatalf("charts rendered %v, want %s once", s.Templates, release)
	}
	opts := rendered[0]
	for key, want := range map[string]string{"version": version, "namespace": namespace} {
		if opts[key] != want {
			t.Errorf("%s rendered with %s %v, want %s", release, key, opts[key], want)
		}
	}
	mockstack.AssertJSON(t, release+" values", opts["values"], values)
	record := s.Find(t, "kubernetes:core/v1:ConfigMap", release+crds.RecordSuffix)
	if want := "ctmd:crds:Set::" + release; record.Parent != want {
		t.Errorf("record's parent %q, want %s", record.Parent, want)
	}
	inputs := mockstack.Plain(record.Inputs)
	if got := mockstack.Get(inputs, "metadata.namespace"); got != namespace {
		t.Errorf("record in namespace %v, want %s", got, namespace)
	}
	data, _ := inputs["data"].(map[string]any)
	if want := chart + " " + version; data[crds.ChartKey] != want {
		t.Errorf("record names chart %v, want %s", data[crds.ChartKey], want)
	}
	for _, name := range mockstack.TemplateCRDs {
		if digest, _ := data[name].(string); !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
			t.Errorf("record's entry for %s is %q, want its SHA-256", name, digest)
		}
	}
	if len(data) != len(mockstack.TemplateCRDs)+1 {
		t.Errorf("record %v, want the chart and one digest per CRD", data)
	}
	// The hook applies the CRDs before the record is written, on a create and on an update: an
	// update killed before the record changed finds the change again and applies them again. An
	// after-hook would leave a record whose CRDs were never applied; no delete hook, so deleting
	// the record keeps the CRDs.
	hook := []string{release + "-apply-crds"}
	want := map[string][]string{"before_create": hook, "before_update": hook,
		"after_create": nil, "after_update": nil, "before_delete": nil, "after_delete": nil}
	if !reflect.DeepEqual(record.Hooks, want) {
		t.Errorf("record's hooks %v, want %v", record.Hooks, want)
	}
	if got := s.OfType("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"); len(got) != 0 {
		t.Errorf("CRDs %v held as resources, want only the record", got)
	}
	return record
}

// A new chart version changes each CRD's digest in the record, so a preview shows which CRDs an
// upgrade changes; the same version gives the same record.
func TestCRDRecordFollowsTheChart(t *testing.T) {
	record := func(version string) map[string]any {
		s := mustDeploy(t, gkeConfig(map[string]string{"ctmd:istioVersion": version}))
		data, _ := mockstack.Plain(s.Find(t, "kubernetes:core/v1:ConfigMap", "istio-base"+crds.RecordSuffix).Inputs)["data"].(map[string]any)
		return data
	}
	a, again, next := record("1.31.4"), record("1.31.4"), record("1.32.0")
	for _, name := range mockstack.TemplateCRDs {
		if a[name] != again[name] {
			t.Errorf("%s: digest %v then %v for the same chart", name, a[name], again[name])
		}
		if a[name] == next[name] {
			t.Errorf("%s: digest %v unchanged by a new chart version", name, a[name])
		}
	}
}
