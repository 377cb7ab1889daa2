// Package crds installs the CustomResourceDefinitions of a Helm chart, or of an install manifest
// already decoded into objects, without holding each in the stack's state. The kubernetes provider
// stores an object three times (inputs, the same inputs in the outputs, the live object), and a
// CRD carries up to 180 KB of schema: Istio's 15 were 7 of the 8.6 MB of an exported state and 3 s
// of every preview (docs/performance.md).
//
// The stack holds one small record object instead, a ConfigMap that names the chart (or the
// manifest) and a digest of each CRD it holds, so a preview still names every CRD that changes. A
// resource hook of that record (https://www.pulumi.com/docs/iac/concepts/options/hooks/) applies
// the CRDs with server-side apply before the record is created or updated, and waits until the API
// server serves them. A killed `pulumi up` is finished by the next one: the record is written only
// after the CRDs are applied, so an update killed before that finds the record's change again, and
// applying a CRD again is harmless.
//
// The CRDs are kept when the record is deleted, as Helm keeps them (Istio marks its CRDs
// helm.sh/resource-policy: keep): deleting a CRD deletes every object of its kind.
package crds

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/charts"
)

// Args is one chart, or one manifest, whose CRDs are installed.
type Args struct {
	Provider *kubernetes.Provider
	// Kubeconfig is what the provider was given, for the hook's own client: the contents, or ""
	// for the ambient kubeconfig ($KUBECONFIG or ~/.kube/config). The chart is rendered only once
	// it is known, which is when the provider can run: on a first preview of a cluster the stack
	// creates, the record's digests are then "known after apply". A manifest's record waits for
	// it the same way.
	Kubeconfig pulumi.StringOutput
	// Chart is rendered as Helm would under the release name ReleaseName, in Namespace, which is
	// also where the record goes. Its values must be plain (no outputs): the program sends them
	// to the provider as JSON. Ignored when Manifest is set.
	Chart       charts.Args
	ReleaseName string
	Namespace   string
	// Manifest, when set, is where the CRDs come from instead of a chart; ReleaseName then only
	// names the record.
	Manifest *Manifest
	// Record depends on these (the record's namespace).
	After []pulumi.Resource
}

// Manifest is an install manifest the program has already read and decoded (kubectl apply's
// input, as a release publishes it).
type Manifest struct {
	// Source is what the record's ChartKey entry says, the manifest's name and version, such as
	// "argo-rollouts v1.10.2".
	Source string
	// Objects are the manifest's objects; only the CRDs among them are used.
	Objects []map[string]any
}

// label is the record's ChartKey entry: the chart and its version, or the manifest's source.
func (a Args) label() string {
	if a.Manifest != nil {
		return a.Manifest.Source
	}
	return a.Chart.Chart + " " + a.Chart.Version
}

// Set is the component of one chart's CRDs.
type Set struct {
	pulumi.ResourceState
	// Record is what depends on the CRDs waits for: once it is created or updated, its hook has
	// applied them. (A dependency on the component alone may be registered before the record is
	// among its children, and then does not wait for it.)
	Record pulumi.Resource
	// Names are the CRDs the chart renders, sorted, known once Record is written.
	Names pulumi.StringArrayOutput
}

// RecordSuffix ends the name of the record ConfigMap: <release name>-crds.
const RecordSuffix = "-crds"

// ChartKey is the record's entry naming the chart and version its CRDs come from (a manifest's
// source for a manifest).
const ChartKey = "chart"

// New renders the chart (or takes the manifest's objects), records its CRDs and applies them
// from the record's hook.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Set, error) {
	s := &Set{}
	if err := ctx.RegisterComponentResource("ctmd:crds:Set", name, s, opts...); err != nil {
		return nil, err
	}
	// The hook's client takes the kubeconfig the provider takes, kept in memory, never in a
	// resource's inputs. The record is not secret: the kubeconfig only gates it.
	var applied crdSet
	data := pulumi.Unsecret(pulumi.All(objectsOf(ctx, args), args.Kubeconfig).ApplyT(func(v []any) (map[string]string, error) {
		crds, err := selectCRDs(v[0].([]any), args.describe())
		if err != nil {
			return nil, err
		}
		applied.set(v[1].(string), crds)
		return recordOf(args.label(), crds)
	})).(pulumi.StringMapOutput)
	hook, err := ctx.RegisterResourceHook(name+"-apply-crds", func(*pulumi.ResourceHookArgs) error {
		kubeconfig, crds := applied.get()
		return apply(ctx.Context(), kubeconfig, crds)
	}, nil)
	if err != nil {
		return nil, err
	}

	record, err := corev1.NewConfigMap(ctx, name+RecordSuffix, &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(args.ReleaseName + RecordSuffix),
			Namespace: pulumi.String(args.Namespace),
			Labels:    pulumi.StringMap{"app.kubernetes.io/managed-by": pulumi.String("ctmd")},
		},
		Data: data,
	}, pulumi.Parent(s), pulumi.Provider(args.Provider), pulumi.DependsOn(args.After),
		pulumi.ResourceHooks(&pulumi.ResourceHookBinding{
			BeforeCreate: []*pulumi.ResourceHook{hook},
			BeforeUpdate: []*pulumi.ResourceHook{hook},
		}))
	if err != nil {
		return nil, err
	}
	s.Record = record
	s.Names = record.Data.ApplyT(namesOf).(pulumi.StringArrayOutput)
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"names": s.Names}); err != nil {
		return nil, err
	}
	return s, nil
}

// TemplateToken is the kubernetes provider's function that renders a chart as `helm template` does
// and returns its objects (what the SDK's helm.v3.Chart calls; the SDK package itself would add
// every Kubernetes kind to the program's build, infra/mesh relinquish says what that costs).
const TemplateToken = "kubernetes:helm:template"

// objectsOf are the objects the CRDs are taken from: the manifest's, or the chart's as the provider
// renders them.
func objectsOf(ctx *pulumi.Context, args Args) pulumi.ArrayOutput {
	if args.Manifest == nil {
		return render(ctx, args)
	}
	objects := make([]any, 0, len(args.Manifest.Objects))
	for _, o := range args.Manifest.Objects {
		objects = append(objects, o)
	}
	// Known when the kubeconfig is, as a render is: the record and the hook wait for the same.
	return pulumi.Unsecret(args.Kubeconfig).ApplyT(func(string) []any { return objects }).(pulumi.ArrayOutput)
}

// describe names where the CRDs come from, for errors.
func (a Args) describe() string {
	if a.Manifest != nil {
		return "manifest " + a.Manifest.Source + " holds"
	}
	return "chart " + a.Chart.Chart + " renders"
}

// render asks the provider to render the chart. The request is sent without the kubeconfig's secret
// flag, which would otherwise mark the rendered objects, so the record, secret and hide its digests
// from a preview; the kubeconfig itself is not sent.
func render(ctx *pulumi.Context, args Args) pulumi.ArrayOutput {
	jsonOpts := pulumi.Unsecret(args.Kubeconfig).ApplyT(func(string) (string, error) {
		return templateOptions(args)
	}).(pulumi.StringOutput)
	result := ctx.InvokeOutput(TemplateToken, pulumi.Map{"jsonOpts": jsonOpts}, pulumi.MapOutput{},
		pulumi.InvokeOutputOptions{InvokeOptions: []pulumi.InvokeOption{pulumi.Provider(args.Provider)}})
	return result.(pulumi.MapOutput).ApplyT(func(m map[string]any) []any {
		objects, _ := m["result"].([]any)
		return objects
	}).(pulumi.ArrayOutput)
}

// templateOptions is the provider's HelmChartOpts (pulumi-kubernetes provider/pkg/provider,
// invoke_helm_template.go) for the chart: an oci:// chart is a full reference, any other chart a
// name within its repository, as charts.New sends them.
func templateOptions(args Args) (string, error) {
	values := map[string]any{}
	for key, v := range args.Chart.Values {
		values[key] = v
	}
	plain, err := json.Marshal(values)
	if err != nil {
		return "", fmt.Errorf("values of chart %s: %w", args.Chart.Chart, err)
	}
	opts := map[string]any{
		"chart":        args.Chart.Chart,
		"version":      args.Chart.Version,
		"namespace":    args.Namespace,
		"release_name": args.ReleaseName,
		"values":       json.RawMessage(plain),
	}
	if ref, oci := charts.OCIReference(args.Chart.Repository, args.Chart.Chart); oci {
		opts["chart"] = ref
	} else {
		opts["fetch_opts"] = map[string]string{"repo": args.Chart.Repository}
	}
	out, err := json.Marshal(opts)
	return string(out), err
}

// selectCRDs returns the CRDs among objects, sorted by name; source says where they come from
// ("chart base renders"). A chart applies its other objects itself, leaving the CRDs out by name;
// a manifest's other objects are its caller's.
func selectCRDs(objects []any, source string) ([]map[string]any, error) {
	var crds []map[string]any
	for _, o := range objects {
		if obj, _ := o.(map[string]any); obj["kind"] == "CustomResourceDefinition" {
			crds = append(crds, obj)
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("%s no CustomResourceDefinition", source)
	}
	slices.SortFunc(crds, func(a, b map[string]any) int { return strings.Compare(nameOf(a), nameOf(b)) })
	return crds, nil
}

// recordOf is the record's data: the label (the chart and version, or the manifest's source), and
// per CRD the SHA-256 of its JSON (encoding/json sorts keys, so the digest changes only with the
// CRD).
func recordOf(label string, crds []map[string]any) (map[string]string, error) {
	data := map[string]string{ChartKey: label}
	for _, crd := range crds {
		raw, err := json.Marshal(crd)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(raw)
		data[nameOf(crd)] = "sha256:" + hex.EncodeToString(sum[:])
	}
	return data, nil
}

func namesOf(record map[string]string) []string {
	names := make([]string, 0, len(record))
	for key := range record {
		if key != ChartKey {
			names = append(names, key)
		}
	}
	slices.Sort(names)
	return names
}

func nameOf(obj map[string]any) string {
	metadata, _ := obj["metadata"].(map[string]any)
	name, _ := metadata["name"].(string)
	return name
}

// crdSet hands the rendered CRDs and the kubeconfig from the program's outputs to the hook, which
// the engine calls after the record's inputs, computed from the same outputs, are resolved.
type crdSet struct {
	mu         sync.Mutex
	crds       []map[string]any
	kubeconfig string
}

func (c *crdSet) set(kubeconfig string, crds []map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kubeconfig, c.crds = kubeconfig, crds
}

func (c *crdSet) get() (string, []map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kubeconfig, c.crds
}
