package api_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// The document is checked against what the mux actually does, not against the route table both
// are built from: every documented operation is served, the 405 Allow header of every documented
// path lists exactly the documented methods, and near-miss paths are not served.
func TestOpenAPIListsExactlyTheServedRoutes(t *testing.T) {
	f := newFixture(t, time.Hour)
	r := f.do(t, "GET", "/api/openapi.json")
	if r.Status != 200 {
		t.Fatalf("GET /api/openapi.json = %d", r.Status)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Description string `json:"description"`
		} `json:"info"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(r.Body), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	if d := doc.Info.Description; !strings.Contains(d, "case-insensitively") || !strings.Contains(d, "trailing slash") {
		t.Errorf("the description does not say how paths match: %q", d)
	}
	for _, ref := range regexp.MustCompile(`"#/components/schemas/([A-Za-z]+)"`).FindAllStringSubmatch(r.Body, -1) {
		if doc.Components.Schemas[ref[1]] == nil {
			t.Errorf("dangling $ref to %s", ref[1])
		}
	}
	if len(doc.Paths) == 0 {
		t.Fatal("no paths documented")
	}
	ids := map[string]bool{}
	for path, ops := range doc.Paths {
		concrete := pathParam.ReplaceAllString(path, "BTC")
		var documented []string
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method))
			res := f.do(t, strings.ToUpper(method), concrete)
			if res.Status == 404 || res.Status == 405 {
				t.Errorf("documented %s %s is not served: %d", strings.ToUpper(method), path, res.Status)
			}
			// As the description says: any case, one optional trailing slash, answered in place.
			for _, variant := range []string{strings.ToUpper(concrete), concrete + "/", strings.ToUpper(concrete) + "/"} {
				if v := f.do(t, strings.ToUpper(method), variant); v.Status != res.Status {
					t.Errorf("%s %s = %d, but %s = %d", strings.ToUpper(method), variant, v.Status, concrete, res.Status)
				}
			}
			id, _ := op["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s %s: missing or duplicate operationId %q", method, path, id)
			}
			ids[id] = true
			if op["responses"] == nil {
				t.Errorf("%s %s has no responses", method, path)
			}
		}
		res := f.do(t, "PATCH", concrete)
		if res.Status != 405 {
			t.Errorf("PATCH %s = %d, want 405", path, res.Status)
			continue
		}
		var served []string
		for m := range strings.SplitSeq(res.Header.Get("Allow"), ",") {
			served = append(served, strings.TrimSpace(m))
		}
		slices.Sort(served)
		slices.Sort(documented)
		if !slices.Equal(served, documented) {
			t.Errorf("%s: served methods %v, documented %v", path, served, documented)
		}
	}
	for _, path := range []string{"/", "/api", "/api/v1", "/api/v2/currencies", "/api/v1/currency", "/api/openapi", "/health", "/ready", "/metrics/x", "/api/systeminfo/x", "/api/v1/currencies/BTC/x"} {
		if res := f.do(t, "GET", path); res.Status != 404 {
			t.Errorf("undocumented GET %s = %d, want 404", path, res.Status)
		}
	}
}
