package delivery

import (
	"maps"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/charts"
)

// object is one object of the manifest, as decoded from its YAML.
type object map[string]any

func (o object) apiVersion() string { s, _ := o["apiVersion"].(string); return s }
func (o object) kind() string       { s, _ := o["kind"].(string); return s }
func (o object) metadata() map[string]any {
	m, _ := o["metadata"].(map[string]any)
	return m
}
func (o object) name() string      { s, _ := o.metadata()["name"].(string); return s }
func (o object) namespace() string { s, _ := o.metadata()["namespace"].(string); return s }

// clusterScoped are the kinds without a namespace an install manifest may hold; every other kind
// goes in the engine's namespace, which the manifest leaves for kubectl's -n to set.
var clusterScoped = map[string]bool{
	"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"APIService": true, "PriorityClass": true, "StorageClass": true, "IngressClass": true,
	"RuntimeClass": true, "PersistentVolume": true,
}

func (o object) namespaced() bool { return !clusterScoped[o.kind()] }

// firstImage is the image of a workload's first container.
func (o object) firstImage() string {
	spec, _ := o["spec"].(map[string]any)
	template, _ := spec["template"].(map[string]any)
	podSpec, _ := template["spec"].(map[string]any)
	containers, _ := podSpec["containers"].([]any)
	if len(containers) == 0 {
		return ""
	}
	c, _ := containers[0].(map[string]any)
	image, _ := c["image"].(string)
	return image
}

// token is the kubernetes provider's type of the object's kind: the one its typed resource has
// (kubernetes:core/v1:ServiceAccount, kubernetes:apps/v1:Deployment), so the provider treats
// it as it treats that resource, readiness waits included.
func (o object) token() string {
	group, version, found := strings.Cut(o.apiVersion(), "/")
	if !found {
		group, version = "core", group
	}
	return "kubernetes:" + group + "/" + version + ":" + o.kind()
}

// declare registers the object as a resource of its own, named after it, in the engine's
// namespace when its kind has one. Like the charts' objects, it is applied forced
// (charts.PatchForce): an update killed after the API server took the object is finished by the
// next one instead of failing on the fields the first applied.
func (o object) declare(ctx *pulumi.Context, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	props := maps.Clone(o)
	metadata := maps.Clone(o.metadata())
	annotations, _ := metadata["annotations"].(map[string]any)
	annotations = maps.Clone(annotations)
	if annotations == nil {
		annotations = map[string]any{}
	}
	annotations[charts.PatchForce] = "true"
	metadata["annotations"] = annotations
	if o.namespaced() {
		metadata["namespace"] = Namespace
	}
	props["metadata"] = metadata
	var res apiextensions.CustomResource
	if err := ctx.RegisterResource(o.token(), o.name(), kubernetes.UntypedArgs(props), &res, opts...); err != nil {
		return nil, err
	}
	return &res, nil
}
