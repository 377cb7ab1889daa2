package app

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

// Config refuses an empty ingress principal list, but the component is also built by other
// programs (test/e2e): with no principal, Istio would read the policy's empty list as "anyone",
// so New refuses it before declaring a single resource.
func TestNewRefusesNoPrincipal(t *testing.T) {
	s, err := mockstack.Run(t, mockstack.Config{}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, Name, Args{})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "would admit any identity") {
		t.Fatalf("New without principals: error %v, want one saying the policy would admit any identity", err)
	}
	if len(s.Resources) != 0 {
		t.Errorf("New declared %d resources before refusing", len(s.Resources))
	}
}
