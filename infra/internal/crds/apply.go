package crds

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/cryptotracker/ctmd/infra/cluster"
)

// FieldManager is the name ctmd's writes of the CRDs carry in their managedFields.
const FieldManager = "ctmd-crds"

// establishTimeout bounds one hook: applying the set and waiting until the API server serves every
// kind, which takes seconds; a CRD whose names collide with another's is never established.
const establishTimeout = 2 * time.Minute

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// apply applies each CRD with server-side apply, forced: the fields another manager holds are
// taken over (a Helm release's, or the kubernetes provider's in a stack that held the CRDs as
// resources), and the chart's value wins, as it did with `helm upgrade`. It then waits until each
// is established, so the resources of its kind that depend on the record can be created, and has
// the API server build its OpenAPI document with them (warmOpenAPI).
func apply(ctx context.Context, kubeconfig string, crds []map[string]any) error {
	if len(crds) == 0 {
		return errors.New("no CustomResourceDefinition was rendered for this update")
	}
	config, err := cluster.HookConfig(kubeconfig)
	if err != nil {
		return err
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("a client for the cluster: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, establishTimeout)
	defer cancel()
	resource := client.Resource(crdGVR)
	for _, crd := range crds {
		obj := (&unstructured.Unstructured{Object: crd}).DeepCopy()
		if _, err := resource.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return fmt.Errorf("applying CustomResourceDefinition %s: %w", obj.GetName(), err)
		}
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, resource, nameOf(crd)); err != nil {
			return err
		}
	}
	warmOpenAPI(ctx, config, crds)
	return nil
}

func waitEstablished(ctx context.Context, resource dynamic.NamespaceableResourceInterface, name string) error {
	for {
		crd, err := resource.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("waiting for CustomResourceDefinition %s to be established: %w", name, err)
		}
		established, reason := condition(crd, "Established")
		if established {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CustomResourceDefinition %s is not established after %s: %s", name, establishTimeout, reason)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// condition reports whether the CRD's condition of that type is True, and else what the API server
// last said of its names (a name taken by another CRD keeps it from being established).
func condition(crd *unstructured.Unstructured, typ string) (bool, string) {
	conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	reason := "no condition reported yet"
	for _, c := range conditions {
		c, _ := c.(map[string]any)
		switch c["type"] {
		case typ:
			if c["status"] == "True" {
				return true, ""
			}
			reason = fmt.Sprintf("%s: %v", typ, c["message"])
		case "NamesAccepted":
			if c["status"] != "True" {
				return false, fmt.Sprintf("NamesAccepted: %v", c["message"])
			}
		}
	}
	return false, reason
}
