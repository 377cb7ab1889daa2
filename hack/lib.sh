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

# The PATH entries that put every pinned tool first. Not the language host's: the CLI finds it
# through the link tools.sh puts next to the CLI, and would warn about a second copy on PATH.
tools_path() {
	printf '%s:%s:%s:%s:%s\n' "$PULUMI_DIR" "$KUBERNETES_DIR" "$ETCD_DIR" "$KWOK_DIR" "$ISTIOCTL_DIR"
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

# fmt_secs N: "3m14s".
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
