#!/usr/bin/env bash
# Runs the real-engine end-to-end suite (test/e2e, build tag e2e): starts a private local cluster,
# runs the tests against it with the pinned tools first on PATH, and always stops the cluster,
# whatever happens to the tests (make e2e builds the tools first).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

for bin in "$PULUMI_DIR/pulumi" "$PULUMI_KUBERNETES_DIR/pulumi-resource-kubernetes"; do
	[[ -x $bin ]] || die "$bin is missing: run make tools (hack/tools.sh) first"
done

# Clusters of its own, so a cluster started with make cluster-up is neither reused nor stopped: the
# main one, and one per name in EXTRA_CLUSTERS for the tests that hold a cluster for minutes
# (installing Istio, migrating it, draining nodes, killing engines), which run side by side
# (test/e2e/cluster_test.go). They mostly wait on the engine and the API server, so seven lanes on
# two cores finish in about the time one took before those tests existed.
EXTRA_CLUSTERS=(istio migrate ops delivery gate rollouts)
export CTMD_CLUSTER_DIR
CTMD_CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ctmd-e2e.XXXXXX")
declare -A extra_dirs
for name in "${EXTRA_CLUSTERS[@]}"; do
	extra_dirs[$name]=$(mktemp -d "${TMPDIR:-/tmp}/ctmd-e2e-$name.XXXXXX")
done
# What the failing tests reported, repeated by the trap after the clusters' teardown: CI logs keep
# only their end.
report=
# shellcheck disable=SC2317 # called by the EXIT trap
stop() {
	for dir in "${extra_dirs[@]}"; do
		CTMD_CLUSTER_DIR=$dir "$CTMD_ROOT/hack/cluster.sh" down || true
		rm -rf "$dir"
	done
	"$CTMD_ROOT/hack/cluster.sh" down || true
	rm -rf "$CTMD_CLUSTER_DIR"
	if [[ -n $report ]]; then
		log "what the failing tests reported:"
		printf '%s' "$report" >&2
	fi
}
trap stop EXIT
trap 'exit 130' INT TERM
# The kubernetes provider writes a temporary kubeconfig per run and never removes it: keep those
# (and the test build's scratch files) inside the directory the trap removes.
mkdir "$CTMD_CLUSTER_DIR/tmp"
export TMPDIR="$CTMD_CLUSTER_DIR/tmp"

# The Istio upgrade tests need a second chart version: the same charts, labelled one minor up.
IFS=. read -r major minor _ <<<"$ISTIO_VERSION"
export ISTIO_E2E_NEXT_VERSION="$major.$((minor + 1)).0"
export CTMD_CHART_VERSIONS="$ISTIO_VERSION,$ISTIO_E2E_NEXT_VERSION"

start=$SECONDS
# One after another: started side by side (each drawing ports from a range of its own) they were
# ready in 46 s instead of about 60, but the step took longer, as their start is bound by CPU too and
# took it from meshsim and rules (measured once, 17 min against 15).
"$CTMD_ROOT/hack/cluster.sh" up >/dev/null
CTMD_E2E_CLUSTERS=
for name in "${EXTRA_CLUSTERS[@]}"; do
	CTMD_CLUSTER_DIR=${extra_dirs[$name]} "$CTMD_ROOT/hack/cluster.sh" up >/dev/null
	# shellcheck source=/dev/null
	CTMD_E2E_CLUSTERS+="$name=$(source "${extra_dirs[$name]}/env" && echo "$KUBECONFIG") "
done
# KUBECONFIG, CTMD_CHART_REPO and CTMD_ARGO_ROLLOUTS_MANIFEST of the main cluster
# shellcheck source=/dev/null
source "$CTMD_CLUSTER_DIR/env"
export KUBECONFIG CTMD_CHART_REPO CTMD_ARGO_ROLLOUTS_MANIFEST CTMD_E2E_CLUSTERS
CTMD_ISTIO_MODULE_DIR=$(istio_module_dir) || die "could not download istio.io/istio@$ISTIO_CHARTS_MODULE_VERSION"
export CTMD_ISTIO_MODULE_DIR ISTIO_CHARTS_MODULE_VERSION ISTIO_VERSION
log "clusters ready in $(fmt_secs $((SECONDS - start)))"

PATH="$(tools_path):$PATH"
export PATH
export CTMD_E2E_KUBERNETES_PLUGIN="$PULUMI_KUBERNETES_DIR/pulumi-resource-kubernetes"
export PULUMI_KUBERNETES_VERSION
start=$SECONDS
cd "$CTMD_ROOT"
status=0
# -parallel: one slot per cluster, one for the preview-only test, and spares, since a test waiting
# for its cluster holds a slot too. -vet=off: make lint vets the suite (see lint-go in the Makefile).
go test -tags e2e -vet=off -count=1 -timeout 30m -parallel 11 -v ./test/e2e/ "$@" 2>&1 | tee "$CTMD_CLUSTER_DIR/e2e.log" ||
	status=$?
log "e2e tests finished in $(fmt_secs $((SECONDS - start))) (exit $status)"
if ((status)); then
	# The lanes' engine output interleaves with the failure: keep what the failing tests reported
	# (every test's own log line names its file and line) for the trap to repeat.
	report=$(awk '
		/^=== (RUN|CONT|NAME) / { test = $3; sub(/\/.*/, "", test) }
		/^ *--- FAIL: / { failed[$3] = 1 }
		/^ +[a-z_0-9]+_test\.go:[0-9]+: / { said[test] = said[test] $0 "\n" }
		END { for (t in failed) if (t in said) printf "%s:\n%s", t, said[t] }
	' "$CTMD_CLUSTER_DIR/e2e.log" || true)
	report=${report:+$report$'\n'}
fi
exit "$status"
