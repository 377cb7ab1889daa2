//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	pcorev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	pmetav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// pendingObject is the object TestPendingCreateOfACloudResource creates, in the namespace every
// cluster has.
const pendingObject = "e2e-pending-create"

// TestPendingCreateOfACloudResource is docs/operations.md's recovery for a resource that cannot be
// applied again, as every GCP resource of the stack (the cluster, its node pool, the addresses, the
// DNS record, the service accounts): a second create of it fails with 409 "already exists". Here
// that resource is a ConfigMap created client-side (the default provider without server-side
// apply, whose create fails with AlreadyExists just as Google's APIs do) under a component, as the
// stack's GCP resources are, whose create waits, like the 10-minute cluster create, for the far
// side to finish. The engine and its provider are killed while it waits; the far side finishes on
// its own; the plain `up` then fails as the issue reported; the documented commands (forget the
// unfinished create, import what was created) make the next `up` and a preview find the declared
// state. The pinned CLI's refresh --import-pending-creates does not: it dropped the operation and
// imported nothing (measured), so the docs do not offer it.
func TestPendingCreateOfACloudResource(t *testing.T) {
	opsCluster.hold(t)
	ctx := t.Context()
	k := clientsOf(t, opsCluster)
	out := &transcript{}
	cli := newKillableCLI(t)
	s := opsCluster.newStack(t, "e2e-pending-create", auto.ConfigMap{
		"kubernetes:kubeconfig":            {Value: opsCluster.kubeconfig()},
		"kubernetes:enableServerSideApply": {Value: "false"},
	}, auto.Pulumi(cli))
	s.Workspace().SetProgram(waitingCreate)
	s.Workspace().SetEnvVar("PULUMI_SKIP_CHECKPOINTS", "false")
	t.Cleanup(func() {
		_, _ = s.Destroy(context.Background())                                                                        // best effort: the cluster is thrown away
		_ = k.kube.CoreV1().ConfigMaps("default").Delete(context.Background(), pendingObject, metav1.DeleteOptions{}) // and so is this
	})

	created := func(ctx context.Context) bool {
		_, err := k.kube.CoreV1().ConfigMaps("default").Get(ctx, pendingObject, metav1.GetOptions{})
		return err == nil
	}
	killUp(t, s, cli, out, inCluster(t, oncePending(t, s, whenStarts(apitype.OpCreate, "kubernetes:core/v1:ConfigMap", pendingObject)), created))
	s.cli(t, "cancel", "--yes")
	// The far side finishes the create the dead engine asked for, as GKE does a cluster's, and
	// keeps saying so, as a cloud API reports a resource's state.
	go func() {
		for ctx.Err() == nil {
			_, _ = k.kube.CoreV1().ConfigMaps("default").Patch(ctx, pendingObject, types.MergePatchType,
				[]byte(`{"metadata": {"labels": {"ready": "true"}}}`), metav1.PatchOptions{FieldManager: "the-cloud"}) // until the test ends
			time.Sleep(200 * time.Millisecond)
		}
	}()

	if _, err := s.Up(ctx, optup.ProgressStreams(out), optup.ErrorProgressStreams(out)); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("a plain up after the kill: %v, want it to fail on the object that already exists", err)
	}
	// The URN's last two parts are the type and name, the part before them the parent.
	urn := s.pendingCreate(t)
	parentType, rest, _ := strings.Cut(urn[strings.LastIndex(urn, "::ctmd::")+len("::ctmd::"):], "$")
	typ, name, _ := strings.Cut(rest, "::")
	placeholders := strings.NewReplacer("<type>", typ, "<name>", name, "<id>", "default/"+pendingObject,
		"<parent>", "parent", "<parent-urn>", urn[:strings.LastIndex(urn, "$")]+"::parent")
	for _, prefix := range []string{"pulumi refresh --clear-pending-creates --yes --skip-preview", "pulumi import '<type>'"} {
		args := docCommand(t, "operations.md", prefix)
		for i, a := range args {
			args[i] = placeholders.Replace(a)
		}
		s.cli(t, args...)
	}
	if parentType != "ctmd:e2e:Parent" {
		t.Fatalf("pending create %s, want one under the ctmd:e2e:Parent component", urn)
	}
	mustUp(t, s, out)
	s.assertNoOp(t, out)
	if strings.Contains(s.cli(t, "stack", "export"), `"pending_operations"`) {
		t.Error("the state still records pending operations after the recovery")
	}
}

// waitingCreate declares, under a component, one ConfigMap whose create waits until the far side
// labels it ready; the stack's configuration makes the default provider create it client-side.
func waitingCreate(ctx *pulumi.Context) error {
	parent := &struct{ pulumi.ResourceState }{}
	if err := ctx.RegisterComponentResource("ctmd:e2e:Parent", "parent", parent); err != nil {
		return err
	}
	_, err := pcorev1.NewConfigMap(ctx, pendingObject, &pcorev1.ConfigMapArgs{
		Metadata: &pmetav1.ObjectMetaArgs{
			Name: pulumi.String(pendingObject), Namespace: pulumi.String("default"),
			Annotations: pulumi.StringMap{"pulumi.com/waitFor": pulumi.String("jsonpath={.metadata.labels.ready}=true")},
		},
	}, pulumi.Parent(parent))
	return err
}

// inCluster delays a kill moment until cond holds in the cluster (polled every 10 ms, for at
// most a minute): the kill then lands with the step's effect there and the step unfinished.
func inCluster(t *testing.T, at func(events.EngineEvent) (string, bool), cond func(context.Context) bool) func(events.EngineEvent) (string, bool) {
	return func(ev events.EngineEvent) (string, bool) {
		what, now := at(ev)
		if !now {
			return "", false
		}
		for deadline := time.Now().Add(time.Minute); !cond(t.Context()); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("%s: the cluster did not show the step's effect within a minute", what)
				break
			}
		}
		return what + ", once the cluster showed it", true
	}
}
