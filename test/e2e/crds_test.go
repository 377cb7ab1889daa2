//go:build e2e

package e2e

import (
	"maps"
	"slices"
	"strings"
	"testing"

	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	kmetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cryptotracker/ctmd/infra/mesh"
	"github.com/cryptotracker/ctmd/infra/stack"
)

// crdRecord is the ConfigMap that stands for Istio's CRDs in the state (infra/internal/crds).
const crdRecord = "istio-base-crds"

// crdType is the type token a CRD has in a state that holds it as a resource.
const crdType = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"

// checkCRDsRecorded checks Istio's CRDs (checkRecord) against the base chart's record.
func checkCRDsRecorded(t *testing.T, k clients, s *testStack) {
	t.Helper()
	names := make([]string, 0, len(meshGVRs))
	for _, gvr := range meshGVRs {
		names = append(names, gvr.Resource+"."+gvr.Group)
	}
	checkRecord(t, k, s, "istio-system", "istio-base", names)
}

// checkRecord checks that the stack's last update applied these CRDs of the chart installed as
// release itself, from the chart's render (its instance label) by the record's hook (the hook's
// field manager), that the release's record in namespace lists each, and that the state holds no
// CRD as a resource.
func checkRecord(t *testing.T, k clients, s *testStack, namespace, release string, names []string) {
	t.Helper()
	ctx := t.Context()
	record, err := k.kube.CoreV1().ConfigMaps(namespace).Get(ctx, release+"-crds", kmetav1.GetOptions{})
	if err != nil {
		t.Fatalf("the CRDs' record of %s: %v", release, err)
	}
	for _, name := range names {
		crd, err := k.dyn.Resource(crdGVR).Get(ctx, name, kmetav1.GetOptions{})
		if err != nil {
			t.Errorf("CRD %s: %v", name, err)
			continue
		}
		if got := crd.GetLabels()["app.kubernetes.io/instance"]; got != release {
			t.Errorf("CRD %s belongs to chart %q, want %s", name, got, release)
		}
		if !slices.ContainsFunc(crd.GetManagedFields(), func(f kmetav1.ManagedFieldsEntry) bool { return f.Manager == "ctmd-crds" }) {
			t.Errorf("CRD %s was not applied by the record's hook (field manager ctmd-crds)", name)
		}
		if !strings.HasPrefix(record.Data[name], "sha256:") {
			t.Errorf("the record lists CRD %s as %q", name, record.Data[name])
		}
	}
	if state := s.cli(t, "stack", "export"); strings.Contains(state, crdType) {
		t.Errorf("the state holds %s resources, want only the records", crdType)
	}
}

// TestCRDObjectsMigration: a stack made while the base chart's CRDs were resources in the state
// (children of the chart istio-base) moves to the record with a plain up. The CRDs must stay the
// same objects: deleting one deletes every Istio resource of its kind. What keeps them is
// upstream's: the chart marks them helm.sh/resource-policy: keep, which the kubernetes provider's
// helm.v4.Chart turns into retainOnDelete (pulumi-kubernetes provider/pkg/provider/helm/v4,
// preregister), so the engine drops them from the state without deleting them. This test fails if
// that ever changes.
func TestCRDObjectsMigration(t *testing.T) {
	migrateCluster.hold(t)
	ctx := t.Context()
	k := clientsOf(t, migrateCluster)
	out := &transcript{}
	s := migrateCluster.newStack(t, "e2e-crd-objects", auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:installIstio":          {Value: "true"},
		"ctmd:istioChartRepository":  {Value: env.chartRepo},
		"ctmd:image":                 {Value: image},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
	})
	t.Cleanup(func() { destroy(t, k, s, out) })

	s.Workspace().SetProgram(crdObjectsLayout)
	if _, err := s.Up(ctx, optup.ProgressStreams(out), optup.ErrorProgressStreams(out)); err != nil {
		t.Fatalf("up with the CRDs as resources: %v", err)
	}
	if state := s.cli(t, "stack", "export"); !strings.Contains(state, crdType) {
		t.Fatalf("the stand-in's state holds no %s: it does not stand for the layout before", crdType)
	}
	kept := crdUIDs(t, k)

	s.Workspace().SetProgram(stack.Deploy)
	mustUp(t, s, out)
	if after := crdUIDs(t, k); !maps.Equal(kept, after) {
		t.Errorf("CRDs deleted or recreated by the move to the record: before %v, after %v", kept, after)
	}
	checkCRDsRecorded(t, k, s)
	s.assertNoOp(t, out)
}

// crdObjectsLayout is the mesh of the layout before the record, frozen here with the same
// component and resource names (so the same URNs) and the same Istio outputs: the base chart, its
// CRDs among its objects.
func crdObjectsLayout(ctx *pulumi.Context) error {
	cfg, _, opts, namespaces, err := frozenMesh(ctx, "istio-system")
	if err != nil {
		return err
	}
	revision := mesh.Revision(cfg.IstioVersion)
	if _, err := helmv4.NewChart(ctx, "istio-base", &helmv4.ChartArgs{
		Name: pulumi.String("istio-base"), Chart: pulumi.String("base"), Version: pulumi.String(cfg.IstioVersion),
		Namespace:      namespaces["istio-system"],
		RepositoryOpts: &helmv4.RepositoryOptsArgs{Repo: pulumi.String(cfg.IstioChartRepository)},
		Values: pulumi.Map{"defaultRevision": pulumi.String(revision),
			"base": pulumi.Map{"validationFailurePolicy": pulumi.String("Fail")}},
	}, opts...); err != nil {
		return err
	}
	ctx.Export("istioVersion", pulumi.String(cfg.IstioVersion))
	ctx.Export("istioRevision", pulumi.String(revision))
	ctx.Export(mesh.LayoutOutput, pulumi.String("charts"))
	return nil
}

// crdUIDs identifies Istio's CRDs: a CRD deleted and created again has a new one.
func crdUIDs(t *testing.T, k clients) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, gvr := range meshGVRs {
		crd, err := k.dyn.Resource(crdGVR).Get(t.Context(), gvr.Resource+"."+gvr.Group, kmetav1.GetOptions{})
		if err != nil {
			t.Fatalf("CRD %s after the move: %v", gvr.Resource+"."+gvr.Group, err)
		}
		ids[crd.GetName()] = string(crd.GetUID())
	}
	return ids
}
