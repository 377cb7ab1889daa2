//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cryptotracker/ctmd/infra/app"
)

// newImage is the release the day-2 tests roll out after the first up.
const newImage = "registry.example.test/ctmd/marketdata:e2e-2@sha256:" + digestB

// TestDayTwo replays a release on a cluster where the autoscaler has acted: the HPA's scale
// subresource owns .spec.replicas, and `pulumi up` must still roll out a new image, keep the
// scaled count, and leave nothing to change afterwards.
func TestDayTwo(t *testing.T) {
	mainCluster.hold(t)
	ctx := t.Context()
	k := newClients(t)
	out := &transcript{}
	s := newExistingStack(t, "e2e-day2", nil)
	t.Cleanup(func() { destroy(t, k, s, out) })

	mustUp(t, s, out)
	// The Deployment declares no replica count: the HPA lifts it to its minimum.
	waitRollout(t, k, "marketdata", image, replicas)

	t.Run("an image update keeps the HPA's replica count", func(t *testing.T) {
		const scaled = 5
		// What `kubectl scale` and the HPA controller do: write the scale subresource.
		scale, err := k.kube.AppsV1().Deployments(namespace).GetScale(ctx, "marketdata", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		scale.Spec.Replicas = scaled
		if _, err := k.kube.AppsV1().Deployments(namespace).UpdateScale(ctx, "marketdata", scale,
			metav1.UpdateOptions{FieldManager: "kubectl"}); err != nil {
			t.Fatal(err)
		}
		waitRollout(t, k, "marketdata", image, scaled)

		if err := s.SetConfig(ctx, "ctmd:image", auto.ConfigValue{Value: newImage}); err != nil {
			t.Fatal(err)
		}
		mustUp(t, s, out)
		waitRollout(t, k, "marketdata", newImage, scaled)
		s.assertNoOp(t, out)
		analyzeMesh(t, "scale and image update", withoutIstio)
	})

	t.Run("rotating the connection string rolls the pods", func(t *testing.T) {
		const rotated = "mongodb+srv://ctmd-e2e:" + rotatedPassword + "@cluster0.e2e.mongodb.net/admin"
		deployments := k.kube.AppsV1().Deployments(namespace)
		before, err := deployments.Get(ctx, "marketdata", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		oldDigest := before.Spec.Template.Annotations[app.ConfigDigestAnnotation]
		oldSets := replicaSetNames(t, k)
		// Pods of the new ReplicaSet must start after this moment, when the Secret is rewritten
		// (the Deployment depends on it, so the engine updates it first). The API server's
		// timestamps have second precision.
		rotatedAt := time.Now().Truncate(time.Second)
		if err := s.SetConfig(ctx, "ctmd:mongoConnectionString", auto.ConfigValue{Value: rotated, Secret: true}); err != nil {
			t.Fatal(err)
		}
		mustUp(t, s, out)

		sec, err := k.kube.CoreV1().Secrets(namespace).Get(ctx, "ctmd-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(sec.Data[app.SecretKey]) != rotated { // never print the values
			t.Fatal("the Secret does not hold the rotated connection string")
		}
		dep := waitRollout(t, k, "marketdata", newImage, *before.Spec.Replicas)
		newDigest := dep.Spec.Template.Annotations[app.ConfigDigestAnnotation]
		if oldDigest == "" || newDigest == "" || newDigest == oldDigest {
			t.Fatalf("pod template digest %q -> %q: want a new, non-empty digest", oldDigest, newDigest)
		}
		pods := currentPods(t, k, dep)
		if _, existed := oldSets[pods.replicaSet]; existed {
			t.Fatalf("the rotation reused ReplicaSet %s: the pods keep the old connection string", pods.replicaSet)
		}
		if len(pods.items) != int(*dep.Spec.Replicas) {
			t.Errorf("%d pods of the new ReplicaSet, want %d", len(pods.items), *dep.Spec.Replicas)
		}
		for _, p := range pods.items {
			if p.CreationTimestamp.Time.Before(rotatedAt) {
				t.Errorf("pod %s started at %s, before the rotation (%s): it read the old Secret", p.Name, p.CreationTimestamp, rotatedAt)
			}
			if p.Annotations[app.ConfigDigestAnnotation] != newDigest {
				t.Errorf("pod %s carries digest %q, want %q", p.Name, p.Annotations[app.ConfigDigestAnnotation], newDigest)
			}
		}
		assertNotInState(t, s, out, map[string]string{
			"old password": password, "new password": rotatedPassword,
			"old connection string (base64)": base64.StdEncoding.EncodeToString([]byte(connection)),
			"new connection string (base64)": base64.StdEncoding.EncodeToString([]byte(rotated)),
			"old digest":                     oldDigest, "new digest": newDigest,
		}, nil)
		s.assertNoOp(t, out)
		analyzeMesh(t, "rotation", withoutIstio)
	})

	t.Run("a domain is added and removed with plain ups", func(t *testing.T) {
		checkDomainAddedAndRemoved(t, k, s, out)
	})
}

// rotatedPassword is the database password after the rotation, as recognisable as password.
const rotatedPassword = "e2eR0tat3dPa55w0rdY7"

// newExistingStack creates a stack for the local cluster: target existing, no Istio installed
// by the stack, so the gateway's identity is configured, plus extra.
func newExistingStack(t *testing.T, name string, extra auto.ConfigMap) *testStack {
	t.Helper()
	return mainCluster.newExistingStack(t, name, extra)
}

// newExistingStack is newExistingStack on this cluster.
func (c *localCluster) newExistingStack(t *testing.T, name string, extra auto.ConfigMap) *testStack {
	t.Helper()
	cfg := auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:installIstio":          {Value: "false"},
		"ctmd:image":                 {Value: image},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
	}
	for k, v := range extra {
		cfg[k] = v
	}
	s := c.newStack(t, name, cfg)
	// A list: set by path, as the engine type-checks it against Pulumi.yaml.
	if err := s.SetConfigWithOptions(t.Context(), "ctmd:ingressPrincipals[0]", auto.ConfigValue{Value: gatewayPrincipal}, &auto.ConfigOptions{Path: true}); err != nil {
		t.Fatal(err)
	}
	return s
}

// destroy removes the stack's objects and waits until its namespace is gone, so that the next
// test can create it again.
func destroy(t *testing.T, k clients, s *testStack, out *transcript) {
	t.Helper()
	if _, err := s.Destroy(context.Background(), optdestroy.ProgressStreams(out), optdestroy.ErrorProgressStreams(out)); err != nil {
		t.Errorf("destroy: %v", err)
	}
	// A cleanup runs after the test's context is cancelled, so eventually cannot be used here.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		_, err := k.kube.CoreV1().Namespaces().Get(context.Background(), namespace, metav1.GetOptions{})
		done, reason := gone(err)
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("namespace %s not deleted after destroy: %s", namespace, reason)
			return
		}
	}
}

// mustUp runs `pulumi up` and fails the test unless it succeeded.
func mustUp(t *testing.T, s *testStack, out *transcript) auto.UpResult {
	t.Helper()
	res, err := s.Up(t.Context(), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	if res.Summary.Result != "succeeded" {
		t.Fatalf("up result %q", res.Summary.Result)
	}
	return res
}

// waitRollout waits until the Deployment runs want replicas, all of them of its current template
// with image, and returns it.
func waitRollout(t *testing.T, k clients, name, image string, want int32) *appsv1.Deployment {
	t.Helper()
	var dep *appsv1.Deployment
	eventually(t, 2*time.Minute, "deployment "+name+" rolled out", func(ctx context.Context) (bool, string) {
		var err error
		dep, err = k.kube.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		st := dep.Status
		got := dep.Spec.Template.Spec.Containers[0].Image
		spec := int32(-1)
		if dep.Spec.Replicas != nil {
			spec = *dep.Spec.Replicas
		}
		return got == image && spec == want && st.ObservedGeneration == dep.Generation &&
				st.UpdatedReplicas == want && st.AvailableReplicas == want && st.Replicas == want,
			fmt.Sprintf("image %s, spec.replicas %d, status %+v (want %s, %d)", got, spec, st, image, want)
	})
	return dep
}

// replicaSetNames lists the names of the ReplicaSets in the namespace.
func replicaSetNames(t *testing.T, k clients) map[string]bool {
	t.Helper()
	list, err := k.kube.AppsV1().ReplicaSets(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, rs := range list.Items {
		names[rs.Name] = true
	}
	return names
}

// podsOf is the ReplicaSet of a Deployment's current revision and its pods.
type podsOf struct {
	replicaSet string
	items      []corev1.Pod
}

// currentPods finds the ReplicaSet of the Deployment's current revision and its pods.
func currentPods(t *testing.T, k clients, dep *appsv1.Deployment) podsOf {
	t.Helper()
	const revision = "deployment.kubernetes.io/revision"
	sets, err := k.kube.AppsV1().ReplicaSets(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range sets.Items {
		owner := metav1.GetControllerOf(&rs)
		if owner == nil || owner.UID != dep.UID || rs.Annotations[revision] != dep.Annotations[revision] {
			continue
		}
		pods, err := k.kube.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{
			LabelSelector: "pod-template-hash=" + rs.Labels["pod-template-hash"],
		})
		if err != nil {
			t.Fatal(err)
		}
		var live []corev1.Pod
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				live = append(live, p)
			}
		}
		return podsOf{replicaSet: rs.Name, items: live}
	}
	t.Fatalf("no ReplicaSet of %s at revision %s", dep.Name, dep.Annotations[revision])
	return podsOf{}
}

// assertNotInState fails if any of leaks (what -> value) appears in plain text in the stack's
// backend files (state, history, backups), in `pulumi stack export`, in the stack's config file,
// in the engine's output, or in extra (where -> text).
func assertNotInState(t *testing.T, s *testStack, out *transcript, leaks, extra map[string]string) {
	t.Helper()
	stackFile, err := os.ReadFile(filepath.Join(s.Workspace().WorkDir(), "Pulumi."+s.name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{
		"pulumi stack export": s.cli(t, "stack", "export"),
		"stack file":          string(stackFile),
		"engine output":       out.String(),
	}
	maps.Copy(texts, extra)
	for path, content := range s.backendFiles(t) {
		texts["backend file "+path] = content
	}
	for where, text := range texts {
		for what, leak := range leaks {
			if strings.Contains(text, leak) {
				t.Errorf("%s contains the %s in plain text", where, what)
			}
		}
	}
}
