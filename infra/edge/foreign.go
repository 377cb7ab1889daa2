package edge

import (
	"fmt"

	"github.com/cryptotracker/ctmd/infra/cluster"
	"github.com/cryptotracker/ctmd/infra/internal/charts"
)

// ControllerSelector selects cert-manager's controller Deployment, however it was installed: the
// official chart and the static manifests rendered from it both label it so.
const ControllerSelector = "app.kubernetes.io/name=cert-manager"

// ForeignCertManager refuses to install cert-manager into a cluster where one already runs that
// ctmd did not install (found: the Deployments ControllerSelector selects). Installing over it
// would apply the chart's objects onto that installation's (the provider applies a create over an
// existing object, infra/cluster/provider.go), and removing ctmd:domain later would delete them:
// another team's certificates would stop renewing. ctmd's own controller is the one in
// CertManagerNamespace, applied by ctmd's chart helper (it carries charts.PatchForce).
func ForeignCertManager(found []cluster.Deployment) error {
	d, by, ok := cluster.Foreign(found, CertManagerNamespace, CertManagerRelease, charts.PatchForce)
	if !ok {
		return nil
	}
	return fmt.Errorf("ctmd:dnsZone and ctmd:acmeEmail ask ctmd to install cert-manager, but the cluster already runs one "+
		"(Deployment %s/%s, written by %s): ctmd would take its objects over, and delete them when ctmd:domain is removed. "+
		"Issue through that installation instead: pulumi config set ctmd:tlsIssuer <cluster-issuer> (kubectl get clusterissuers), "+
		"then pulumi config rm-all ctmd:dnsZone ctmd:acmeEmail (and ctmd:acmeServer, if set) (docs/https.md)", d.Namespace, d.Name, by)
}
