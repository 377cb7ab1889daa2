//go:build e2e

package e2e

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI, as a user runs it, reuses the program's binary while the sources are unchanged and
// builds it again when one changes: Pulumi.yaml's buildTarget, through the pinned language host
// (hack/pulumi-language-go.sh). The program runs on a copy of the project, stopped at its config
// check, so no cluster is involved; a changed source is then a new file whose panic must show.
func TestProgramBinaryFollowsItsSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	project, home := filepath.Join(dir, "project"), filepath.Join(dir, "pulumi-home")
	copyProgram(t, project)
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	installPlugin(t, home)
	pulumi := func(wantFail bool, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "pulumi", args...)
		cmd.Dir = project
		cmd.Env = append(os.Environ(), "PULUMI_HOME="+home, "PULUMI_BACKEND_URL=file://"+dir,
			"PULUMI_CONFIG_PASSPHRASE=e2e-only", "PULUMI_SKIP_UPDATE_CHECK=true")
		out, err := cmd.CombinedOutput()
		if (err != nil) != wantFail {
			t.Fatalf("pulumi %v: err %v, want failure %v\n%s", args, err, wantFail, out)
		}
		return string(out)
	}
	pulumi(false, "stack", "init", "program", "--secrets-provider", "passphrase")
	pulumi(false, "config", "set", "target", "existing")
	const configError = `missing required config "ctmd:image"`
	binary := filepath.Join(project, "bin", "ctmd-infra")

	if out := pulumi(true, "preview"); !strings.Contains(out, configError) {
		t.Fatalf("the program did not run to its config check:\n%s", out)
	}
	built, err := os.Stat(binary)
	if err != nil {
		t.Fatalf("no program binary where Pulumi.yaml's buildTarget says: %v", err)
	}
	if out := pulumi(true, "preview"); !strings.Contains(out, configError) {
		t.Fatalf("second run:\n%s", out)
	}
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

	const marker = "built from the changed source"
	source := "package main\n\nfunc init() { panic(\"" + marker + "\") }\n"
	if err := os.WriteFile(filepath.Join(project, "infra", "zz_changed.go"), []byte(source), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := pulumi(true, "preview"); !strings.Contains(out, marker) {
		t.Fatalf("the changed program did not run: a stale binary did\n%s", out)
	}
}

// copyProgram copies what the language host builds (go.mod, go.sum, Pulumi.yaml and infra/,
// tests left out) into dir.
func copyProgram(t *testing.T, dir string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	copyFile := func(rel string) error {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o700); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), data, 0o600)
	}
	for _, rel := range []string{"go.mod", "go.sum", "Pulumi.yaml"} {
		if err := copyFile(rel); err != nil {
			t.Fatal(err)
		}
	}
	err = filepath.WalkDir(filepath.Join(root, "infra"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		return copyFile(rel)
	})
	if err != nil {
		t.Fatal(err)
	}
}
