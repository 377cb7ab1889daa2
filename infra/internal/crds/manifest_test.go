package crds

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

const recordType = "kubernetes:core/v1:ConfigMap"

// A manifest's CRDs are recorded as a chart's are, under the manifest's source, with nothing
// rendered: the record lists the CRDs and no other object, and its hook applies them before it
// is written.
func TestManifestSource(t *testing.T) {
	sa := map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "argo-rollouts"}}
	manifest := &Manifest{Source: "argo-rollouts v1.10.2", Objects: []map[string]any{
		crd("rollouts.argoproj.io", "one"), sa, crd("analysisruns.argoproj.io", "one"),
	}}
	var names []string
	s, err := mockstack.Run(t, mockstack.Config{}, func(ctx *pulumi.Context) error {
		provider, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		set, err := New(ctx, "argo-rollouts", Args{
			Provider:    provider,
			Kubeconfig:  pulumi.String("").ToStringOutput(),
			ReleaseName: "argo-rollouts",
			Namespace:   "argo-rollouts",
			Manifest:    manifest,
		})
		if err != nil {
			return err
		}
		set.Names.ApplyT(func(n []string) []string { names = n; return n })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Invokes) != 0 {
		t.Errorf("invokes %v: a manifest is not rendered", s.Invokes)
	}
	record := s.Find(t, recordType, "argo-rollouts"+RecordSuffix)
	plain := mockstack.Plain(record.Inputs)
	if got := mockstack.Get(plain, "metadata.name"); got != "argo-rollouts-crds" {
		t.Errorf("record named %v", got)
	}
	if got := mockstack.Get(plain, "metadata.namespace"); got != "argo-rollouts" {
		t.Errorf("record in namespace %v", got)
	}
	data, _ := plain["data"].(map[string]any)
	if data[ChartKey] != "argo-rollouts v1.10.2" || len(data) != 3 {
		t.Errorf("record %v, want the source and the two CRDs", data)
	}
	for _, name := range []string{"rollouts.argoproj.io", "analysisruns.argoproj.io"} {
		if digest, _ := data[name].(string); !strings.HasPrefix(digest, "sha256:") {
			t.Errorf("record entry %s = %v, want a digest", name, data[name])
		}
	}
	if !slices.Equal(names, []string{"analysisruns.argoproj.io", "rollouts.argoproj.io"}) {
		t.Errorf("names %v", names)
	}
	hook := []string{"argo-rollouts-apply-crds"}
	if !slices.Equal(record.Hooks["before_create"], hook) || !slices.Equal(record.Hooks["before_update"], hook) {
		t.Errorf("record hooks %v, want the apply hook before create and update", record.Hooks)
	}
}

// A manifest without CRDs is refused by its source's name, as a chart is by its own.
func TestManifestWithoutCRDs(t *testing.T) {
	sa := map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "x"}}
	_, err := mockstack.Run(t, mockstack.Config{}, func(ctx *pulumi.Context) error {
		provider, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		_, err = New(ctx, "argo-rollouts", Args{
			Provider:    provider,
			Kubeconfig:  pulumi.String("").ToStringOutput(),
			ReleaseName: "argo-rollouts",
			Namespace:   "argo-rollouts",
			Manifest:    &Manifest{Source: "argo-rollouts v1.10.2", Objects: []map[string]any{sa}},
		})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "manifest argo-rollouts v1.10.2 holds no CustomResourceDefinition") {
		t.Errorf("err = %v, want the manifest named", err)
	}
}
