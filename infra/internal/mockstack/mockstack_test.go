package mockstack

import "testing"

func TestOverlap(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"10.0.0.0/16", "10.0.8.0/28", true},
		{"10.0.8.0/28", "10.0.0.0/16", true},
		{"10.0.0.0/22", "10.0.4.0/22", false},
		{"10.0.0.0/16", "10.1.0.0/16", false},
		{"10.0.0.0/16", "not a cidr", false},
	} {
		if got := Overlap(tt.a, tt.b); got != tt.want {
			t.Errorf("Overlap(%s, %s) = %v", tt.a, tt.b, got)
		}
	}
}
