package ci

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDocker puts a docker on PATH that records its arguments and answers `inspect` with digests
// in two repositories, as a local image pushed to two registries has; no daemon runs here.
func fakeDocker(t *testing.T) (env []string, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	script := `#!/bin/sh
echo "$*" >> "` + calls + `"
if [ "$1" = inspect ]; then
	printf 'mirror.example/marketdata@sha256:%s\n' 1111111111111111111111111111111111111111111111111111111111111111
	printf 'europe-west1-docker.pkg.dev/p/ctmd-cluster/marketdata@sha256:%s\n' 2222222222222222222222222222222222222222222222222222222222222222
fi
`
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH")), calls
}

func push(t *testing.T, image string) (stdout, stderr, calls string, err error) {
	t.Helper()
	env, callsFile := fakeDocker(t)
	cmd := exec.Command("make", "-s", "-C", filepath.Join("..", ".."), "push", "IMAGE="+image)
	cmd.Env = env
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	recorded, _ := os.ReadFile(callsFile)
	return out.String(), errOut.String(), string(recorded), err
}

// make push pushes a version tag and prints it with the digest of that repository, the reference
// ctmd:image takes.
func TestPushPrintsTheDigestReference(t *testing.T) {
	const image = "europe-west1-docker.pkg.dev/p/ctmd-cluster/marketdata:v1.4.0"
	stdout, stderr, calls, err := push(t, image)
	if err != nil {
		t.Fatalf("make push: %v\n%s", err, stderr)
	}
	want := image + "@sha256:" + strings.Repeat("2", 64) + "\n"
	if stdout != want {
		t.Errorf("make push printed %q, want only %q", stdout, want)
	}
	if !strings.HasPrefix(calls, "push "+image+"\n") {
		t.Errorf("docker calls %q, want push %s first", calls, image)
	}
}

// A tag that moves, or that would be pushed from uncommitted work, is refused before docker runs.
func TestPushRefusesMovingTags(t *testing.T) {
	for image, want := range map[string]string{
		"europe-west1-docker.pkg.dev/p/ctmd-cluster/marketdata:latest":        "latest moves with every push",
		"europe-west1-docker.pkg.dev/p/ctmd-cluster/marketdata":               "has no version tag",
		"localhost:5000/marketdata":                                           "has no version tag",
		"europe-west1-docker.pkg.dev/p/ctmd-cluster/marketdata:f0436ce-dirty": "built from uncommitted changes",
	} {
		_, stderr, calls, err := push(t, image)
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("make push IMAGE=%s: %v\n%s\nwant a refusal saying %q", image, err, stderr, want)
		}
		if calls != "" {
			t.Errorf("make push IMAGE=%s ran docker %q before refusing", image, calls)
		}
	}
}
