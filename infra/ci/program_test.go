package ci

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

// Every preview and up, the workflows' included, reuses the program's binary while its sources are
// unchanged: the Go language host builds into buildTarget, where `go build` skips an up-to-date
// link. The path stays out of the repository (a 150 MB binary), and no option or variable of a
// workflow takes another path (`binary` would run whatever file is there, however old;
// PULUMI_GO_USE_RUN would link on every run again).
func TestProgramIsBuiltOnceIntoAnIgnoredPath(t *testing.T) {
	root := filepath.Join("..", "..")
	proj, err := workspace.LoadProject(filepath.Join(root, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	options := proj.Runtime.Options()
	target, _ := options["buildTarget"].(string)
	if target == "" || options["binary"] != nil {
		t.Fatalf("runtime options %v: want buildTarget and no binary", options)
	}
	// The language host runs `go build -o buildTarget` in the program's directory.
	built, err := filepath.Rel(root, filepath.Join(root, proj.Main, target))
	if err != nil {
		t.Fatal(err)
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	dir, _, _ := strings.Cut(filepath.ToSlash(built), "/")
	if !slices.Contains(strings.Split(string(ignore), "\n"), "/"+dir+"/") {
		t.Errorf("buildTarget %s builds %s, whose directory .gitignore does not list as /%s/", target, built, dir)
	}
	for _, name := range []string{"preview.yml", "drift.yml"} {
		for jobName, j := range load(t, name).Jobs {
			_, setupGo := stepUsing(t, j, "actions/setup-go")
			if setupGo.With["cache"] == false {
				t.Errorf("%s %s: setup-go's build cache is off, so each run links the program cold", name, jobName)
			}
			_, pulumi := stepUsing(t, j, "pulumi/actions")
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
