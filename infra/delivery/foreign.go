package delivery

import (
	"fmt"

	"github.com/cryptotracker/ctmd/infra/cluster"
	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/internal/charts"
)

// ControllerSelector selects Argo Rollouts' controller Deployment, whether installed from the
// release manifest or from the community Helm chart: both label it so.
const ControllerSelector = "app.kubernetes.io/name=" + Controller

// ForeignEngine refuses to install the engine into a cluster where one already runs that ctmd did
// not install (found: the Deployments ControllerSelector selects). Two controllers would reconcile
// the same Rollouts, and installing over it would take its objects over, to delete them when
// ctmd:delivery goes back to manual. ctmd's own controller is the one in Namespace that carries
// charts.PatchForce (object.declare).
func ForeignEngine(found []cluster.Deployment) error {
	d, by, ok := cluster.Foreign(found, Namespace, Controller, charts.PatchForce)
	if !ok {
		return nil
	}
	return fmt.Errorf("ctmd:delivery %s asks ctmd to install Argo Rollouts, but the cluster already runs it (Deployment %s/%s, written by %s): "+
		"two controllers would fight over the Rollouts, and ctmd would delete that installation's objects when ctmd:delivery is set back; "+
		"release by hand until the cluster's engine can be used: pulumi config set ctmd:delivery %s", config.DeliveryArgoRollouts, d.Namespace, d.Name, by, config.DeliveryManual)
}
