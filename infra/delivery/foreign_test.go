package delivery

import (
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/cluster"
	"github.com/cryptotracker/ctmd/infra/internal/charts"
)

// The engine ctmd installed is its own; any other controller is refused by where it runs.
func TestForeignEngine(t *testing.T) {
	own := cluster.Deployment{Namespace: Namespace, Name: Controller, Annotations: map[string]string{charts.PatchForce: "true"}}
	if err := ForeignEngine([]cluster.Deployment{own}); err != nil {
		t.Errorf("ctmd's own controller refused: %v", err)
	}
	other := cluster.Deployment{Namespace: Namespace, Name: Controller, Managers: []string{"kubectl-client-side-apply"}}
	if err := ForeignEngine([]cluster.Deployment{own, other}); err == nil || !strings.Contains(err.Error(), "argo-rollouts/argo-rollouts, written by kubectl-client-side-apply") ||
		!strings.Contains(err.Error(), "pulumi config set ctmd:delivery manual") {
		t.Errorf("another controller: %v", err)
	}
}
