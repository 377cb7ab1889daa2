#!/usr/bin/env bash
# Runs test/rules: renders the alert rules the program exports (a mock run, infra/stack
# TestRenderAlertRules), then checks them with Prometheus's own rule engine against synthetic
# series. The test binary links Prometheus's PromQL engine and rules manager, so it is built once
# per Prometheus version and test sources into $CTMD_TOOLS_DIR/rules-<version>/ and reused while
# neither changes.
#
#   hack/rules.sh [go test flags, e.g. -test.run TestFastPage -test.v]
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

src=$CTMD_ROOT/test/rules
version=$(awk '$1 == "github.com/prometheus/prometheus" { print $2 }' "$src/go.mod")
[[ -n $version ]] || die "test/rules/go.mod requires no github.com/prometheus/prometheus"

render_and_check rules "$version" TestRenderAlertRules CTMD_RULES_RENDER_DIR "$@"
