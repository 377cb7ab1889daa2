//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI, as a user runs it, runs the binary `make infra-bin` built (Pulumi.yaml's runtime option
// binary, through the pinned language host, hack/pulumi-language-go.sh), and that binary refuses to
// run once the sources it was built from change. What is under test is the project file, the
// Makefile, the host and the source guard, not the program, so a copy of the project's own
// Pulumi.yaml, Makefile, go.mod and the guard's packages builds a small program in ctmd's place:
// the same mechanism, without links of ctmd's 150 MB binary (several CPU-minutes beside the other
// lanes) in each e2e run. The program fails with a message naming its version.
func TestProgramBinaryFollowsItsSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	project, home := filepath.Join(dir, "project"), filepath.Join(dir, "pulumi-home")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	copyFile := func(name string) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(project, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(project, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"go.mod", "go.sum", "Pulumi.yaml", "Makefile", "versions.env",
		"infra/internal/source/source.go", "infra/cmd/source-digest/main.go"} {
		copyFile(name)
	}
	program := func(version string) {
		t.Helper()
		source := `package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/source"
)

func main() {
	if err := source.Check("."); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
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
	run := func(name string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(t.Context(), name, args...)
		cmd.Dir = project
		cmd.Env = append(os.Environ(), "PULUMI_HOME="+home, "PULUMI_BACKEND_URL=file://"+dir,
			"PULUMI_CONFIG_PASSPHRASE=e2e-only", "PULUMI_SKIP_UPDATE_CHECK=true")
		return cmd.CombinedOutput()
	}
	build := func() {
		t.Helper()
		if out, err := run("make", "--no-print-directory", "infra-bin"); err != nil {
			t.Fatalf("make infra-bin: %v\n%s", err, out)
		}
	}
	preview := func(want string) {
		t.Helper()
		out, err := run("pulumi", "preview", "--stack", "program")
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("pulumi preview: err %v, want a failure saying %q\n%s", err, want, out)
		}
	}
	if out, err := run("pulumi", "stack", "init", "program", "--secrets-provider", "passphrase"); err != nil {
		t.Fatalf("pulumi stack init: %v\n%s", err, out)
	}
	binary := filepath.Join(project, "bin", "ctmd-infra")

	program("version 1")
	preview("unable to find '../bin/ctmd-infra' executable")
	build()
	preview("program version 1")
	built, err := os.Stat(binary)
	if err != nil {
		t.Fatalf("no program binary where Pulumi.yaml's binary says: %v", err)
	}
	// Unchanged sources: go build only touches the binary; a new link would be written in the
	// build's work directory and renamed over it, a new file, as TMPDIR and t.TempDir share a
	// file system here.
	build()
	again, err := os.Stat(binary)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(built, again) {
		t.Fatal("make infra-bin linked the unchanged program again")
	}

	// A source changed and nobody built: the old binary must not run.
	program("version 2")
	preview("the program binary is stale")
	build()
	preview("program version 2")
}
