//go:build e2e

package e2e

import (
	"context"
	"maps"
	"os/exec"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// allowedRepository is the e2e stacks' ctmd:allowedImageRepository.
	allowedRepository = "registry.example.test/ctmd"
	digestA           = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB           = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	digestC           = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	digestD           = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	// clusterProxyImage is the proxy of the Istio a cluster runs on its own (ctmd:proxyImages).
	clusterProxyImage = "docker.io/istio/proxyv2:1.30.2"
	policyName        = "ctmd-pinned-images"
)

// withImagePolicy completes an e2e stack's config for the default admission policy, as a user
// must: the allowed repository (and setProxyImages the proxy image of a cluster whose Istio is not
// the stack's).
func withImagePolicy(cfg auto.ConfigMap) auto.ConfigMap {
	out := maps.Clone(cfg)
	if _, ok := out["ctmd:allowedImageRepository"]; !ok && out["ctmd:imageAdmission"].Value != "off" {
		out["ctmd:allowedImageRepository"] = auto.ConfigValue{Value: allowedRepository}
	}
	return out
}

// setProxyImages sets ctmd:proxyImages, a list (so by path), where the policy needs it.
func setProxyImages(t *testing.T, s auto.Stack, cfg auto.ConfigMap) {
	t.Helper()
	if cfg["ctmd:installIstio"].Value != "false" || cfg["ctmd:imageAdmission"].Value == "off" {
		return
	}
	if err := s.SetConfigWithOptions(t.Context(), "ctmd:proxyImages[0]", auto.ConfigValue{Value: clusterProxyImage}, &auto.ConfigOptions{Path: true}); err != nil {
		t.Fatal(err)
	}
}

// kubectlIn runs kubectl on the cluster of k in the app's namespace and returns its combined
// output and whether it succeeded.
func kubectlIn(t *testing.T, k clients, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "kubectl", append([]string{"--kubeconfig", k.kubeconfig, "-n", namespace}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// injectedPod is a pod as Istio's injector leaves it (the local cluster runs no injector): the
// app's container and the proxy's, whose images the test chooses, applied with a server-side dry
// run, which passes admission and stores nothing.
func injectedPod(t *testing.T, k clients, appImage, proxyImage string) (string, bool) {
	t.Helper()
	manifest := `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "injected", "namespace": "` + namespace + `"},
		"spec": {"containers": [{"name": "marketdata", "image": "` + appImage + `"}],
		"initContainers": [{"name": "istio-proxy", "image": "` + proxyImage + `", "restartPolicy": "Always"}]}}`
	cmd := exec.CommandContext(t.Context(), "kubectl", "--kubeconfig", k.kubeconfig, "apply", "--dry-run=server", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// refused asserts that a kubectl call failed with the policy's message naming the image.
func refused(t *testing.T, what, out string, ok bool, image string) {
	t.Helper()
	if ok || !strings.Contains(out, policyName) || !strings.Contains(out, image) || !strings.Contains(out, "pinned by digest from "+allowedRepository+"/") {
		t.Errorf("%s: succeeded %v, want a refusal by %s naming %s and the rule:\n%s", what, ok, policyName, image, out)
	}
}

// TestImageAdmission: in the app's namespace only images pinned by digest to the allowed
// repository run, and Istio's proxy only in its own containers and at the configured image; the
// stack's own pods are admitted; the policy goes and comes back with plain ups.
func TestImageAdmission(t *testing.T) {
	mainCluster.hold(t)
	ctx := t.Context()
	k := newClients(t)
	out := &transcript{}
	s := newStack(t, "e2e-admission", auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:installIstio":          {Value: "false"},
		"ctmd:image":                 {Value: image},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
	})
	if err := s.SetConfigWithOptions(ctx, "ctmd:ingressPrincipals[0]", auto.ConfigValue{Value: gatewayPrincipal}, &auto.ConfigOptions{Path: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.Destroy(context.Background(), optdestroy.ProgressStreams(out)) })
	mustUp(t, s, out)
	waitRollout(t, k, "marketdata", image, replicas)
	tagged := allowedRepository + "/marketdata:e2e-unpinned"

	t.Run("refused: a tagged image, a foreign one, a hand-patched Deployment, a debug container", func(t *testing.T) {
		o, ok := kubectlIn(t, k, "run", "tagged", "--image", tagged, "--restart=Never")
		refused(t, "kubectl run of a tagged image", o, ok, tagged)
		foreign := "registry.other.test/marketdata@sha256:" + digestB
		o, ok = kubectlIn(t, k, "run", "foreign", "--image", foreign, "--restart=Never")
		refused(t, "kubectl run of another repository's image", o, ok, foreign)
		o, ok = kubectlIn(t, k, "set", "image", "deployment/marketdata", "marketdata="+tagged)
		refused(t, "kubectl set image on the Deployment", o, ok, tagged)
		pods, err := k.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=marketdata"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("marketdata pods: %v (%d)", err, len(pods.Items))
		}
		debug := "busybox:1.36"
		o, ok = kubectlIn(t, k, "debug", pods.Items[0].Name, "--image", debug, "--target", "marketdata")
		refused(t, "kubectl debug's ephemeral container", o, ok, debug)
	})

	t.Run("Istio's proxy: admitted at the configured image, in its own container only", func(t *testing.T) {
		if o, ok := injectedPod(t, k, image, clusterProxyImage); !ok {
			t.Errorf("an injected pod with the configured proxy was refused:\n%s", o)
		}
		// sidecar.istio.io/proxyImage lets a pod choose the injected image: not another one.
		evil := "registry.other.test/proxyv2:1.30.2"
		o, ok := injectedPod(t, k, image, evil)
		refused(t, "a proxy image other than the configured one", o, ok, evil)
		// The proxy's image under the app's name is not the proxy.
		o, ok = kubectlIn(t, k, "run", "proxy-as-app", "--image", clusterProxyImage, "--restart=Never", "--dry-run=server")
		refused(t, "the proxy image in another container", o, ok, clusterProxyImage)
	})

	t.Run("off, then deny again: plain ups, and a no-op after", func(t *testing.T) {
		set := func(mode string) {
			t.Helper()
			if err := s.SetConfig(ctx, "ctmd:imageAdmission", auto.ConfigValue{Value: mode}); err != nil {
				t.Fatal(err)
			}
			mustUp(t, s, out)
		}
		set("off")
		if _, err := k.kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, policyName, metav1.GetOptions{}); err == nil {
			t.Error("imageAdmission off left the binding in place")
		}
		if o, ok := kubectlIn(t, k, "run", "tagged", "--image", tagged, "--restart=Never", "--dry-run=server"); !ok {
			t.Errorf("imageAdmission off still refuses a tagged image:\n%s", o)
		}
		set("deny")
		o, ok := kubectlIn(t, k, "run", "tagged", "--image", tagged, "--restart=Never", "--dry-run=server")
		refused(t, "kubectl run after the policy came back", o, ok, tagged)
		waitRollout(t, k, "marketdata", image, replicas)
		s.assertNoOp(t, out)
	})
}
