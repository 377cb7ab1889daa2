# Shared by the hack/ scripts (sourced, not run): where the repository, the pinned versions and the
# tool cache are, and how to report progress.
# shellcheck shell=bash disable=SC2034 # the variables are used by the scripts that source this file

CTMD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=versions.env
source "$CTMD_ROOT/versions.env"

# Outside the repository so a fresh clone reuses tools built by an earlier run (CI caches this).
CTMD_TOOLS_DIR=${CTMD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ctmd/tools}

# Never let the go command fetch a toolchain: only Go modules may be downloaded.
export GOTOOLCHAIN=local

log() { printf '[%s %s] %s\n' "$(date -u +%H:%M:%S)" "$(basename "$0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# tool_dir NAME VERSION: the cache directory one pinned tool is built into.
tool_dir() { printf '%s/%s-%s\n' "$CTMD_TOOLS_DIR" "$1" "$2"; }

PULUMI_DIR=$(tool_dir pulumi "$PULUMI_VERSION")
PULUMI_LANGUAGE_GO_DIR=$(tool_dir pulumi-language-go "$PULUMI_LANGUAGE_GO_VERSION")
PULUMI_KUBERNETES_DIR=$(tool_dir pulumi-resource-kubernetes "v$PULUMI_KUBERNETES_VERSION")
ETCD_DIR=$(tool_dir etcd "$ETCD_VERSION")
KUBERNETES_DIR=$(tool_dir kubernetes "$KUBERNETES_VERSION")
KWOK_DIR=$(tool_dir kwok "$KWOK_VERSION")
ISTIOCTL_DIR=$(tool_dir istioctl "$ISTIO_CHARTS_MODULE_VERSION")
# Keyed by the toolchain too: another compiler is another build.
ARGO_ROLLOUTS_DIR=$(tool_dir argo-rollouts "$ARGO_ROLLOUTS_VERSION-$NEWER_GO_TOOLCHAIN")
# The Prometheus server is built from the github.com/prometheus/prometheus module test/rules pins
# (v0.3XX.Y is Prometheus 3.XX.Y), as hack/rules.sh reads it, so the two share compiled packages.
PROMETHEUS_MODULE_VERSION=$(awk '$1 == "github.com/prometheus/prometheus" { print $2 }' \
	"$CTMD_ROOT/test/rules/go.mod")
PROMETHEUS_DIR=$(tool_dir prometheus "$PROMETHEUS_MODULE_VERSION")

# The PATH entries that put every pinned tool first. Not the language host's: the CLI finds it
# through the link tools.sh puts next to the CLI, and would warn about a second copy on PATH.
tools_path() {
	printf '%s:%s:%s:%s:%s:%s:%s\n' "$PULUMI_DIR" "$KUBERNETES_DIR" "$ETCD_DIR" "$KWOK_DIR" \
		"$ISTIOCTL_DIR" "$ARGO_ROLLOUTS_DIR" "$PROMETHEUS_DIR"
}

# module_dir MODULE@VERSION CHECK: download a Go module (once; the module cache keeps it) and print
# where it was extracted, if it holds the path CHECK. Outside any go.mod, so the project's
# requirements never see it.
module_dir() {
	local dir
	dir=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod GO111MODULE=on go mod download -json "$1" |
		sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[[ -n $dir && -e $dir/$2 ]] || return 1
	echo "$dir"
}

# istio_module_dir: the pinned istio.io/istio module, whose Istio charts the local cluster serves.
istio_module_dir() { module_dir "istio.io/istio@$ISTIO_CHARTS_MODULE_VERSION" manifests/charts; }

# cert_manager_module_dir: the github.com/cert-manager/cert-manager module at the pinned release,
# whose cert-manager chart the local cluster serves.
cert_manager_module_dir() {
	module_dir "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION" deploy/charts/cert-manager/Chart.yaml
}

# argo_rollouts_module_dir: the github.com/argoproj/argo-rollouts module at the pinned release,
# whose install manifest the local cluster serves. Its go.mod asks for a newer Go than
# GOTOOLCHAIN=local allows, so go mod download extracts it but then reports that as an error and
# prints no Dir: only a file of it is read here, so the directory is asked of go list -m, which
# reads a module whatever Go its go.mod names (hack/tools.sh builds the controller with that Go).
argo_rollouts_module_dir() {
	local mod=github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION dir
	(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod GO111MODULE=on go mod download "$mod" >/dev/null 2>&1) || true
	dir=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod GO111MODULE=on go list -m -f '{{.Dir}}' "$mod") || return 1
	[[ -n $dir && -e $dir/manifests/install.yaml ]] || return 1
	echo "$dir"
}

# with_build_gc COMMAND...: run a command that compiles with the garbage collector settings of
# versions.env (GO_BUILD_GOGC, GO_BUILD_GOMEMLIMIT); the programs under test keep Go's defaults.
with_build_gc() { GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT "$@"; }

# fmt_secs N: "3m14s".
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# render_and_check NAME VERSION RENDER_TEST RENDER_DIR_VAR [test flags...]: the offline checks of
# what the program renders (test/NAME, a Go module of its own). Its test binary is built once per
# VERSION of the engine it links and its sources into $CTMD_TOOLS_DIR/NAME-VERSION/ and reused while
# neither changes; then infra/stack's RENDER_TEST writes the rendered files into a fresh directory
# named by RENDER_DIR_VAR, and the binary checks them.
render_and_check() {
	local name=$1 version=$2 render_test=$3 render_var=$4
	shift 4
	local src=$CTMD_ROOT/test/$name dir key start out
	dir=$(tool_dir "$name" "$version")
	# Everything the binary is built from besides the module cache: the sources, go.mod, go.sum and Go.
	key=$( (cd "$src" && cat go.mod go.sum ./*.go && go env GOVERSION) | sha256sum | cut -c1-16)
	if [[ $(cat "$dir/.built" 2>/dev/null) != "$key" ]]; then
		start=$SECONDS
		log "building the $name test binary (key $key) into $dir"
		mkdir -p "$dir"
		rm -f "$dir/.built"
		# The main module's make lint does not reach this module; vet it whenever its sources change,
		# once: go test's own vet would type-check every dependency (most of istiod) a second time.
		(cd "$src" && with_build_gc go vet . && with_build_gc go test -vet=off -c -o "$dir/$name.test" .)
		echo "$key" >"$dir/.built"
		log "$name built in $(fmt_secs $((SECONDS - start)))"
	fi

	out=$(mktemp -d "${TMPDIR:-/tmp}/ctmd-$name.XXXXXX")
	# shellcheck disable=SC2064 # out is fixed now; the trap runs when the calling script exits
	trap "rm -rf '$out'" EXIT
	export "$render_var=$out"
	start=$SECONDS
	(cd "$CTMD_ROOT" && go test -vet=off -count=1 -run "^$render_test\$" ./infra/stack/)
	log "rendered $(find "$out" -name '*.yaml' | wc -l) files in $(fmt_secs $((SECONDS - start)))"
	start=$SECONDS
	(cd "$src" && "$dir/$name.test" "$@")
	log "$name passed in $(fmt_secs $((SECONDS - start)))"
}
