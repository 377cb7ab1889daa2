//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// clusterLayer is the README's step 4 on the local cluster: the README targets the GKE component
// and the Binary Authorization policy it waits for (TestREADMETargetsTheClusterWithItsDependencies
// holds those globs to the cluster's dependencies under mocks); here the cluster component is the
// existing one.
const clusterLayer = "**ctmd:cluster:Existing**"

// stagedUp runs that targeted up, as a user does before pushing the image. On a fresh stack it
// must succeed and create nothing in the cluster; on one made with the Helm releases it must delete
// nothing, since a release deleted is a `helm uninstall` of Istio. (It does rewrite the stack's
// outputs, which the next full up reads back, infra/mesh/adopt.go: the reads that take the
// releases out of Pulumi's management run in a targeted up too, so that next up finds nothing
// left to take over; TestIstioLayoutMigration checks what it then does.)
func stagedUp(t *testing.T, s *testStack, out *transcript) {
	t.Helper()
	before, err := s.Outputs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Up(t.Context(), optup.Target([]string{clusterLayer}), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	if err != nil {
		t.Fatalf("pulumi up --target '%s': %v", clusterLayer, err)
	}
	for _, op := range []apitype.OpType{apitype.OpDelete, apitype.OpReplace, apitype.OpDeleteReplaced} {
		if n := (*res.Summary.ResourceChanges)[string(op)]; n > 0 {
			t.Errorf("the targeted up did %d %s: %v", n, op, *res.Summary.ResourceChanges)
		}
	}
	if len(before) > 0 {
		return
	}
	state, err := s.Export(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var resources struct {
		Resources []struct{ URN, Type string } `json:"resources"`
	}
	if err := json.Unmarshal(state.Deployment, &resources); err != nil {
		t.Fatal(err)
	}
	for _, r := range resources.Resources {
		if strings.HasPrefix(r.Type, "kubernetes:") {
			t.Errorf("the targeted up of a fresh stack created %s, outside the cluster layer", r.URN)
		}
	}
}
