// Package admission declares the app namespace's image policy: a ValidatingAdmissionPolicy and
// its binding (admissionregistration.k8s.io/v1, GA since Kubernetes 1.30:
// https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/) that
// refuses any pod, or workload template, with a container not pinned by digest to the allowed
// repository. It runs inside the API server, so it holds for kubectl as much as for the stack.
package admission

import (
	"fmt"
	"strconv"
	"strings"

	admissionv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/admissionregistration/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/config"
)

// proxyContainers are the containers Istio's injector adds to a pod (the sidecar, the init
// container that redirects traffic, and the CNI plugin's validation container). Only they may
// run a proxy image, and only one of Args.ProxyImages: the injector takes the image from a pod's
// sidecar.istio.io/proxyImage annotation when set, which would otherwise let any pod choose it.
var proxyContainers = []string{"istio-proxy", "istio-init", "istio-validation"}

// Args says what the namespace may run.
type Args struct {
	// Namespace is the app's namespace, the only one the policy is bound to.
	Namespace string
	// Mode is config.ImageAdmissionDeny or config.ImageAdmissionWarn.
	Mode string
	// Repository admits images <Repository>/<name>@sha256:<digest> (a tag before the digest is
	// only read by people).
	Repository string
	// ProxyImages are the exact images the mesh's injected containers run.
	ProxyImages []string
}

// Policy is the component; Binding is what a pod must wait for to be judged.
type Policy struct {
	pulumi.ResourceState
	Binding *admissionv1.ValidatingAdmissionPolicyBinding
}

// New declares the policy and its binding.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Policy, error) {
	p := &Policy{}
	if err := ctx.RegisterComponentResource("ctmd:admission:Policy", name, p, opts...); err != nil {
		return nil, err
	}
	child := append(opts, pulumi.Parent(p))
	// Cluster-scoped: named after the namespace, so two stacks in one cluster keep their own.
	policyName := args.Namespace + "-pinned-images"
	policy, err := admissionv1.NewValidatingAdmissionPolicy(ctx, policyName, &admissionv1.ValidatingAdmissionPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(policyName)},
		Spec:     spec(args),
	}, child...)
	if err != nil {
		return nil, err
	}
	actions := pulumi.StringArray{pulumi.String("Deny")}
	if args.Mode == config.ImageAdmissionWarn {
		actions = pulumi.StringArray{pulumi.String("Warn"), pulumi.String("Audit")}
	}
	p.Binding, err = admissionv1.NewValidatingAdmissionPolicyBinding(ctx, policyName, &admissionv1.ValidatingAdmissionPolicyBindingArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(policyName)},
		Spec: &admissionv1.ValidatingAdmissionPolicyBindingSpecArgs{
			PolicyName:        policy.Metadata.Name().Elem(),
			ValidationActions: actions,
			MatchResources: &admissionv1.MatchResourcesArgs{
				NamespaceSelector: &metav1.LabelSelectorArgs{
					MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String(args.Namespace)},
				},
			},
		},
	}, child...)
	if err != nil {
		return nil, err
	}
	return p, ctx.RegisterResourceOutputs(p, pulumi.Map{"policy": pulumi.String(policyName), "mode": pulumi.String(args.Mode)})
}

func spec(args Args) *admissionv1.ValidatingAdmissionPolicySpecArgs {
	rule := func(group string, resources ...string) admissionv1.NamedRuleWithOperationsInput {
		return &admissionv1.NamedRuleWithOperationsArgs{
			ApiGroups: pulumi.StringArray{pulumi.String(group)}, ApiVersions: pulumi.StringArray{pulumi.String("v1")},
			Operations: pulumi.StringArray{pulumi.String("CREATE"), pulumi.String("UPDATE")},
			Resources:  pulumi.ToStringArray(resources),
		}
	}
	variables := []struct{ name, expression string }{
		// A pod, or the pod template of a workload that makes pods: refusing the template too
		// answers `kubectl set image` at once instead of with pods that never appear.
		{"spec", `has(object.spec.jobTemplate) ? object.spec.jobTemplate.spec.template.spec : has(object.spec.template) ? object.spec.template.spec : object.spec`},
		{"containers", `(has(variables.spec.containers) ? variables.spec.containers : []) + (has(variables.spec.initContainers) ? variables.spec.initContainers : []) + (has(variables.spec.ephemeralContainers) ? variables.spec.ephemeralContainers : [])`},
		{"refused", fmt.Sprintf(`variables.containers.filter(c, !(c.image.startsWith(%s) && c.image.matches('@sha256:[a-f0-9]{64}$')) && !(c.name in %s && c.image in %s)).map(c, c.name + ' (' + c.image + ')')`,
			strconv.Quote(args.Repository+"/"), list(proxyContainers), list(args.ProxyImages))},
	}
	vars := admissionv1.VariableArray{}
	for _, v := range variables {
		vars = append(vars, &admissionv1.VariableArgs{Name: pulumi.String(v.name), Expression: pulumi.String(v.expression)})
	}
	return &admissionv1.ValidatingAdmissionPolicySpecArgs{
		// Fail: a policy the API server cannot evaluate must not let an image through.
		FailurePolicy: pulumi.String("Fail"),
		MatchConstraints: &admissionv1.MatchResourcesArgs{ResourceRules: admissionv1.NamedRuleWithOperationsArray{
			// Ephemeral containers come through their own subresource (kubectl debug).
			rule("", "pods", "pods/ephemeralcontainers"),
			rule("apps", "deployments", "replicasets", "statefulsets", "daemonsets"),
			rule("batch", "jobs", "cronjobs"),
		}},
		Variables: vars,
		Validations: admissionv1.ValidationArray{&admissionv1.ValidationArgs{
			Expression: pulumi.String("size(variables.refused) == 0"),
			MessageExpression: pulumi.String(fmt.Sprintf(`'refused ' + variables.refused.join(', ') + ': %s runs only images pinned by digest from %s/ (ctmd:imageAdmission; docs/supply-chain.md)'`,
				args.Namespace, args.Repository)),
			Reason: pulumi.String("Forbidden"),
		}},
	}
}

// list is a CEL list of string literals (Go's quoting is valid CEL for image references).
func list(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
