#!/usr/bin/env bash
# Runs test/meshsim: renders the mesh resources the program declares (a mock run, infra/stack
# TestRenderMeshResources), then runs them through Istio's own config-to-Envoy translation and
# traffic simulation. The test binary links most of istiod, so it is built once per Istio snapshot
# and test sources into $CTMD_TOOLS_DIR/meshsim-<snapshot>/ and reused while neither changes.
# TestEngineSteps also needs CTMD_MESH_ENGINE_STEPS, the steps of a live release make e2e recorded;
# without it, it is skipped.
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

render_and_check meshsim "$ISTIO_CHARTS_MODULE_VERSION" TestRenderMeshResources CTMD_MESH_RENDER_DIR "$@"
