// Package object declares custom resources (Istio's, cert-manager's, Managed Prometheus's) whose
// kinds the Kubernetes SDK has no typed struct for, so each component writes only the spec.
package object

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// New declares an object named name with the given spec; namespace "" for a cluster-scoped one.
// The Pulumi resource takes the object's name.
func New(ctx *pulumi.Context, apiVersion, kind, name, namespace string, spec map[string]any, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	meta := &metav1.ObjectMetaArgs{Name: pulumi.String(name)}
	if namespace != "" {
		meta.Namespace = pulumi.String(namespace)
	}
	return NewWithMeta(ctx, apiVersion, kind, name, meta, spec, opts...)
}

// NewWithMeta is New for an object with labels or annotations of its own.
func NewWithMeta(ctx *pulumi.Context, apiVersion, kind, name string, meta *metav1.ObjectMetaArgs, spec map[string]any, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	return apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(apiVersion),
		Kind:        pulumi.String(kind),
		Metadata:    meta,
		OtherFields: kubernetes.UntypedArgs{"spec": spec},
	}, opts...)
}
