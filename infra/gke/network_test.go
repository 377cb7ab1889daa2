package gke

import (
	"net"
	"slices"
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

func TestRangesOf(t *testing.T) {
	got, err := RangesOf("10.7.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	want := Ranges{Nodes: "10.7.0.0/22", Services: "10.7.4.0/22", Master: "10.7.8.0/28", Pods: "10.7.128.0/17"}
	if got != want {
		t.Fatalf("RangesOf(10.7.0.0/16) = %+v, want %+v", got, want)
	}
	_, block, _ := net.ParseCIDR("10.7.0.0/16")
	all := []string{got.Nodes, got.Services, got.Master, got.Pods}
	for i, a := range all {
		ip, n, err := net.ParseCIDR(a)
		if err != nil || !ip.Equal(n.IP) || !block.Contains(n.IP) || !block.Contains(lastAddress(n)) {
			t.Errorf("%s is not an aligned range inside 10.7.0.0/16", a)
		}
		for _, b := range all[i+1:] {
			if mockstack.Overlap(a, b) {
				t.Errorf("%s overlaps %s", a, b)
			}
		}
	}
}

func TestRangesOfRefusesOtherThanSlash16(t *testing.T) {
	for _, bad := range []string{"10.7.0.0/20", "10.7.0.0", "fd00::/16"} {
		if _, err := RangesOf(bad); err == nil {
			t.Errorf("RangesOf(%q) succeeded", bad)
		}
	}
}

func lastAddress(n *net.IPNet) net.IP {
	last := make(net.IP, len(n.IP))
	for i := range n.IP {
		last[i] = n.IP[i] | ^n.Mask[i]
	}
	return last
}

// The webhook rule admits the control plane where GKE reports it: its block, and its endpoint
// where that lies outside the block (Private Service Connect) or GKE reports no block.
func TestControlPlaneSources(t *testing.T) {
	for _, tt := range []struct {
		block, endpoint string
		want            []string
	}{
		{"10.0.8.0/28", "10.0.8.2", []string{"10.0.8.0/28"}},
		{"10.0.8.0/28", "10.0.0.2", []string{"10.0.8.0/28", "10.0.0.2/32"}},
		{"", "10.0.0.2", []string{"10.0.0.2/32"}},
		{"10.0.8.0/28", "", []string{"10.0.8.0/28"}},
	} {
		if got := controlPlaneSources(tt.block, tt.endpoint); !slices.Equal(got, tt.want) {
			t.Errorf("controlPlaneSources(%q, %q) = %v, want %v", tt.block, tt.endpoint, got, tt.want)
		}
	}
}
