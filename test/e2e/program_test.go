//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI, as a user runs it, reuses the program's binary while the sources are unchanged and
// builds it again when one changes: Pulumi.yaml's runtime options, through the pinned language host
// (hack/pulumi-language-go.sh). What is under test is the project file, the host and the go
// command, not the program, so the project's own Pulumi.yaml and go.mod build a small program in
// its place: the same mechanism, without two links of ctmd's 150 MB binary (several CPU-minutes
// beside the other lanes, measured) for each e2e run. The program fails with a message naming its
// version, which a changed source must change.
func TestProgramBinaryFollowsItsSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	project, home := filepath.Join(dir, "project"), filepath.Join(dir, "pulumi-home")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(project, "infra"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go.mod", "go.sum", "Pulumi.yaml"} {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(project, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	program := func(version string) {
		t.Helper()
		source := `package main

import (
	"errors"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	pulumi.Run(func(*pulumi.Context) error { return errors.New("program ` + version + `") })
}
`
		if err := os.WriteFile(filepath.Join(project, "infra", "main.go"), []byte(source), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	installPlugin(t, home)
	pulumi := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(t.Context(), "pulumi", args...)
		cmd.Dir = project
		cmd.Env = append(os.Environ(), "PULUMI_HOME="+home, "PULUMI_BACKEND_URL=file://"+dir,
			"PULUMI_CONFIG_PASSPHRASE=e2e-only", "PULUMI_SKIP_UPDATE_CHECK=true")
		return cmd.CombinedOutput()
	}
	preview := func(want string) {
		t.Helper()
		out, err := pulumi("preview", "--stack", "program")
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("pulumi preview: err %v, want a failure saying %q\n%s", err, want, out)
		}
	}
	if out, err := pulumi("stack", "init", "program", "--secrets-provider", "passphrase"); err != nil {
		t.Fatalf("pulumi stack init: %v\n%s", err, out)
	}
	binary := filepath.Join(project, "bin", "ctmd-infra")

	program("version 1")
	preview("program version 1")
	built, err := os.Stat(binary)
	if err != nil {
		t.Fatalf("no program binary where Pulumi.yaml's buildTarget says: %v", err)
	}
	preview("program version 1")
	// An up-to-date binary is only touched (go build updates its time); a new link is written in
	// the build's work directory and renamed over it, a new file, when that directory is on the
	// same file system, as TMPDIR and t.TempDir are here.
	again, err := os.Stat(binary)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(built, again) {
		t.Fatal("the unchanged program was linked again")
	}

	program("version 2")
	preview("program version 2")
}
