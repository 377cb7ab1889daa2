package source

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// module writes a module like ctmd's: go.mod, go.sum, a program with a test and testdata.
func module(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":                         "module example.test/m\n",
		"go.sum":                         "",
		"README.md":                      "not linked\n",
		"service/main.go":                "package main\n",
		"infra/main.go":                  "package main\n",
		"infra/stack/stack.go":           "package stack\n",
		"infra/stack/stack_test.go":      "package stack\n",
		"infra/stack/testdata/golden.go": "package golden\n",
		"infra/stack/notes.txt":          "not Go\n",
	} {
		write(t, root, name, content)
	}
	return root
}

func write(t *testing.T, root, name, content string) {
	t.Helper()
	path := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func digest(t *testing.T, root string) string {
	t.Helper()
	d, err := Digest(root)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFilesAreWhatTheProgramIsBuiltFrom(t *testing.T) {
	files, err := Files(module(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"go.mod", "go.sum", "infra/main.go", "infra/stack/stack.go"}
	if !slices.Equal(files, want) {
		t.Errorf("Files = %v, want %v", files, want)
	}
}

func TestDigestFollowsTheProgramsSourcesOnly(t *testing.T) {
	root := module(t)
	base := digest(t, root)
	if !strings.HasPrefix(base, "sha256:") || len(base) != len("sha256:")+64 {
		t.Fatalf("digest %q, want sha256:<64 hex>", base)
	}
	for _, name := range []string{"infra/stack/stack_test.go", "infra/stack/testdata/golden.go", "infra/stack/notes.txt", "service/main.go"} {
		write(t, root, name, "package changed\n")
		if d := digest(t, root); d != base {
			t.Errorf("%s changed the digest, but is not linked into the program", name)
		}
	}
	for name, content := range map[string]string{
		"infra/stack/stack.go": "package stack // changed\n",
		"go.sum":               "example.test/dep v1.0.0 h1:x=\n",
		"go.mod":               "module example.test/m\n\ngo 1.26\n",
		"infra/new.go":         "package main\n",
	} {
		root := module(t)
		write(t, root, name, content)
		if digest(t, root) == base {
			t.Errorf("changing %s left the digest as it was", name)
		}
	}
	// Bytes moved from one file to the next: the same concatenation, another program.
	moved := module(t)
	write(t, moved, "infra/main.go", "package main\npackage stack\n")
	write(t, moved, "infra/stack/stack.go", "")
	if digest(t, moved) == base {
		t.Error("moving bytes between files left the digest as it was")
	}
}

func TestCheckRefusesAStaleOrUnstampedBinary(t *testing.T) {
	root := module(t)
	stamp := digest(t, root)
	dir := filepath.Join(root, "infra")
	if err := check(stamp, dir); err != nil {
		t.Fatalf("binary built from these sources: %v", err)
	}
	for name, stamp := range map[string]string{"unstamped": "", "stale": "sha256:" + strings.Repeat("0", 64)} {
		err := check(stamp, dir)
		if err == nil || !strings.Contains(err.Error(), "`"+BuildCommand+"`") {
			t.Errorf("%s binary: %v, want an error naming `%s`", name, err, BuildCommand)
		}
	}
	write(t, root, "infra/stack/stack.go", "package stack // edited after the build\n")
	if err := check(stamp, dir); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Errorf("sources edited after the build: %v, want the binary refused as stale", err)
	}
	if err := check(stamp, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no go.mod") {
		t.Errorf("outside a module: %v, want a refusal saying there is no go.mod", err)
	}
}

// Every package of this module that the program links, and every file it embeds, is under
// infra/ and so in the digest: a dependency outside it (internal/, service/) would change the
// binary without changing the digest, and the guard would pass a stale binary.
func TestDigestCoversEveryPackageTheProgramLinks(t *testing.T) {
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	files, err := Files(root)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-json=Module,Dir,GoFiles,CgoFiles,EmbedFiles", "./infra")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	linked := 0
	for dec.More() {
		var pkg struct {
			Module *struct {
				Main bool
			}
			Dir                           string
			GoFiles, CgoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&pkg); err != nil {
			t.Fatal(err)
		}
		if pkg.Module == nil || !pkg.Module.Main {
			continue
		}
		for _, f := range slices.Concat(pkg.GoFiles, pkg.CgoFiles, pkg.EmbedFiles) {
			rel, err := filepath.Rel(root, filepath.Join(pkg.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			linked++
			if !slices.Contains(files, filepath.ToSlash(rel)) {
				t.Errorf("the program is built from %s, which the source digest leaves out", rel)
			}
		}
	}
	if linked == 0 {
		t.Fatal("go list named no file of this module in the program")
	}
}
