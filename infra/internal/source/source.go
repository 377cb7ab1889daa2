// Package source ties the program's binary to the sources it was built from. Pulumi.yaml runs a
// prebuilt binary (the Go runtime's binary option), which the language host starts however old
// it is; the binary therefore carries a digest of its sources and refuses to run in a checkout
// whose sources differ.
package source

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// BuildCommand builds the binary with its digest; every error names it.
const BuildCommand = "make infra-bin"

// built is the digest of the sources the binary was linked from, set by `make infra-bin` through
// -ldflags -X. Empty in a binary built any other way.
var built string

// programDir holds the program's packages; nothing outside it but go.mod and go.sum reaches its
// binary (a test holds `go list -deps` to that).
const programDir = "infra"

// Files lists, relative to the module root and sorted, the files that decide the program's
// binary: go.mod, go.sum, and every Go file under infra/ except tests (which are not linked) and
// testdata.
func Files(root string) ([]string, error) {
	files := []string{"go.mod", "go.sum"}
	err := filepath.WalkDir(filepath.Join(root, programDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(d.Name(), ".go") || strings.HasSuffix(d.Name(), "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	slices.Sort(files)
	return files, err
}

// Digest is a SHA-256 over Files(root): each path and content, length-prefixed, so moving bytes
// between files or renaming one changes it.
func Digest(root string) (string, error) {
	files, err := Files(root)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil {
			return "", err
		}
		for _, part := range [][]byte{[]byte(name), data} {
			_ = binary.Write(h, binary.BigEndian, uint64(len(part)))
			h.Write(part)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Check returns an error unless this binary was built by BuildCommand from the sources of the
// module that holds dir (the program's directory, where the language host starts it).
func Check(dir string) error {
	return check(built, dir)
}

func check(stamp, dir string) error {
	root, err := ModuleRoot(dir)
	if err != nil {
		return fmt.Errorf("the program binary runs outside its checkout, so its sources cannot be checked: %w", err)
	}
	if stamp == "" {
		return fmt.Errorf("this program binary was not built by `%s`, so nothing says which sources it holds: run `%s` in %s and retry", BuildCommand, BuildCommand, root)
	}
	now, err := Digest(root)
	if err != nil {
		return fmt.Errorf("reading the program's sources to compare with its binary: %w", err)
	}
	if now != stamp {
		return fmt.Errorf("the program binary is stale: it was built from other sources (go.mod, go.sum or a Go file under infra/ changed since; built %s, checkout %s): run `%s` in %s and retry", short(stamp), short(now), BuildCommand, root)
	}
	return nil
}

func short(digest string) string {
	if len(digest) > len("sha256:")+12 {
		return digest[:len("sha256:")+12]
	}
	return digest
}

// ModuleRoot is the nearest directory at or above dir that holds a go.mod.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the directory")
		}
		dir = parent
	}
}
