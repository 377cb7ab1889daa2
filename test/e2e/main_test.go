//go:build e2e

// Package e2e runs the ctmd Pulumi program with the real Pulumi engine and the real kubernetes
// provider plugin against a real Kubernetes API server (hack/cluster.sh), offline, and checks what
// lands in the cluster and in the state. Run it with `make e2e`, which builds the tools, starts the
// cluster, sets the environment below and stops the cluster afterwards.
//
// Environment:
//
//	KUBECONFIG                   the local cluster's kubeconfig (hack/cluster.sh up)
//	CTMD_E2E_CLUSTERS            the other local clusters (cluster_test.go): name=kubeconfig, space-separated
//	PATH                         starts with the tools directories: pulumi is taken from there
//	CTMD_E2E_KUBERNETES_PLUGIN   the pulumi-resource-kubernetes binary built by hack/tools.sh
//	PULUMI_KUBERNETES_VERSION    its version (versions.env)
//	CTMD_CHART_REPO              the local cluster's Helm repository of Istio's and cert-manager's charts
//	CTMD_ISTIO_MODULE_DIR        the istio.io/istio module those charts come from
//	ISTIO_CHARTS_MODULE_VERSION  that module's version, ISTIO_VERSION the one the charts are labelled
//	ISTIO_E2E_NEXT_VERSION       a second label of the same charts, for the upgrade tests
//	CTMD_ARGO_ROLLOUTS_MANIFEST  Argo Rollouts' install manifest, served by the local cluster
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// env holds the settings make e2e passes in; TestMain refuses to run without them rather than
// skipping, because a silently skipped e2e suite looks exactly like a passing one.
var env struct {
	kubeconfig, plugin, pluginVersion string
	// clusters are the kubeconfigs of the other local clusters, by name.
	clusters map[string]string
	// Istio's charts: where they are served, where they come from, the labels they are served as.
	chartRepo, istioModuleDir, chartsModuleVersion, istioVersion, istioNextVersion string
	argoRolloutsManifest                                                           string
}

func TestMain(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\nrun the suite with `make e2e`\n", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func setup() error {
	var missing []string
	get := func(key string) string {
		v := os.Getenv(key)
		if v == "" {
			missing = append(missing, key)
		}
		return v
	}
	env.kubeconfig = get("KUBECONFIG")
	env.clusters = map[string]string{}
	for _, pair := range strings.Fields(get("CTMD_E2E_CLUSTERS")) {
		name, kubeconfig, _ := strings.Cut(pair, "=")
		env.clusters[name] = kubeconfig
	}
	for _, name := range clusterNames {
		if env.clusters[name] == "" {
			missing = append(missing, "CTMD_E2E_CLUSTERS entry "+name)
		}
	}
	env.plugin = get("CTMD_E2E_KUBERNETES_PLUGIN")
	env.pluginVersion = get("PULUMI_KUBERNETES_VERSION")
	env.chartRepo = get("CTMD_CHART_REPO")
	env.istioModuleDir = get("CTMD_ISTIO_MODULE_DIR")
	env.chartsModuleVersion = get("ISTIO_CHARTS_MODULE_VERSION")
	env.istioVersion = get("ISTIO_VERSION")
	env.istioNextVersion = get("ISTIO_E2E_NEXT_VERSION")
	env.argoRolloutsManifest = get("CTMD_ARGO_ROLLOUTS_MANIFEST")
	if len(missing) > 0 {
		return fmt.Errorf("missing environment: %s", strings.Join(missing, ", "))
	}
	// Say which charts really run: the pinned release's number is only their label.
	fmt.Printf("e2e: Istio charts of istio.io/istio@%s (development branch), served as versions %s and %s from %s\n",
		env.chartsModuleVersion, env.istioVersion, env.istioNextVersion, env.chartRepo)
	if _, err := exec.LookPath("pulumi"); err != nil {
		return fmt.Errorf("no pulumi CLI on PATH: %w", err)
	}
	// Set in the process, not only on the workspace: the Automation API checks the CLI version and
	// the inline program reads the ambient kubeconfig in this process, and every pulumi child
	// inherits these.
	for k, v := range map[string]string{
		// Offline: a missing plugin must fail at once instead of being fetched from the internet.
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		// Only the plugin installed with --file counts, never a pulumi-resource-* found on PATH.
		"PULUMI_IGNORE_AMBIENT_PLUGINS":            "true",
		"PULUMI_SKIP_UPDATE_CHECK":                 "true",
		"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
		"PULUMI_CONFIG_PASSPHRASE":                 "ctmd-e2e-passphrase",
	} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}
