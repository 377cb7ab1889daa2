package stack

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

// readmeTargets are the --target globs of the README's first, targeted up of a gke stack.
func readmeTargets(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(readme)) {
		if strings.HasPrefix(line, "pulumi up --target ") {
			var globs []string
			for _, m := range regexp.MustCompile(`--target '([^']+)'`).FindAllStringSubmatch(line, -1) {
				globs = append(globs, m[1])
			}
			return globs
		}
	}
	t.Fatal("the README has no pulumi up --target line")
	return nil
}

// urnGlob is Pulumi's target glob as a regular expression: ** matches anything, * anything but
// the URN's separators.
func urnGlob(glob string) *regexp.Regexp {
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch {
		case strings.HasPrefix(glob[i:], "**"):
			re.WriteString(".*")
			i++
		case glob[i] == '*':
			re.WriteString("[^:$]*")
		default:
			re.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String())
}

// The engine refuses a targeted up that would create a resource whose dependency (a parent, a
// provider or a dependsOn) is neither targeted nor created yet ("depends on ... which was not
// specified in --target list", pulumi/pulumi#5869). On a fresh gke stack nothing exists, so the
// README's globs must take in everything the targeted resources depend on, transitively: a new
// dependency of the cluster (the Binary Authorization policy did this) must join the README.
func TestREADMETargetsTheClusterWithItsDependencies(t *testing.T) {
	globs := readmeTargets(t)
	s := mustDeploy(t, gkeConfig(nil))
	byRef := map[string]mockstack.Resource{}
	for _, r := range s.Resources {
		byRef[mockstack.Ref(r.Type, r.Name)] = r
	}
	// urn is the resource's URN as the engine writes it: its ancestors' types, then its own.
	urn := func(r mockstack.Resource) string {
		types := []string{r.Type}
		for p, ok := byRef[r.Parent]; ok; p, ok = byRef[p.Parent] {
			if p.Type != "pulumi:pulumi:Stack" {
				types = append([]string{p.Type}, types...)
			}
		}
		return "urn:pulumi:test::ctmd::" + strings.Join(types, "$") + "::" + r.Name
	}
	targeted := func(r mockstack.Resource) bool {
		for _, g := range globs {
			if urnGlob(g).MatchString(urn(r)) {
				return true
			}
		}
		return false
	}
	clusters := 0
	for _, r := range s.Resources {
		if !targeted(r) {
			continue
		}
		if r.Type == "gcp:container/cluster:Cluster" {
			clusters++
		}
		for _, dep := range append([]string{r.Parent, r.Provider}, r.DependsOn...) {
			d, ok := byRef[dep]
			// The stack and default providers are not the program's to target.
			if !ok || d.Type == "pulumi:pulumi:Stack" || strings.HasPrefix(dep, "pulumi:providers:") && strings.Contains(dep, "::default") {
				continue
			}
			if !targeted(d) {
				t.Errorf("the README's targeted up (%v) creates %s, which depends on %s, not targeted", globs, urn(r), urn(d))
			}
		}
	}
	if clusters != 1 {
		t.Errorf("the README's globs %v take in %d clusters, want the stack's one", globs, clusters)
	}
}
