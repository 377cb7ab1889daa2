//go:build e2e

package e2e

import (
	"os"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// localCluster is one local control plane (hack/cluster.sh). Every stack deploys into the same
// namespaces, so a test holds its cluster for its whole run; tests on different clusters run side
// by side (most of their time is spent waiting on the engine and the API server).
type localCluster struct{ mu sync.Mutex }

// mainCluster is the one the process's KUBECONFIG names: the inline program's provider reads it
// when a stack sets no ctmd:kubeconfig. opsCluster serves the operations tests (node drains,
// interrupted updates), which change nodes and kill engines, through ctmd:kubeconfig.
var mainCluster, opsCluster = &localCluster{}, &localCluster{}

// hold runs the test in parallel with the tests of other clusters and gives it this one alone
// until it ends (after its cleanups, which destroy what it deployed).
func (c *localCluster) hold(t *testing.T) {
	t.Helper()
	t.Parallel()
	c.mu.Lock()
	t.Cleanup(c.mu.Unlock)
}

func (c *localCluster) kubeconfig() string {
	if c == opsCluster {
		return env.opsKubeconfig
	}
	return env.kubeconfig
}

// stackConfig is the configuration that points a stack at this cluster: nothing for the main
// cluster (the ambient kubeconfig), the kubeconfig's contents as the secret ctmd:kubeconfig for
// the others, as a user deploying into another cluster would set it.
func (c *localCluster) stackConfig(t *testing.T) auto.ConfigMap {
	t.Helper()
	if c == mainCluster {
		return auto.ConfigMap{}
	}
	raw, err := os.ReadFile(c.kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	return auto.ConfigMap{"ctmd:kubeconfig": {Value: string(raw), Secret: true}}
}
