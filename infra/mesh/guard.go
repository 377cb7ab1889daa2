package mesh

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	kmetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/cryptotracker/ctmd/infra/cluster"
)

// RevisionGuard keeps a control plane until no pod of the app runs on its revision any more. An
// up that drops a revision (finishing or rolling back an upgrade) deletes its control plane at its
// end, after every update; a Deployment's update waits for its new pods, but with a rollout engine
// the move of the pods is a release that goes on after the up returns, and a pod whose control
// plane is gone gets no new configuration or certificates, and a pod started for its old template
// (by the autoscaler) no sidecar. So a record lists the revisions kept, and its hook, before the
// record drops one, waits for the pods still on it to go; if they outlast the wait, the up fails
// there, before anything is deleted, and the next up tries again.
type RevisionGuard struct {
	pulumi.ResourceState
}

// GuardArgs says which pods are watched.
type GuardArgs struct {
	Provider *kubernetes.Provider
	// Kubeconfig is what the provider was given, for the hook's client (crds.Args says how).
	Kubeconfig pulumi.StringOutput
	// Revisions are the control planes the stack keeps.
	Revisions []string
	// Namespace holds the pods; Annotation is their template's annotation naming their revision.
	Namespace, Annotation string
	// After are the workloads whose update moves the pods.
	After []pulumi.Resource
}

// guardWait bounds the hook's wait: a Deployment's pods are gone by then, an engine's release at
// ctmd's default steps (3 x 5 min) is not, and the up says so rather than holding the state's lock.
const guardWait = 3 * time.Minute

// RevisionsAnnotation is the record's annotation listing the revisions kept, space-separated:
// an annotation, because the kubernetes provider replaces a ConfigMap whose data changes, and a
// replacement runs no update hook.
const RevisionsAnnotation = "ctmd.cryptotracker.io/istio-revisions"

var podGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// NewRevisionGuard declares the record and its hook.
func NewRevisionGuard(ctx *pulumi.Context, name string, args GuardArgs, opts ...pulumi.ResourceOption) (*RevisionGuard, error) {
	g := &RevisionGuard{}
	if err := ctx.RegisterComponentResource("ctmd:mesh:RevisionGuard", name, g, opts...); err != nil {
		return nil, err
	}
	var kubeconfig struct {
		sync.Mutex
		value string
	}
	// Known when the kubeconfig is, so the hook never runs without it.
	annotations := pulumi.Unsecret(args.Kubeconfig).ApplyT(func(k string) map[string]string {
		kubeconfig.Lock()
		kubeconfig.value = k
		kubeconfig.Unlock()
		return map[string]string{RevisionsAnnotation: strings.Join(args.Revisions, " ")}
	}).(pulumi.StringMapOutput)
	hook, err := ctx.RegisterResourceHook(name+"-revisions-in-use", func(h *pulumi.ResourceHookArgs) error {
		removed := dropped(revisionsIn(h.OldInputs), revisionsIn(h.NewInputs))
		if len(removed) == 0 {
			return nil
		}
		kubeconfig.Lock()
		k := kubeconfig.value
		kubeconfig.Unlock()
		return waitPodsLeave(ctx.Context(), k, args.Namespace, args.Annotation, removed)
	}, nil)
	if err != nil {
		return nil, err
	}
	if _, err := corev1.NewConfigMap(ctx, name+"-revisions", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String("ctmd-istio-revisions"),
			Namespace:   pulumi.String(systemNamespace),
			Labels:      pulumi.StringMap{"app.kubernetes.io/managed-by": pulumi.String("ctmd")},
			Annotations: annotations,
		},
	}, pulumi.Parent(g), pulumi.Provider(args.Provider), pulumi.DependsOn(args.After),
		pulumi.ResourceHooks(&pulumi.ResourceHookBinding{BeforeUpdate: []*pulumi.ResourceHook{hook}})); err != nil {
		return nil, err
	}
	return g, ctx.RegisterResourceOutputs(g, pulumi.Map{})
}

// revisionsIn reads the record's list from its inputs.
func revisionsIn(inputs resource.PropertyMap) []string {
	v := resource.NewObjectProperty(inputs)
	for _, key := range []resource.PropertyKey{"metadata", "annotations", RevisionsAnnotation} {
		if !v.IsObject() {
			return nil
		}
		v = v.ObjectValue()[key]
	}
	if !v.IsString() {
		return nil
	}
	return strings.Fields(v.StringValue())
}

// dropped are the revisions of old that new no longer lists.
func dropped(old, new []string) []string {
	var out []string
	for _, r := range old {
		if !slices.Contains(new, r) {
			out = append(out, r)
		}
	}
	return out
}

// waitPodsLeave waits until no running pod of the namespace names one of revisions, or fails
// after guardWait saying which are left and what to do.
func waitPodsLeave(ctx context.Context, kubeconfig, namespace, annotation string, revisions []string) error {
	client, err := cluster.DynamicClient(kubeconfig)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(guardWait)
	for {
		left, err := podsOn(ctx, client, namespace, annotation, revisions)
		switch {
		case err != nil:
			return fmt.Errorf("listing the pods of %s to see which Istio revision they run on: %w", namespace, err)
		case len(left) == 0:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%d pods of %s still run on Istio revision %s (%s) after %s, so its control plane stays: "+
				"with ctmd:delivery argo-rollouts their move is a release, which the engine may still be stepping through "+
				"(pulumi stack output rolloutStatus); run pulumi up again once it is done (docs/istio.md#upgrading-istio)",
				len(left), namespace, strings.Join(revisions, ", "), strings.Join(left, ", "), guardWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// podsOn names the pods of the namespace, not being deleted, whose template names one of revisions.
func podsOn(ctx context.Context, client dynamic.Interface, namespace, annotation string, revisions []string) ([]string, error) {
	list, err := client.Resource(podGVR).Namespace(namespace).List(ctx, kmetav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range list.Items {
		if p.GetDeletionTimestamp() == nil && slices.Contains(revisions, p.GetAnnotations()[annotation]) {
			names = append(names, p.GetName())
		}
	}
	return names, nil
}
