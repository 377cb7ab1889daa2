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

dir=$(tool_dir rules "$version")
# Everything the binary is built from besides the module cache: the sources, go.mod, go.sum and Go.
key=$( (cd "$src" && cat go.mod go.sum ./*.go && go env GOVERSION) | sha256sum | cut -c1-16)
if [[ $(cat "$dir/.built" 2>/dev/null) != "$key" ]]; then
	start=$SECONDS
	log "building the rules test binary (key $key) into $dir"
	mkdir -p "$dir"
	rm -f "$dir/.built"
	# The main module's make lint does not reach this module; vet it whenever its sources change.
	(cd "$src" && go vet . && go test -c -o "$dir/rules.test" .)
	echo "$key" >"$dir/.built"
	log "rules built in $(fmt_secs $((SECONDS - start)))"
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/ctmd-rules.XXXXXX")
trap 'rm -rf "$out"' EXIT
export CTMD_RULES_RENDER_DIR=$out
start=$SECONDS
(cd "$CTMD_ROOT" && go test -count=1 -run '^TestRenderAlertRules$' ./infra/stack/)
log "rendered $(find "$out" -name '*.yaml' | wc -l) rule files in $(fmt_secs $((SECONDS - start)))"
start=$SECONDS
(cd "$src" && "$dir/rules.test" "$@")
log "rules passed in $(fmt_secs $((SECONDS - start)))"
