package ci

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/cryptotracker/ctmd/infra/internal/source"
)

// Every preview and up, the workflows' included, runs the prebuilt program binary that
// `make infra-bin` stamps with its sources' digest (infra/internal/source): Pulumi.yaml names it
// as the runtime's binary, the path stays out of the repository (a 150 MB binary), and each
// workflow builds it after checking out and before the Pulumi step, without a runtime option or
// variable that takes another path (buildTarget or PULUMI_GO_USE_RUN would build on every run).
func TestProgramRunsTheBinaryBuiltFromItsSources(t *testing.T) {
	root := filepath.Join("..", "..")
	proj, err := workspace.LoadProject(filepath.Join(root, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	options := proj.Runtime.Options()
	binary, _ := options["binary"].(string)
	if binary == "" || options["buildTarget"] != nil {
		t.Fatalf("runtime options %v: want binary and no buildTarget", options)
	}
	// The language host looks for the binary from the program's directory.
	path, err := filepath.Rel(root, filepath.Join(root, proj.Main, binary))
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(makefile), "\nINFRA_BIN        := "+filepath.ToSlash(path)+"\n") {
		t.Errorf("Pulumi.yaml runs %s, which the Makefile's INFRA_BIN does not build", path)
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	dir, _, _ := strings.Cut(filepath.ToSlash(path), "/")
	if !slices.Contains(strings.Split(string(ignore), "\n"), "/"+dir+"/") {
		t.Errorf("binary %s is %s, whose directory .gitignore does not list as /%s/", binary, path, dir)
	}
	for _, name := range []string{"preview.yml", "drift.yml"} {
		for jobName, j := range load(t, name).Jobs {
			checkout, _ := stepUsing(t, j, "actions/checkout")
			setupGo, goStep := stepUsing(t, j, "actions/setup-go")
			if goStep.With["cache"] == false {
				t.Errorf("%s %s: setup-go's build cache is off, so each run links the program cold", name, jobName)
			}
			at, pulumi := stepUsing(t, j, "pulumi/actions")
			build := slices.IndexFunc(j.Steps, func(s step) bool { return strings.TrimSpace(s.Run) == source.BuildCommand })
			if build < max(checkout, setupGo) || build > at {
				t.Errorf("%s %s: no `%s` step between checkout and setup-go and the Pulumi step (step %d, Pulumi at %d), so the binary would be missing or stale", name, jobName, source.BuildCommand, build, at)
			}
			if dir, ok := pulumi.With["work-dir"]; ok && dir != "./" && dir != "." {
				t.Errorf("%s %s: pulumi runs in %v, not the project holding Pulumi.yaml", name, jobName, dir)
			}
			for _, env := range []map[string]string{j.Env, pulumi.Env} {
				if _, ok := env["PULUMI_GO_USE_RUN"]; ok {
					t.Errorf("%s %s: PULUMI_GO_USE_RUN makes the host go run the program, linking it every time", name, jobName)
				}
			}
		}
	}
}
