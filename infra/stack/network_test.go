package stack

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

// gcpName is what names a GCP resource within a project: two resources of one type with the
// same name collide. IAM bindings have no name of their own.
func gcpName(r mockstack.Resource) (string, bool) {
	in := mockstack.Plain(r.Inputs)
	for _, key := range []string{"name", "accountId", "repositoryId"} {
		if v, ok := in[key].(string); ok && v != "" {
			return r.Type + " " + v, true
		}
	}
	return "", false
}

// ranges lists every address range a stack's GCP resources claim in its network.
func ranges(t *testing.T, s *run) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range s.Resources {
		in := mockstack.Plain(r.Inputs)
		switch r.Type {
		case "gcp:compute/subnetwork:Subnetwork":
			out[r.Name+" primary"] = in["ipCidrRange"].(string)
			for i := range in["secondaryIpRanges"].([]any) {
				out[fmt.Sprintf("%s secondary %d", r.Name, i)] = mockstack.Get(in, fmt.Sprintf("secondaryIpRanges.%d.ipCidrRange", i)).(string)
			}
		case "gcp:container/cluster:Cluster":
			out[r.Name+" control plane"] = mockstack.Get(in, "privateClusterConfig.masterIpv4CidrBlock").(string)
		}
	}
	if len(out) != 4 {
		t.Fatalf("want the subnet's three ranges and the control plane's, got %v", out)
	}
	return out
}

// Two stacks of one project (dev and prod, each with its own network block) declare no GCP
// resource the other declares, and no address range of one overlaps a range of the other or
// another range of its own.
func TestStacksInOneProjectDoNotCollide(t *testing.T) {
	dev := mustDeploy(t, gkeConfig(map[string]string{"ctmd:clusterName": "dev"}))
	prod := mustDeploy(t, gkeConfig(map[string]string{"ctmd:clusterName": "prod", "ctmd:networkCidr": "10.1.0.0/16"}))

	owner := map[string]string{}
	for stack, s := range map[string]*run{"dev": dev, "prod": prod} {
		for _, r := range s.Resources {
			if !strings.HasPrefix(r.Type, "gcp:") {
				continue
			}
			name, ok := gcpName(r)
			if !ok {
				continue
			}
			if other, taken := owner[name]; taken {
				t.Errorf("%s is declared by %s and by %s", name, other, stack)
			}
			owner[name] = stack
		}
	}
	if len(owner) < 20 {
		t.Fatalf("only %d named GCP resources found: %v", len(owner), owner)
	}

	all := map[string]string{}
	for stack, s := range map[string]*run{"dev": dev, "prod": prod} {
		for what, cidr := range ranges(t, s) {
			all[stack+" "+what] = cidr
		}
	}
	for a, x := range all {
		for b, y := range all {
			if a < b && mockstack.Overlap(x, y) {
				t.Errorf("%s %s overlaps %s %s", a, x, b, y)
			}
		}
	}
}

// The network block only moves ranges; names come from the cluster name alone, so two stacks
// that forgot to set ctmd:networkCidr still collide on no name (only their ranges coincide,
// in networks of their own).
func TestNamesFollowTheClusterName(t *testing.T) {
	dev := mustDeploy(t, gkeConfig(map[string]string{"ctmd:clusterName": "dev"}))
	prod := mustDeploy(t, gkeConfig(map[string]string{"ctmd:clusterName": "prod"}))
	names := map[string]bool{}
	for _, r := range dev.Resources {
		if name, ok := gcpName(r); ok && strings.HasPrefix(r.Type, "gcp:") {
			names[name] = true
		}
	}
	for _, r := range prod.Resources {
		if name, ok := gcpName(r); ok && names[name] {
			t.Errorf("dev and prod both declare %s", name)
		}
	}
	for _, r := range prod.Resources {
		if name, ok := gcpName(r); ok && strings.HasPrefix(r.Type, "gcp:") && !strings.Contains(name, " prod") {
			t.Errorf("%s is not named after the cluster", name)
		}
	}
}

// Off GKE there is no reserved address: the cloud picks the gateway's, which the chart's Service
// reports (the mocks render no chart objects; e2e TestIstioFromRealCharts checks the address).
func TestExistingTargetGatewayHasNoReservedAddress(t *testing.T) {
	s := mustDeploy(t, existingConfig(map[string]string{"ctmd:installIstio": "true"}))
	values := mockstack.Plain(s.Find(t, "kubernetes:helm.sh/v4:Chart", "istio-ingressgateway").Inputs)["values"]
	mockstack.AssertJSON(t, "gateway values", values, gatewayValues(defaultRevision, `{"type": "LoadBalancer"}`, 2))
	if _, ok := s.outputs["egressIps"]; ok {
		t.Error("existing target exports egressIps")
	}
}
