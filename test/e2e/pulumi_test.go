//go:build e2e

package e2e

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/cryptotracker/ctmd/infra/stack"
	"github.com/cryptotracker/ctmd/internal/testlog"
)

// newStack creates a stack of the ctmd project in a temporary directory: a file:// backend, its own
// PULUMI_HOME holding only the kubernetes plugin built by hack/tools.sh, and the repository's real
// Pulumi.yaml, so the engine applies and type-checks the project's declared config defaults.
//
// The program runs inline (auto.UpsertStackInlineSource calling stack.Deploy, the same function
// infra/main.go hands to pulumi.Run): it is compiled into the test binary with the ordinary build
// cache instead of by a language host in a cache of its own (minutes cold), and no host binary has
// to be found by the CLI.
func newStack(t *testing.T, name string, cfg auto.ConfigMap, opts ...auto.LocalWorkspaceOption) *testStack {
	t.Helper()
	dir := t.TempDir()
	home, work, backend := filepath.Join(dir, "pulumi-home"), filepath.Join(dir, "project"), filepath.Join(dir, "state")
	for _, d := range []string{home, work, backend} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	project, err := os.ReadFile(filepath.Join(root, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "Pulumi.yaml"), project, 0o600); err != nil {
		t.Fatal(err)
	}
	// The engine checks that the project's main directory exists even for an inline program.
	if err := os.Symlink(filepath.Join(root, "infra"), filepath.Join(work, "infra")); err != nil {
		t.Fatal(err)
	}
	installPlugin(t, home)
	cfg = withImagePolicy(cfg)
	// Without Istio installed by the stack, the cluster must already serve Istio's kinds, as a
	// cluster with its own Istio does.
	if cfg["ctmd:installIstio"].Value == "false" {
		ensureIstioCRDs(t)
	}
	if cfg["ctmd:managedPrometheus"].Value == "true" {
		ensureManagedPrometheus(t)
	}

	s, err := auto.UpsertStackInlineSource(t.Context(), name, "ctmd", stack.Deploy, append([]auto.LocalWorkspaceOption{
		auto.WorkDir(work),
		auto.PulumiHome(home),
		auto.SecretsProvider("passphrase"),
		auto.EnvVars(map[string]string{
			"PULUMI_BACKEND_URL": "file://" + backend,
			// The engine writes the whole state after every step; with Istio's charts that is
			// 60-odd objects and 8.6 MB (the CRDs), most of the suite's CPU. Only the final state
			// is written here; TestInterruptedUp, which depends on the state an engine leaves when
			// killed, turns the intermediate writes back on.
			"PULUMI_SKIP_CHECKPOINTS": "true",
		}),
	}, opts...)...)
	if err != nil {
		t.Fatalf("create stack %s: %v", name, err)
	}
	if err := s.SetAllConfig(t.Context(), cfg); err != nil {
		t.Fatalf("set config: %v", err)
	}
	setProxyImages(t, s, cfg)
	return &testStack{Stack: s, name: name, home: home, backend: backend}
}

// testStack is a stack plus where its CLI settings and its file:// backend live.
type testStack struct {
	auto.Stack
	name, home, backend string
}

// cli runs the pulumi CLI on this stack the way a user would, for what the Automation API does
// differently (its Export always decrypts secrets).
func (s *testStack) cli(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "pulumi", append(args, "--stack", s.name)...)
	cmd.Dir = s.Workspace().WorkDir()
	cmd.Env = append(os.Environ(), "PULUMI_HOME="+s.home, "PULUMI_BACKEND_URL=file://"+s.backend)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pulumi %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// assertNoOp: a preview that expects no changes passes, and an up changes nothing (reading a
// resource back, such as the ingress gateway's Service, is not a change).
func (s *testStack) assertNoOp(t *testing.T, out io.Writer) {
	t.Helper()
	if _, err := s.Preview(t.Context(), optpreview.ExpectNoChanges(), optpreview.ProgressStreams(out)); err != nil {
		t.Fatalf("preview with expect-no-changes: %v", err)
	}
	again, err := s.Up(t.Context(), optup.ExpectNoChanges(), optup.ProgressStreams(out))
	if err != nil {
		t.Fatalf("up with expect-no-changes: %v", err)
	}
	for op, n := range *again.Summary.ResourceChanges {
		if op != string(apitype.OpSame) && op != string(apitype.OpRead) && n > 0 {
			t.Errorf("up: %d %s, want only same and read: %v", n, op, *again.Summary.ResourceChanges)
		}
	}
}

// backendFiles returns the contents of every file of the stack's backend: current state, history
// and backups alike.
func (s *testStack) backendFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(s.backend, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// installPlugin puts the locally built kubernetes provider into PULUMI_HOME, the only way the
// engine gets a plugin offline.
func installPlugin(t *testing.T, home string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "pulumi", "plugin", "install", "resource", "kubernetes",
		"v"+env.pluginVersion, "--file", env.plugin)
	cmd.Env = append(os.Environ(), "PULUMI_HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pulumi plugin install: %v\n%s", err, out)
	}
}

// transcript collects everything the engine prints during a test (and streams it to stdout, so a
// CI log shows progress), to prove afterwards that no secret was printed.
type transcript struct{ testlog.Buffer }

func (tr *transcript) Write(p []byte) (int, error) {
	_, _ = tr.Buffer.Write(p) // a bytes.Buffer write cannot fail
	return os.Stdout.Write(p)
}
