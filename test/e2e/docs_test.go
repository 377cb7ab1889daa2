//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docCommand finds the pulumi command a page of docs/ gives in a shell block, starting with prefix,
// and returns its arguments after "pulumi", so that a test runs what a user copies rather than its
// own spelling of it. The command must be plain words, each at most single-quoted whole (as a URN
// must be: it holds $), without substitution.
func docCommand(t *testing.T, page, prefix string) []string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("..", "..", "docs", page))
	if err != nil {
		t.Fatal(err)
	}
	inShell := false
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "```") {
			inShell = line == "```sh"
			continue
		}
		command, _, _ := strings.Cut(line, "#")
		command = strings.TrimSpace(command)
		if !inShell || !strings.HasPrefix(command, prefix) {
			continue
		}
		var args []string
		for _, word := range strings.Fields(command)[1:] {
			if unquoted, ok := strings.CutPrefix(word, "'"); ok && strings.HasSuffix(unquoted, "'") {
				word = strings.TrimSuffix(unquoted, "'")
			} else if strings.ContainsAny(word, `'"$`+"`") {
				t.Fatalf("docs/%s: %q is not plain words", page, command)
			}
			args = append(args, word)
		}
		return args
	}
	t.Fatalf("docs/%s gives no command starting with %q in a shell block", page, prefix)
	return nil
}
