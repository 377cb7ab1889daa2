//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cryptotracker/ctmd/infra/app"
	"github.com/cryptotracker/ctmd/infra/mesh"
)

// TestInterruptedUp kills the engine and its provider (SIGKILL of the pulumi CLI's process group
// and of the plugins it started, which run in groups of their own: a laptop that dies, a CI
// runner's machine that goes away) at the three moments docs/operations.md's "If pulumi up was
// interrupted" covers, checks in the cluster that each kill landed half-way through its step, and
// recovers each time the way the docs say: `pulumi cancel` for the lock the dead engine left, then
// a plain `pulumi up`, after which nothing is left to change. (With Helm releases, such a kill left
// the gateway's release pending-upgrade and every later upgrade refused.)
func TestInterruptedUp(t *testing.T) {
	opsCluster.hold(t)
	ctx := t.Context()
	k := clientsOf(t, opsCluster)
	out := &transcript{}
	cli := newKillableCLI(t)
	s := opsCluster.newStack(t, "e2e-interrupted", auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:installIstio":          {Value: "true"},
		"ctmd:istioChartRepository":  {Value: env.chartRepo},
		"ctmd:image":                 {Value: image},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
	}, auto.Pulumi(cli))
	// A killed engine leaves the state it last wrote: every step's, as for a user.
	s.Workspace().SetEnvVar("PULUMI_SKIP_CHECKPOINTS", "false")
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			destroy(t, k, s, out)
		}
	})
	rev, next := mesh.Revision(env.istioVersion), mesh.Revision(env.istioNextVersion)

	t.Run("killed while the CRDs are applied", func(t *testing.T) {
		// The record's create has begun: its hook applies the CRDs before the record is written.
		// The next up, killed in turn below, must apply them again and write the record.
		killUp(t, s, cli, out, oncePending(t, s, whenStarts(apitype.OpCreate, "kubernetes:core/v1:ConfigMap", crdRecord)))
		if _, err := k.kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod-"+rev, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("istiod's Deployment exists (%v): the engine was killed after the CRDs, not while they were applied", err)
		}
		// The dead engine's lock, as recoverUp removes it; the up below is the recovery.
		s.cli(t, "cancel", "--yes")
	})

	t.Run("killed while the Istio charts install", func(t *testing.T) {
		// istiod's objects are being applied: base's are in, the gateway's not yet.
		killUp(t, s, cli, out, oncePending(t, s, whenStarts(apitype.OpCreate, "kubernetes:apps/v1:Deployment", "istiod-"+rev+":istio-system/istiod-"+rev)))
		if _, err := k.kube.CoreV1().ConfigMaps("istio-system").Get(ctx, crdRecord, metav1.GetOptions{}); err != nil {
			t.Fatalf("the CRDs' record: %v: the engine was killed before the install began", err)
		}
		if _, err := k.kube.AppsV1().Deployments("istio-ingress").Get(ctx, mesh.GatewayRelease, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the gateway's Deployment exists (%v): the engine was killed after the install, not during it", err)
		}
		// A kill can also land while a file backend rewrites the state's metadata file, which
		// is not written atomically; it is made to land there here (seen once for real).
		truncate(t, filepath.Join(s.backend, ".pulumi", "stacks", "ctmd", s.name+".json.attrs"))
		if !recoverUp(t, s, out) {
			t.Error("the recovery did not meet the emptied metadata file")
		}
		waitIstio(t, k, rev, 1)
		checkCRDsRecorded(t, k, s)
		// The killed engine's unfinished creates stay recorded in the state (the engine keeps
		// them for a person to judge) and make every later up warn; once an up has succeeded,
		// clearing them is safe and changes nothing.
		if !strings.Contains(s.cli(t, "stack", "export"), `"pending_operations"`) {
			t.Error("the state records no pending operation of the killed update")
		}
		keepGoSum(t)
		s.cli(t, "refresh", "--clear-pending-creates", "--yes", "--skip-preview")
		if strings.Contains(s.cli(t, "stack", "export"), `"pending_operations"`) {
			t.Error("pulumi refresh --clear-pending-creates left pending operations")
		}
		s.assertNoOp(t, out)
	})

	t.Run("killed while the gateway moves to a new Istio version", func(t *testing.T) {
		if err := s.SetConfig(ctx, "ctmd:istioCanaryVersion", auto.ConfigValue{Value: env.istioNextVersion}); err != nil {
			t.Fatal(err)
		}
		// Killed once the new control plane's Deployment is in the cluster, before the gateway,
		// which waits for that control plane, has moved to it.
		controlPlane := func(ctx context.Context) bool {
			_, err := k.kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod-"+next, metav1.GetOptions{})
			return err == nil
		}
		killUp(t, s, cli, out, inCluster(t, whenStarts(apitype.OpCreate, "kubernetes:apps/v1:Deployment", "istiod-"+next+":istio-system/istiod-"+next), controlPlane))
		gw, err := k.kube.AppsV1().Deployments("istio-ingress").Get(ctx, mesh.GatewayRelease, metav1.GetOptions{})
		if err != nil || gw.Spec.Template.Labels[app.RevisionLabel] != rev {
			t.Fatalf("the gateway after the kill: %v, its pods' revision %q, want still %s: the kill did not land half-way", err, gw.Spec.Template.Labels[app.RevisionLabel], rev)
		}
		recoverUp(t, s, out)
		waitIstio(t, k, next, 2)
	})

	t.Run("killed while the app's Deployment rolls out", func(t *testing.T) {
		if err := s.SetConfig(ctx, "ctmd:image", auto.ConfigValue{Value: newImage}); err != nil {
			t.Fatal(err)
		}
		// Killed once the new version's ReplicaSet exists, as it was then: with the provider dead,
		// nothing waits for the rollout but the next up (the cluster's controllers finish it).
		var atKill *appsv1.ReplicaSet
		newSet := func(ctx context.Context) bool {
			atKill = replicaSetOf(ctx, k, newImage)
			return atKill != nil
		}
		killUp(t, s, cli, out, inCluster(t, whenStarts(apitype.OpUpdate, "kubernetes:apps/v1:Deployment", app.Name), newSet))
		if atKill == nil || (atKill.Spec.Replicas != nil && *atKill.Spec.Replicas >= replicas && atKill.Status.AvailableReplicas >= replicas) {
			t.Fatalf("the new version's ReplicaSet when the engine was killed: %+v, want it there and its rollout not complete", atKill)
		}
		recoverUp(t, s, out)
		waitRollout(t, k, app.Name, newImage, replicas)
	})

	destroy(t, k, s, out)
	destroyed = true
	// What the killed engines may have left: an object one of them created and no later update
	// recorded would stay, and so would the connection string anywhere in the stack's files.
	if left := chartClusterObjects(t, k); len(left) > 0 {
		t.Errorf("after destroy the charts left %v", left)
	}
	assertNotInState(t, s, out, map[string]string{"password": password}, nil)
}

// whenStarts matches the engine's event for the start of one step: op on the resource of type typ
// and name (a chart's objects are named <chart>:<namespace>/<object>).
func whenStarts(op apitype.OpType, typ, name string) func(events.EngineEvent) (string, bool) {
	return func(ev events.EngineEvent) (string, bool) {
		pre := ev.ResourcePreEvent
		if pre == nil || pre.Metadata.Op != op || pre.Metadata.Type != typ || !strings.HasSuffix(pre.Metadata.URN, "::"+name) {
			return "", false
		}
		return fmt.Sprintf("at the start of %s %s", op, pre.Metadata.URN), true
	}
}

// oncePending delays a kill moment until the state on disk records the step as pending. The engine
// announces a step before it writes it into the state (engine.updateActions.OnResourceStepPre), so
// a kill right after the announcement can find nothing recorded: the likely cause of this case's
// one failure in CI, whose log kept no reason (hack/e2e.sh now repeats it).
func oncePending(t *testing.T, s *testStack, at func(events.EngineEvent) (string, bool)) func(events.EngineEvent) (string, bool) {
	return func(ev events.EngineEvent) (string, bool) {
		what, now := at(ev)
		if !now {
			return "", false
		}
		urn := ev.ResourcePreEvent.Metadata.URN
		for deadline := time.Now().Add(time.Minute); !s.pending(t, urn); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("the state did not record %s as pending within a minute", urn)
				break
			}
		}
		return what + ", once the state recorded it as pending", true
	}
}

// pending reports whether the stack's current state on disk lists an unfinished operation on urn.
func (s *testStack) pending(t *testing.T, urn string) bool {
	t.Helper()
	return slices.ContainsFunc(s.pendingOperations(t), func(op apitype.OperationV2) bool {
		return string(op.Resource.URN) == urn
	})
}

// pendingCreate is the URN of the one create the stack's state on disk lists as unfinished.
func (s *testStack) pendingCreate(t *testing.T) string {
	t.Helper()
	var urns []string
	for _, op := range s.pendingOperations(t) {
		if op.Type == apitype.OperationTypeCreating {
			urns = append(urns, string(op.Resource.URN))
		}
	}
	if len(urns) != 1 {
		t.Fatalf("pending creates %v, want one", urns)
	}
	return urns[0]
}

// pendingOperations are the unfinished operations the stack's current state on disk lists.
func (s *testStack) pendingOperations(t *testing.T) []apitype.OperationV2 {
	t.Helper()
	// The file backend replaces the file whole (a temporary file renamed), so a read is never torn.
	b, err := os.ReadFile(filepath.Join(s.backend, ".pulumi", "stacks", "ctmd", s.name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Error(err)
		return nil
	}
	var state apitype.VersionedCheckpoint
	var checkpoint apitype.CheckpointV3
	if err := json.Unmarshal(b, &state); err != nil {
		t.Error(err)
		return nil
	}
	if err := json.Unmarshal(state.Checkpoint, &checkpoint); err != nil {
		t.Error(err)
		return nil
	}
	if checkpoint.Latest == nil {
		return nil
	}
	return checkpoint.Latest.PendingOperations
}

// killUp runs `pulumi up` and SIGKILLs the engine's process group the moment at matches an
// engine event. The update must fail, having been killed.
func killUp(t *testing.T, s *testStack, cli *killableCLI, out *transcript, at func(events.EngineEvent) (string, bool)) {
	t.Helper()
	stream := make(chan events.EngineEvent)
	var moment string
	var killErr error
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for ev := range stream {
			if what, now := at(ev); now && moment == "" {
				moment, killErr = what, cli.kill()
			}
		}
	}()
	_, err := s.Up(t.Context(), optup.EventStreams(stream), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	<-consumed
	switch {
	case moment == "":
		t.Fatalf("up ended before the moment to kill it came: %v", err)
	case killErr != nil:
		t.Fatalf("killing the engine %s: %v", moment, killErr)
	case err == nil:
		t.Fatalf("up succeeded although its engine was killed %s", moment)
	}
	t.Logf("engine killed %s", moment)
}

// recoverUp is docs/operations.md's recovery: with a file backend, an update that fails to load the
// state ("failed to load checkpoint: EOF") met a metadata file the kill left empty, which is
// removed; the dead engine's lock refuses the next update until `pulumi cancel` removes it; then a
// plain `pulumi up` finishes the job and nothing is left to do. It reports whether it had to remove
// an empty metadata file.
func recoverUp(t *testing.T, s *testStack, out *transcript) (emptied bool) {
	t.Helper()
	_, err := s.Up(t.Context(), optup.ProgressStreams(out))
	if err != nil && strings.Contains(err.Error(), "failed to load checkpoint: EOF") {
		emptied = true
		s.removeEmptyMetadata(t)
		_, err = s.Up(t.Context(), optup.ProgressStreams(out))
	}
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("up after the kill: %v, want it refused because the stack is locked", err)
	}
	s.cli(t, "cancel", "--yes")
	mustUp(t, s, out)
	s.assertNoOp(t, out)
	return emptied
}

// removeEmptyMetadata is docs/operations.md's
// `find <backend>/.pulumi -name '*.attrs' -empty -delete`.
func (s *testStack) removeEmptyMetadata(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(s.backend, ".pulumi"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".attrs") {
			return err
		}
		if info, err := d.Info(); err != nil || info.Size() > 0 {
			return err
		}
		return os.Remove(path)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// keepGoSum puts the repository's go.sum back as it is now when the test ends: a refresh starts the
// Go language host on the project, which downloads the module graph and adds checksums to it.
func keepGoSum(t *testing.T) {
	t.Helper()
	path := filepath.Join("..", "..", "go.sum")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(path, before, 0o644); err != nil {
			t.Error(err)
		}
	})
}

// truncate empties a file that must exist.
func truncate(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// waitIstio waits until the control plane of revision rev and the gateway on it run, with the
// stack's default replica minimums, and the gateway's Service has its address; controlPlanes is
// how many istiod Deployments there are.
func waitIstio(t *testing.T, k clients, rev string, controlPlanes int) {
	t.Helper()
	eventually(t, 2*time.Minute, "Istio on revision "+rev, func(ctx context.Context) (bool, string) {
		istiods, err := k.kube.AppsV1().Deployments("istio-system").List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
		if err != nil {
			return false, err.Error()
		}
		if len(istiods.Items) != controlPlanes {
			return false, fmt.Sprintf("%d istiod Deployments, want %d", len(istiods.Items), controlPlanes)
		}
		for _, d := range istiods.Items {
			if d.Status.ReadyReplicas < 2 {
				return false, fmt.Sprintf("%s: %d ready replicas", d.Name, d.Status.ReadyReplicas)
			}
		}
		pods, err := k.kube.CoreV1().Pods("istio-ingress").List(ctx, metav1.ListOptions{LabelSelector: "istio=ingressgateway"})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp == nil && podReady(p) {
				if p.Labels[app.RevisionLabel] != rev {
					return false, fmt.Sprintf("gateway pod %s on revision %q", p.Name, p.Labels[app.RevisionLabel])
				}
				ready++
			}
		}
		svc, err := k.kube.CoreV1().Services("istio-ingress").Get(ctx, mesh.GatewayRelease, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return ready >= 2 && len(svc.Status.LoadBalancer.Ingress) > 0, fmt.Sprintf("%d ready gateway pods, load balancer %+v", ready, svc.Status.LoadBalancer)
	})
}

// killableCLI runs the pulumi CLI for the Automation API as its own command does, in a process
// group of its own, and can SIGKILL that group while a command runs.
type killableCLI struct {
	auto.PulumiCommand
	mu      sync.Mutex
	running *os.Process
	// killed are the processes under the killed engines, with their command lines: the engine
	// starts each plugin in a process group of its own, and the language host starts the program
	// under it, so a kill of the engine's group alone leaves them running (the program's hooks
	// still applying CRDs), which a machine that goes away does not. They are killed by PID, again
	// when the test ends, as long as the PID still runs the same command.
	killed map[int]string
}

func newKillableCLI(t *testing.T) *killableCLI {
	t.Helper()
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{SkipVersionCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &killableCLI{PulumiCommand: cmd, killed: map[int]string{}}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.endKilled()
	})
	return c
}

// Run is the Automation API's command runner with the process group recorded.
func (c *killableCLI) Run(ctx context.Context, workdir string, stdin io.Reader, outs, errs []io.Writer,
	extraEnv []string, args ...string,
) (string, string, int, error) {
	if !slices.Contains(args, "--non-interactive") {
		args = append([]string{"--non-interactive"}, args...)
	}
	cmd := exec.CommandContext(ctx, "pulumi", args...)
	cmd.Dir = workdir
	cmd.Env = append(append(os.Environ(), extraEnv...), "PULUMI_AUTOMATION_API=true")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(append(outs, &stdout)...)
	cmd.Stderr = io.MultiWriter(append(errs, &stderr)...)
	cmd.Stdin = stdin
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", "", -1, err
	}
	c.mu.Lock()
	c.running = cmd.Process
	c.mu.Unlock()
	err := cmd.Wait()
	c.mu.Lock()
	c.running = nil
	c.mu.Unlock()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		code = -1
	}
	return stdout.String(), stderr.String(), code, err
}

// kill SIGKILLs the process group of the running command and every process under it, as when the
// machine under them goes away.
func (c *killableCLI) kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running == nil {
		return errors.New("no pulumi command is running")
	}
	for _, pid := range descendants(c.running.Pid) {
		if cmdline := commandLine(pid); cmdline != "" {
			c.killed[pid] = cmdline
		}
	}
	err := syscall.Kill(-c.running.Pid, syscall.SIGKILL)
	c.endKilled()
	return err
}

// endKilled SIGKILLs the processes the kills found that still run, if their PID still runs the same
// command (PIDs are reused). The caller holds c.mu.
func (c *killableCLI) endKilled() {
	for pid, cmdline := range c.killed {
		if commandLine(pid) == cmdline {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// descendants lists the processes under pid, children first (Linux /proc).
func descendants(pid int) []int {
	var pids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(raw)) {
			if n, err := strconv.Atoi(field); err == nil {
				pids = append(append(pids, n), descendants(n)...)
			}
		}
	}
	return pids
}

// commandLine is a running process's command line, "" once it has ended.
func commandLine(pid int) string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return string(raw)
}

// replicaSetOf is marketdata's ReplicaSet whose pods run image, nil while there is none.
func replicaSetOf(ctx context.Context, k clients, image string) *appsv1.ReplicaSet {
	sets, err := k.kube.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app.Name})
	if err != nil {
		return nil
	}
	for i, rs := range sets.Items {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return &sets.Items[i]
		}
	}
	return nil
}
