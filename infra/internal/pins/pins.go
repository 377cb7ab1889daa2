// Package pins reads versions.env, the one file that pins every tool version, so tests can hold
// other files to it.
package pins

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cryptotracker/ctmd/infra/internal/source"
)

// Version returns KEY's value in versions.env at the root of the module containing the working
// directory (tests run in their package directory).
func Version(key string) (string, error) {
	root, err := source.ModuleRoot(".")
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(filepath.Join(root, "versions.env"))
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("versions.env has no %s", key)
}
