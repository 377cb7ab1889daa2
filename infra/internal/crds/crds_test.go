package crds

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cryptotracker/ctmd/infra/internal/charts"
)

func crd(name, description string) map[string]any {
	return map[string]any{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"description": description, "versions": []any{map[string]any{"name": "v1", "served": true}}}}
}

// The record lists each CRD of the render, sorted, with a digest that changes with the CRD and
// only with it; the chart's other objects are the chart's to apply.
func TestRecordOfARender(t *testing.T) {
	chart := charts.Args{Chart: "base", Version: "1.31.4"}
	sa := map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "istio-reader-service-account"}}
	record := func(objects ...any) map[string]string {
		t.Helper()
		crds, err := selectCRDs(objects, Args{Chart: chart}.describe())
		if err != nil {
			t.Fatal(err)
		}
		data, err := recordOf(Args{Chart: chart}.label(), crds)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	first := record(crd("b.istio.io", "one"), sa, crd("a.istio.io", "one"))
	if got := namesOf(first); strings.Join(got, ",") != "a.istio.io,b.istio.io" || first[ChartKey] != "base 1.31.4" {
		t.Fatalf("record %v, want the chart and the two CRDs", first)
	}
	changed := record(crd("a.istio.io", "one"), crd("b.istio.io", "two"))
	if changed["a.istio.io"] != first["a.istio.io"] || changed["b.istio.io"] == first["b.istio.io"] {
		t.Errorf("digests %v then %v: want only the changed CRD's digest to change", first, changed)
	}
	if _, err := selectCRDs([]any{sa}, Args{Chart: chart}.describe()); err == nil || !strings.Contains(err.Error(), "chart base renders no CustomResourceDefinition") {
		t.Errorf("a render without CRDs: %v, want it refused", err)
	}
}

// An HTTP(S) repository is the chart's fetch location; an OCI registry makes the chart a full
// reference, as charts.New sends it.
func TestTemplateOptions(t *testing.T) {
	for repository, want := range map[string]string{
		"https://charts.example.com/istio": `{"chart":"base","fetch_opts":{"repo":"https://charts.example.com/istio"},"namespace":"istio-system","release_name":"istio-base","values":{"defaultRevision":"1-31-4"},"version":"1.31.4"}`,
		"oci://registry.example.com/istio": `{"chart":"oci://registry.example.com/istio/base","namespace":"istio-system","release_name":"istio-base","values":{"defaultRevision":"1-31-4"},"version":"1.31.4"}`,
	} {
		got, err := templateOptions(Args{
			Chart:       charts.Args{Repository: repository, Chart: "base", Version: "1.31.4", Values: pulumi.Map{"defaultRevision": pulumi.String("1-31-4")}},
			ReleaseName: "istio-base", Namespace: "istio-system",
		})
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal([]byte(got), &g); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: options %s, want %s", repository, got, want)
		}
	}
}

// A CRD whose names another CRD holds is never established: the wait says so instead of timing
// out in silence.
func TestConditionNamesTheReason(t *testing.T) {
	obj := func(conditions ...any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"conditions": conditions}}}
	}
	if ok, _ := condition(obj(map[string]any{"type": "Established", "status": "True"}), "Established"); !ok {
		t.Error("an established CRD reported as not established")
	}
	ok, reason := condition(obj(map[string]any{"type": "NamesAccepted", "status": "False", "message": `"gateways" is already in use`}), "Established")
	if ok || !strings.Contains(reason, "already in use") {
		t.Errorf("names not accepted: %v %q, want the API server's message", ok, reason)
	}
	if ok, reason := condition(obj(), "Established"); ok || reason != "no condition reported yet" {
		t.Errorf("no conditions: %v %q", ok, reason)
	}
}
