//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// newImage is the release the day-2 tests roll out after the first up.
const newImage = "registry.example.test/ctmd/marketdata:e2e-2"

// TestDayTwo replays a release on a cluster where the autoscaler has acted: the HPA's scale
// subresource owns .spec.replicas, and `pulumi up` must still roll out a new image, keep the
// scaled count, and leave nothing to change afterwards.
func TestDayTwo(t *testing.T) {
	ctx := t.Context()
	k := newClients(t)
	out := &transcript{}
	s := newStack(t, "e2e-day2", existingConfig(nil))
	t.Cleanup(func() { _, _ = s.Destroy(context.Background(), optdestroy.ProgressStreams(out)) })

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
		expectNoChanges(t, s, out)
	})
}

// existingConfig is the configuration of a stack on the local cluster: target existing, no Istio
// installed by the stack, plus extra.
func existingConfig(extra auto.ConfigMap) auto.ConfigMap {
	cfg := auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:installIstio":          {Value: "false"},
		"ctmd:image":                 {Value: image},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
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

// expectNoChanges checks that a preview and an up plan nothing, the way
// `pulumi preview --expect-no-changes` does in the drift check.
func expectNoChanges(t *testing.T, s *testStack, out *transcript) {
	t.Helper()
	if _, err := s.Preview(t.Context(), optpreview.ExpectNoChanges(), optpreview.ProgressStreams(out)); err != nil {
		t.Fatalf("preview with expect-no-changes: %v", err)
	}
	res, err := s.Up(t.Context(), optup.ExpectNoChanges(), optup.ProgressStreams(out))
	if err != nil {
		t.Fatalf("up with expect-no-changes: %v", err)
	}
	for op, n := range *res.Summary.ResourceChanges {
		if op != string(apitype.OpSame) && n > 0 {
			t.Errorf("up after no change: %d %s: %v", n, op, *res.Summary.ResourceChanges)
		}
	}
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
