#!/usr/bin/env bash
# Runs test/meshsim: renders the mesh resources the program declares (a mock run, infra/stack
# TestRenderMeshResources), then runs them through Istio's own config-to-Envoy translation and
# traffic simulation. The test binary links most of istiod, so it is built once per Istio snapshot
# and test sources into $CTMD_TOOLS_DIR/meshsim-<snapshot>/ and reused while neither changes.
#
#   hack/meshsim.sh [go test flags, e.g. -test.run TestGateway -test.v]
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

src=$CTMD_ROOT/test/meshsim
# The module must test the charts' snapshot, not whatever its go.mod drifted to.
pinned=$(awk '$1 == "istio.io/istio" { print $2 }' "$src/go.mod")
[[ $pinned == "$ISTIO_CHARTS_MODULE_VERSION" ]] ||
	die "test/meshsim/go.mod requires istio.io/istio ${pinned:-(nothing)} but versions.env has ISTIO_CHARTS_MODULE_VERSION=$ISTIO_CHARTS_MODULE_VERSION; make them equal"

dir=$(tool_dir meshsim "$ISTIO_CHARTS_MODULE_VERSION")
# Everything the binary is built from besides the module cache: the sources, go.mod, go.sum and Go.
key=$( (cd "$src" && cat go.mod go.sum ./*.go && go env GOVERSION) | sha256sum | cut -c1-16)
if [[ $(cat "$dir/.built" 2>/dev/null) != "$key" ]]; then
	start=$SECONDS
	log "building the meshsim test binary (key $key) into $dir"
	mkdir -p "$dir"
	rm -f "$dir/.built"
	# The main module's make lint does not reach this module; vet it whenever its sources change.
	(cd "$src" && go vet . && go test -c -o "$dir/meshsim.test" .)
	echo "$key" >"$dir/.built"
	log "meshsim built in $(fmt_secs $((SECONDS - start)))"
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/ctmd-meshsim.XXXXXX")
trap 'rm -rf "$out"' EXIT
export CTMD_MESH_RENDER_DIR=$out
start=$SECONDS
(cd "$CTMD_ROOT" && go test -count=1 -run '^TestRenderMeshResources$' ./infra/stack/)
log "rendered $(find "$out" -name '*.yaml' | wc -l) files in $(fmt_secs $((SECONDS - start)))"
start=$SECONDS
(cd "$src" && "$dir/meshsim.test" "$@")
log "meshsim passed in $(fmt_secs $((SECONDS - start)))"
