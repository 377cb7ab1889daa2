package slorules

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

// scenarios are the rule files infra/stack TestRenderAlertRules renders.
var scenarios = []string{"default", "canary", "https", "delivery"}

// exercised collects, across the package's tests, the rules of the program's own files (never a
// broken copy) that did something: an alert that fired, a recording rule that wrote a sample.
var exercised = &ruleSet{seen: map[string]bool{}}

type ruleSet struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (s *ruleSet) add(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[name] = true
}

// isProgramFile tells the program's rule files from the copies the tests break.
func isProgramFile(file []byte) bool {
	dir := os.Getenv(renderDirEnv)
	for _, name := range scenarios {
		if b, err := os.ReadFile(filepath.Join(dir, name+".yaml")); err == nil && bytes.Equal(b, file) {
			return true
		}
	}
	return false
}

// TestMain runs the scenarios, then fails if some rule of the program's files was never
// exercised: a rule no scenario makes fire (or record) is a rule nothing here proves. Skipped when
// -run picks a subset.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		if missing := unexercised(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: rules of the program's files that no scenario exercised (an alert that fired, a recording rule that wrote a sample):\n  %v\n", missing)
			code = 1
		}
	}
	os.Exit(code)
}

func unexercised() []string {
	var missing []string
	for _, name := range scenarios {
		b, err := os.ReadFile(filepath.Join(os.Getenv(renderDirEnv), name+".yaml"))
		if err != nil {
			return []string{err.Error()}
		}
		var f struct {
			Groups []struct {
				Rules []struct {
					Alert, Record string
					Labels        map[string]string
				}
			}
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			return []string{err.Error()}
		}
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				key := r.Alert
				if r.Record != "" {
					key = r.Record + `{slo="` + r.Labels["slo"] + `"}`
				}
				if !exercised.seen[key] && !slices.Contains(missing, key) {
					missing = append(missing, key)
				}
			}
		}
	}
	return missing
}

// The coverage check itself must see a rule nothing exercised.
func TestUnexercisedRulesAreListed(t *testing.T) {
	saved := exercised
	t.Cleanup(func() { exercised = saved })
	exercised = &ruleSet{seen: map[string]bool{}}
	if missing := unexercised(); len(missing) == 0 {
		t.Fatal("with nothing exercised, no rule is listed as missing")
	}
}
