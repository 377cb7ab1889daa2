#!/usr/bin/env bash
# make bench-iac: what `pulumi` costs on the local cluster, run as a user runs it (the pinned CLI and
# Go language host, Istio's charts from the loopback repository, the app, defaults otherwise): the
# first `pulumi up --yes`, three `pulumi preview --expect-no-changes`, the state's size and its
# resource count. Three times, each on a fresh cluster of its own: the program as Pulumi.yaml runs it
# now (binary: built by make infra-bin, run as it is), with the host's buildTarget (go build on each
# run, which skips the link while the sources are unchanged), and as it was built before (runtime:
# go alone: linked into a new temporary file on every run), so they compare in one run on the same
# machine at the same hour. Figures, not assertions: BENCH_IAC_RUNS previews.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

for bin in "$PULUMI_DIR/pulumi" "$PULUMI_KUBERNETES_DIR/pulumi-resource-kubernetes"; do
	[[ -x $bin ]] || die "$bin is missing: run make tools (hack/tools.sh) first"
done
runs=${BENCH_IAC_RUNS:-3}
# A background job of a non-interactive shell (`make bench-iac &`, `nohup ... &`) starts with SIGINT
# ignored, and the CLI's plugins inherit that: the CLI then waits about 5 s for each plugin it asks
# to stop, which doubled every preview here (measured). SIGINT is the second bit of SigIgn.
if [[ -r /proc/$$/status ]] && (($(printf '%d' "0x$(awk '/^SigIgn:/ { print $2 }' "/proc/$$/status")") & 2)); then
	log "WARNING: started with SIGINT ignored (a background job?): each pulumi run waits about 5 s for its plugins to stop; run it in the foreground"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ctmd-bench-iac.XXXXXX")
# shellcheck disable=SC2317 # called by the EXIT trap
stop() {
	for cluster in "$work"/*-cluster; do
		[[ -d $cluster ]] && CTMD_CLUSTER_DIR=$cluster "$CTMD_ROOT/hack/cluster.sh" down >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM
PATH="$(tools_path):$PATH"
export PATH PULUMI_SKIP_UPDATE_CHECK=true PULUMI_CONFIG_PASSPHRASE=bench-only PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

# seconds COMMAND...: runs COMMAND (its output to the layout's log) and prints its wall time.
seconds() {
	local start end
	start=$(date +%s.%N)
	"$@" >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "$* failed (log above)"; }
	end=$(date +%s.%N)
	awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }'
}

# bench LAYOUT LABEL [GOFLAGS]: one layout's figures (its project in $work/LAYOUT), as a line of the
# table; GOFLAGS reaches the language host's go build.
bench() {
	local layout=$1 label=$2 goflags=${3:-} project=$work/$1 cluster=$work/$1-cluster home=$work/$1-home up previews=() state checkpoint count
	log="$work/$layout.log"
	mkdir -p "$home" "$work/$layout-state"
	CTMD_CLUSTER_DIR=$cluster "$CTMD_ROOT/hack/cluster.sh" up >/dev/null 2>>"$log"
	# shellcheck source=/dev/null
	source "$cluster/env" # KUBECONFIG and CTMD_CHART_REPO
	export KUBECONFIG PULUMI_HOME=$home PULUMI_BACKEND_URL=file://$work/$layout-state GOFLAGS=$goflags
	# The language host starts in the checkout's infra/: tell hack/pulumi-language-go.sh whose
	# runtime options to pass.
	export CTMD_PULUMI_PROJECT=$project/Pulumi.yaml
	pulumi plugin install resource kubernetes "v$PULUMI_KUBERNETES_VERSION" \
		--file "$PULUMI_KUBERNETES_DIR/pulumi-resource-kubernetes" >>"$log" 2>&1
	cd "$project"
	pulumi stack init bench --secrets-provider passphrase >>"$log" 2>&1
	pulumi config set target existing
	pulumi config set istioChartRepository "$CTMD_CHART_REPO"
	# Pinned by digest in the allowed repository, as the admission policy requires (kwok pulls nothing).
	pulumi config set allowedImageRepository registry.example.test/ctmd
	pulumi config set image "registry.example.test/ctmd/marketdata:v1.0.0@sha256:$(printf 'a%.0s' {1..64})"
	pulumi config set --secret mongoConnectionString 'mongodb://bench:bench@mongo.example.test:27017/'
	up=$(seconds pulumi up --yes)
	for _ in $(seq "$runs"); do previews+=("$(seconds pulumi preview --expect-no-changes)"); done
	pulumi stack export >"$work/$layout.export.json"
	state=$(wc -c <"$work/$layout.export.json")
	checkpoint=$(wc -c <"$work/$layout-state/.pulumi/stacks/ctmd/bench.json")
	# One "urn" key per resource, at the depth pulumi stack export indents deployment.resources[].
	count=$(grep -c '^                "urn": ' "$work/$layout.export.json")
	cd "$CTMD_ROOT"
	CTMD_CLUSTER_DIR=$cluster "$CTMD_ROOT/hack/cluster.sh" down >/dev/null 2>>"$log"
	printf '%-34s %8s %22s %12s %12s %10s\n' "$label" "$up" "${previews[*]}" \
		"$(awk -v b="$state" 'BEGIN { printf "%.2f MB", b / 1e6 }')" \
		"$(awk -v b="$checkpoint" 'BEGIN { printf "%.2f MB", b / 1e6 }')" "$count"
}

# Each layout is a project file in a directory of its own (the stack's settings file goes there, not
# into the checkout) naming the checkout's program. Now: Pulumi.yaml as it is (its binary is
# relative to main, the checkout's infra/); buildTarget: the runtime's options replaced by a
# buildTarget of its own; before: no runtime options. The host's builds get the stamp make
# infra-bin gives (through GOFLAGS), or the program would refuse to run as unstamped.
now=$work/now target=$work/target before=$work/before
mkdir -p "$now" "$target" "$before"
sed -e "s|^main: .*|main: $CTMD_ROOT/infra/|" "$CTMD_ROOT/Pulumi.yaml" >"$now/Pulumi.yaml"
sed "/^runtime:/,/^main:/c\\runtime:\\n  name: go\\n  options:\\n    buildTarget: $CTMD_ROOT/bin/ctmd-infra-buildtarget\\nmain: $CTMD_ROOT/infra/" \
	"$CTMD_ROOT/Pulumi.yaml" >"$target/Pulumi.yaml"
sed "/^runtime:/,/^main:/c\\runtime: go\\nmain: $CTMD_ROOT/infra/" "$CTMD_ROOT/Pulumi.yaml" >"$before/Pulumi.yaml"
stamp="-ldflags=-X=github.com/cryptotracker/ctmd/infra/internal/source.built=$(cd "$CTMD_ROOT" && go run ./infra/cmd/source-digest)"

# The link a changed source costs (make infra-bin, which make bench-iac ran first, skips it when
# nothing changed), shown on its own: the buildTarget layout's first build.
start=$SECONDS
(cd "$CTMD_ROOT/infra" && GOFLAGS=$stamp go build -o ../bin/ctmd-infra-buildtarget)
log "program built into bin/ctmd-infra-buildtarget (the link after a change of its sources) in $((SECONDS - start))s"

printf '%-34s %8s %22s %12s %12s %10s\n' layout "first up" "no-op previews (s)" "state" checkpoint resources
bench now "binary (now)"
bench target "buildTarget" "$stamp"
bench before "temporary build (before)" "$stamp"
log "state: pulumi stack export (indented JSON); checkpoint: the file the backend rewrites after each step"
