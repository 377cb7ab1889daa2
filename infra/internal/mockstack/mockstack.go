// Package mockstack runs a Pulumi program under the SDK's mocks and records every resource it
// registers or reads, with its inputs and options, so tests can assert on the whole program.
package mockstack

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one registered (or read) resource as the engine would have seen it.
type Resource struct {
	Type   string
	Name   string
	Inputs resource.PropertyMap
	// Parent, Provider and DependsOn are Refs ("type::name").
	Parent    string
	Provider  string
	DependsOn []string
	// Read is true for resources looked up with a Get function rather than managed.
	Read bool
	ID   string
	// Hooks are the resource hooks bound to it, by when they run ("before_create": names).
	Hooks map[string][]string
}

// Stack is the record of one program run.
type Stack struct {
	mu        sync.Mutex
	Resources []Resource
	Invokes   []string
	// Templates are the options of each chart the provider was asked to render (crds.TemplateToken).
	Templates []map[string]any
	// lastOutputs answers stack references (the stack's own outputs of its last update).
	lastOutputs map[string]string
}

// Config is stack configuration: full keys ("ctmd:replicas") to values; Secrets lists the keys
// stored as secrets.
type Config struct {
	Values  map[string]string
	Secrets []string
	// LastOutputs are the outputs a stack reference reads: the last update's, for a program
	// that reads its own stack.
	LastOutputs map[string]string
}

// Run executes program under mocks with cfg passed the way the engine passes it, through
// PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS.
func Run(t *testing.T, cfg Config, program pulumi.RunFunc) (*Stack, error) {
	t.Helper()
	values, err := json.Marshal(cfg.Values)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := json.Marshal(append([]string{}, cfg.Secrets...))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(pulumi.EnvConfig, string(values))
	t.Setenv(pulumi.EnvConfigSecretKeys, string(secrets))
	s := &Stack{lastOutputs: cfg.LastOutputs}
	err = pulumi.RunErr(program, pulumi.WithMocks("ctmd", "test", s))
	return s, err
}

// Ref names a resource the way Resource.Parent, Provider and DependsOn do: "type::name".
func Ref(typ, name string) string { return typ + "::" + name }

// ref turns a URN, or a provider reference "URN::ID", into Ref form.
func ref(urnOrProvider string) string {
	// urn:pulumi:<stack>::<project>::<parent types $-joined with the type>::<name>[::<id>]
	parts := strings.Split(urnOrProvider, "::")
	if len(parts) < 4 {
		return urnOrProvider
	}
	types := strings.Split(parts[2], "$")
	return Ref(types[len(types)-1], parts[3])
}

// NewResource records the resource and answers with its inputs plus the few outputs a real
// provider would compute that the program reads back.
func (s *Stack) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := Resource{
		Type:     args.TypeToken,
		Name:     args.Name,
		Inputs:   args.Inputs,
		Provider: ref(args.Provider),
		ID:       args.ID,
	}
	switch {
	case args.RegisterRPC != nil:
		r.Parent = ref(args.RegisterRPC.GetParent())
		for _, dep := range args.RegisterRPC.GetDependencies() {
			r.DependsOn = append(r.DependsOn, ref(dep))
		}
		if h := args.RegisterRPC.GetHooks(); h != nil {
			r.Hooks = map[string][]string{
				"before_create": h.GetBeforeCreate(), "after_create": h.GetAfterCreate(),
				"before_update": h.GetBeforeUpdate(), "after_update": h.GetAfterUpdate(),
				"before_delete": h.GetBeforeDelete(), "after_delete": h.GetAfterDelete(),
			}
		}
	case args.ReadRPC != nil:
		r.Read = true
		r.Parent = ref(args.ReadRPC.GetParent())
		for _, dep := range args.ReadRPC.GetDependencies() {
			r.DependsOn = append(r.DependsOn, ref(dep))
		}
	}
	sort.Strings(r.DependsOn)
	s.mu.Lock()
	s.Resources = append(s.Resources, r)
	s.mu.Unlock()

	state := args.Inputs.Copy()
	id := args.ID
	if id == "" {
		id = args.Name + "-id"
	}
	str := func(k string) string {
		if v, ok := args.Inputs[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	switch args.TypeToken {
	case "gcp:container/cluster:Cluster":
		state["endpoint"] = resource.NewProperty("203.0.113.10")
		state["masterAuth"] = resource.NewProperty(resource.PropertyMap{
			"clusterCaCertificate": resource.NewProperty("Q0EgY2VydA=="),
		})
		if private, ok := state["privateClusterConfig"]; ok && private.IsObject() {
			withEndpoint := private.ObjectValue().Copy() // the recorded inputs share the nested map
			withEndpoint["privateEndpoint"] = resource.NewProperty(PrivateEndpoint)
			state["privateClusterConfig"] = resource.NewProperty(withEndpoint)
		}
	case "gcp:serviceaccount/account:Account":
		email := fmt.Sprintf("%s@%s.iam.gserviceaccount.com", str("accountId"), str("project"))
		state["email"] = resource.NewProperty(email)
		state["member"] = resource.NewProperty("serviceAccount:" + email)
		state["name"] = resource.NewProperty(fmt.Sprintf("projects/%s/serviceAccounts/%s", str("project"), email))
	case "gcp:compute/address:Address":
		state["address"] = resource.NewProperty(AddressFor(args.Name))
		state["selfLink"] = resource.NewProperty(fmt.Sprintf("https://www.googleapis.com/compute/v1/projects/%s/regions/%s/addresses/%s",
			str("project"), str("region"), str("name")))
	case "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":
		state["uptimeCheckId"] = resource.NewProperty(args.Name + "-check-id")
	case "gcp:monitoring/notificationChannel:NotificationChannel":
		state["name"] = resource.NewProperty(fmt.Sprintf("projects/%s/notificationChannels/%s", str("project"), UptimeChannelID))
	case "gcp:artifactregistry/repository:Repository":
		state["name"] = resource.NewProperty(str("repositoryId"))
	case "pulumi:pulumi:StackReference":
		outputs := resource.PropertyMap{}
		for k, v := range s.lastOutputs {
			outputs[resource.PropertyKey(k)] = resource.NewProperty(v)
		}
		state["outputs"] = resource.NewProperty(outputs)
		state["secretOutputNames"] = resource.NewProperty([]resource.PropertyValue{})
	case "kubernetes:helm.sh/v4:Chart":
		// The provider renders the chart and registers its objects; the mocks have none.
		state["resources"] = resource.NewProperty([]resource.PropertyValue{})
	}
	return id, state, nil
}

// UptimeChannelID is the id the mocks give a notification channel.
const UptimeChannelID = "4242"

// PrivateEndpoint is the control plane's internal address the mocks report for a cluster: outside
// the /28 the program asks for, as GKE places it for a cluster on Private Service Connect, so tests
// see which rules follow the cluster rather than the config.
const PrivateEndpoint = "10.0.0.2"

// AddressFor is the address the mocks give the compute.Address of that logical name: stable and
// distinct per name, so tests can tell which reserved address reached which output.
func AddressFor(name string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return fmt.Sprintf("203.0.113.%d", 1+h.Sum32()%254)
}

// Overlap reports whether two CIDRs share an address (false when either does not parse).
func Overlap(a, b string) bool {
	_, x, errA := net.ParseCIDR(a)
	_, y, errB := net.ParseCIDR(b)
	return errA == nil && errB == nil && (x.Contains(y.IP) || y.Contains(x.IP))
}

// Call records an invoke. The one the program makes, with a domain on gke, reads the Cloud DNS
// zone: the mocks name every zone after its DNS name (example-com: example.com.), and make those
// named private-* private, the rest public.
func (s *Stack) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	s.mu.Lock()
	s.Invokes = append(s.Invokes, args.Token)
	s.mu.Unlock()
	if args.Token == "gcp:dns/getManagedZone:getManagedZone" {
		name := args.Args["name"].StringValue()
		visibility := "public"
		if strings.HasPrefix(name, "private-") {
			visibility = "private"
		}
		return resource.PropertyMap{
			"name":       resource.NewProperty(name),
			"dnsName":    resource.NewProperty(strings.ReplaceAll(name, "-", ".") + "."),
			"visibility": resource.NewProperty(visibility),
		}, nil
	}
	if args.Token == templateToken {
		return s.template(args.Args["jsonOpts"].StringValue())
	}
	return resource.PropertyMap{}, nil
}

const templateToken = "kubernetes:helm:template"

// TemplateCRDs are the CRDs the mocks render for any chart, each labelled with the chart's version
// so that a new version changes them.
var TemplateCRDs = []string{"destinationrules.networking.istio.io", "virtualservices.networking.istio.io"}

func (s *Stack) template(jsonOpts string) (resource.PropertyMap, error) {
	var opts map[string]any
	if err := json.Unmarshal([]byte(jsonOpts), &opts); err != nil {
		return nil, fmt.Errorf("jsonOpts: %w", err)
	}
	s.mu.Lock()
	s.Templates = append(s.Templates, opts)
	s.mu.Unlock()
	var objects []any
	for _, name := range TemplateCRDs {
		objects = append(objects, map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": name, "labels": map[string]any{"app.kubernetes.io/version": opts["version"]}},
		})
	}
	return resource.NewPropertyMapFromMap(map[string]any{"result": objects}), nil
}

// Find returns the resource of the given type and logical name.
func (s *Stack) Find(t *testing.T, typ, name string) Resource {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.Resources {
		if r.Type == typ && r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s named %q among %v", typ, name, s.names())
	return Resource{}
}

// OfType returns the logical names of all resources of a type, sorted.
func (s *Stack) OfType(typ string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, r := range s.Resources {
		if r.Type == typ {
			names = append(names, r.Name)
		}
	}
	sort.Strings(names)
	return names
}

func (s *Stack) names() []string {
	var names []string
	for _, r := range s.Resources {
		names = append(names, r.Type+" "+r.Name)
	}
	sort.Strings(names)
	return names
}

// Plain turns inputs into plain Go values (secrets unwrapped), ready to compare with a literal.
func Plain(m resource.PropertyMap) map[string]any { return m.MapRepl(nil, unwrapSecret) }

func unwrapSecret(v resource.PropertyValue) (any, bool) {
	if v.IsSecret() {
		return v.SecretValue().Element.MapRepl(nil, unwrapSecret), true
	}
	return nil, false
}

// Get walks a dotted path ("spec.template.spec") through plain values; list indexes are numbers.
func Get(v any, path string) any {
	for _, part := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			v = c[part]
		case []any:
			var i int
			if _, err := fmt.Sscanf(part, "%d", &i); err != nil || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// AssertJSON compares a value with a JSON literal after normalising both through JSON, so numbers
// and nesting compare by meaning. Whole-object comparisons make every property count.
func AssertJSON(t testing.TB, what string, got any, want string) {
	t.Helper()
	gotJSON, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(gotJSON, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		pretty, _ := json.MarshalIndent(g, "", "  ")
		t.Errorf("%s:\ngot  %s\nwant %s", what, pretty, want)
	}
}
