//go:build e2e

package e2e

import (
	"maps"
	"os"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// localCluster is one local control plane (hack/cluster.sh). Every stack deploys into the same
// namespaces, so a test holds its cluster for its whole run; tests on different clusters run side
// by side (most of their time is spent waiting on the engine and the API server).
type localCluster struct {
	name string
	mu   sync.Mutex
}

// mainCluster is the one the process's KUBECONFIG names: the inline program's provider reads it
// when a stack sets no ctmd:kubeconfig. The others take the tests that install Istio, each holding
// one for minutes, and the operations tests (node drains, killed engines); their stacks set
// ctmd:kubeconfig. hack/e2e.sh starts one per name in clusterNames. The lanes are balanced by
// measured time (warm, make e2e): istio 320 s, ops (killed engines) 320 s, migrate 270 s plus the
// drain's 90 s, and main 220 s, which leaves room for the day-2 steps that grow with features; the
// engine's tests, alone, delivery 270 s, gate 230 s and rollouts 220 s.
var (
	mainCluster    = &localCluster{}
	istioCluster   = &localCluster{name: "istio"}
	migrateCluster = &localCluster{name: "migrate"}
	opsCluster     = &localCluster{name: "ops"}
	// The release engine's tests, each with its controller and Prometheus, which mostly wait on
	// its steps: the progressive delivery, the releases its gate cannot judge, and the Istio
	// upgrade under the engine (which also installs Istio). The suite took 14 min warm from a
	// fresh clone with the second on the main cluster and 14 min on a lane of its own: on two
	// cores it is bound by CPU, not by the lanes' waits.
	deliveryCluster = &localCluster{name: "delivery"}
	gateCluster     = &localCluster{name: "gate"}
	rolloutsCluster = &localCluster{name: "rollouts"}
	clusterNames    = []string{istioCluster.name, migrateCluster.name, opsCluster.name, deliveryCluster.name, gateCluster.name, rolloutsCluster.name}
)

// hold runs the test in parallel with the tests of other clusters and gives it this one alone
// until it ends (after its cleanups, which destroy what it deployed).
func (c *localCluster) hold(t *testing.T) {
	t.Helper()
	t.Parallel()
	c.mu.Lock()
	t.Cleanup(c.mu.Unlock)
}

func (c *localCluster) kubeconfig() string {
	if c == mainCluster {
		return env.kubeconfig
	}
	return env.clusters[c.name]
}

// newStack creates a stack (newStack) that deploys into this cluster.
func (c *localCluster) newStack(t *testing.T, name string, cfg auto.ConfigMap, opts ...auto.LocalWorkspaceOption) *testStack {
	t.Helper()
	all := c.stackConfig(t)
	maps.Copy(all, cfg)
	return newStack(t, name, all, opts...)
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
