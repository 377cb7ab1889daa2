#!/usr/bin/env bash
# Builds the pinned real-engine toolchain (Pulumi CLI, kubernetes provider plugin, Go language host,
# etcd, the Kubernetes control plane and kubectl, kwok, istioctl, the Argo Rollouts controller, a
# Prometheus server) from the Go module proxy into
# $CTMD_TOOLS_DIR/<name>-<version>/. Only Go modules are downloaded: every tool is built from source in
# a throwaway wrapper module outside the repository, but Prometheus, built in test/rules (see
# build_prometheus). A tool whose directory holds the .built marker
# is skipped; the marker is written last, so an interrupted build is redone. Two lanes of builds run
# side by side (see the end); the provider and Kubernetes builds peak at 5 to 6 GB each.
#
#   hack/tools.sh          build what is missing
#   hack/tools.sh path     print the PATH entries of the tools
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

if [[ ${1:-} == path ]]; then
	tools_path
	exit 0
fi
[[ $# -eq 0 ]] || die "usage: $0 [path]"

# The engine loads the plugin version the SDK in go.mod names, and the Automation API talks to the CLI
# of its own release: a mismatch only shows up deep inside a run, so refuse it here.
gomod_version() { awk -v m="$1" '$1 == m { print $2 }' "$CTMD_ROOT/go.mod"; }
check_pin() {
	local mod=$1 want=$2 key=$3 got
	got=$(gomod_version "$mod")
	[[ $got == "$want" ]] ||
		die "versions.env has $key=${!key} but go.mod requires $mod ${got:-(nothing)}; make them equal"
}
check_pin github.com/pulumi/pulumi-kubernetes/sdk/v4 "v$PULUMI_KUBERNETES_VERSION" PULUMI_KUBERNETES_VERSION
check_pin github.com/pulumi/pulumi/sdk/v3 "$PULUMI_VERSION" PULUMI_VERSION

# Everything below compiles (the tools' version checks are the only programs run).
export GOGC=$GO_BUILD_GOGC GOMEMLIMIT=$GO_BUILD_GOMEMLIMIT

mkdir -p "$CTMD_TOOLS_DIR"
exec 9>"$CTMD_TOOLS_DIR/.lock"
flock -n 9 || { log "another tools.sh is building; waiting for it"; flock 9; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ctmd-tools.XXXXXX")
trap 'rm -rf "$work"' EXIT

# wrapper NAME: a fresh, empty module to build one tool in.
wrapper() {
	local dir="$work/$1"
	rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
	go mod init "ctmd-tools/$1" >/dev/null 2>&1
}

# module_dir MODULE@VERSION: download one module and print where it was extracted.
module_dir() { go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
module_gomod() { go mod download -json "$1" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p'; }

# build NAME VERSION DIR FUNCTION: run FUNCTION to fill DIR unless DIR is already complete. Called in
# a lane, which reports the build it was in when it fails.
build() {
	local name=$1 version=$2 dir=$3 fn=$4 start=$SECONDS
	if [[ -f $dir/.built ]]; then
		log "$name $version: cached in $dir"
		return
	fi
	log "$name $version: building into $dir"
	building="$name $version"
	rm -rf "$dir" && mkdir -p "$dir"
	(set -euo pipefail; "$fn" "$dir")
	building=""
	printf 'built %s %s in %ss\n' "$name" "$version" $((SECONDS - start)) >"$dir/.built"
	log "$name $version: built in $(fmt_secs $((SECONDS - start))) ($(du -sh "$dir" | cut -f1))"
}

# Two flag sets, each of which make test has compiled the standard library with already: Go's
# defaults (as make test, and the engine's builds of the program) for the Pulumi tools, istioctl and
# Prometheus, and the image's static set (CGO_ENABLED=0 -trimpath, as make image-bin) for the
# cluster's servers and Argo Rollouts (whose newer toolchain compiles its own standard library).
build_pulumi() {
	wrapper pulumi
	# pkg/v3 carries replace directives, so `go install pkg@version` is refused; the wrapper copies the
	# one that points at another module.
	go mod edit -require="github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" \
		-require="github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION" \
		-replace=github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e
	go build -mod=mod -o "$1/pulumi" \
		-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
		github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
	"$1/pulumi" version
}

build_kubernetes_plugin() {
	wrapper pulumi-resource-kubernetes
	local mod=github.com/pulumi/pulumi-kubernetes/provider/v4@$PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION src
	# The module zip lacks the schema files the plugin embeds: regenerate them the way the provider's
	# own build does, from the command's sources copied into the wrapper.
	src=$(module_dir "$mod")
	[[ -n $src ]] || die "could not download $mod"
	find "$src/cmd/pulumi-resource-kubernetes" -maxdepth 1 -type f -exec cp {} . \;
	chmod -R u+w .
	go mod edit -require="$mod" \
		-require="github.com/pulumi/pulumi-kubernetes/sdk/v4@v$PULUMI_KUBERNETES_VERSION"
	VERSION=$PULUMI_KUBERNETES_VERSION go run -mod=mod generate.go
	go build -mod=mod -o "$1/pulumi-resource-kubernetes" \
		-ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_VERSION" .
}

build_language_go() {
	wrapper pulumi-language-go
	go mod edit -require="github.com/pulumi/pulumi/sdk/v3@$PULUMI_LANGUAGE_GO_VERSION" \
		-replace=golang.org/x/text=golang.org/x/text@v0.3.6
	go build -mod=mod -o "$1/pulumi-language-go" \
		-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_LANGUAGE_GO_VERSION" \
		github.com/pulumi/pulumi/sdk/v3/go/pulumi-language-go
}

build_etcd() {
	wrapper etcd
	go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
	CGO_ENABLED=0 go build -mod=mod -trimpath -o "$1/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3
	"$1/etcd" --version
}

build_kubernetes() {
	wrapper kubernetes
	local mod=k8s.io/kubernetes@$KUBERNETES_VERSION gomod staging minor
	# k8s.io/kubernetes points each staging module at a folder of its own repository; use the
	# published module of the same release instead (v1.X.Y ships staging modules v0.X.Y).
	gomod=$(module_gomod "$mod")
	[[ -n $gomod ]] || die "could not download the go.mod of $mod"
	local args=(-require="$mod")
	while read -r staging; do
		args+=(-replace="$staging=$staging@v0.${KUBERNETES_VERSION#v1.}")
	done < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$gomod")
	log "kubernetes: ${#args[@]} module edits (staging modules replaced by v0.${KUBERNETES_VERSION#v1.})"
	go mod edit "${args[@]}"
	minor=${KUBERNETES_VERSION#v1.}
	minor=${minor%%.*}
	local ldflags="-s -w" pkg
	# Without these the servers report v0.0.0, which clients (and kwok) reject or misjudge.
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
		ldflags+=" -X $pkg.gitTreeState=clean"
	done
	CGO_ENABLED=0 go build -mod=mod -trimpath -o "$1/" -ldflags "$ldflags" \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler \
		k8s.io/kubernetes/cmd/kubectl
	"$1/kubectl" version --client
}

build_kwok() {
	wrapper kwok
	go mod edit -require="sigs.k8s.io/kwok@$KWOK_VERSION"
	CGO_ENABLED=0 go build -mod=mod -trimpath -o "$1/kwok" \
		-ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
}

build_istioctl() {
	wrapper istioctl
	go mod edit -require="istio.io/istio@$ISTIO_CHARTS_MODULE_VERSION"
	# Built like test/meshsim, so the two share the compiled istiod packages in the Go build cache:
	# whichever comes second costs about a minute, not five.
	go build -mod=mod -o "$1/istioctl" \
		-ldflags "-s -w -X istio.io/istio/pkg/version.buildVersion=$ISTIO_CHARTS_MODULE_VERSION" \
		istio.io/istio/istioctl/cmd/istioctl
	"$1/istioctl" version --remote=false
}

# The Argo Rollouts controller (ARGO_ROLLOUTS_VERSION), for the e2e progressive-delivery tests. Two
# things set it apart from the other wrapper builds:
# - Its go.mod asks for a newer Go than this machine's (go 1.26.10 in v1.10.2), which
#   GOTOOLCHAIN=local (lib.sh) refuses. This build alone runs with NEWER_GO_TOOLCHAIN (versions.env),
#   which the go command fetches as a module from the module proxy (about 10 s once, then kept in
#   the module cache), so nothing of the upstream module is changed. Not GOTOOLCHAIN=auto: that
#   takes the newest patch the proxy lists, which would change under a pinned release. Another
#   compiler shares nothing in the build cache, so this build compiles its own standard library.
# - Its replace directives (the k8s.io modules, Kubernetes' staging modules among them, => v0.34.5,
#   and a few forks) are ignored in a dependency: the wrapper repeats every one whose target is a
#   module version (a local folder could not be), read from the module's go.mod.
build_argo_rollouts() {
	wrapper argo-rollouts
	local mod=github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION gomod go_version
	# go list reads the go.mod whatever Go it asks for (go mod download refuses it under local).
	gomod=$(go list -m -f '{{.GoMod}}' "$mod")
	[[ -f $gomod ]] || die "could not download the go.mod of $mod"
	go_version=$(awk '$1 == "go" { print $2 }' "$gomod")
	[[ $go_version == *.*.* ]] || die "$mod: no go line with a release (go 1.N.P) in its go.mod"
	[[ $(printf '%s\n' "$go_version" "${NEWER_GO_TOOLCHAIN#go}" | sort -V | head -n 1) == "$go_version" ]] ||
		die "$mod asks for go $go_version, newer than NEWER_GO_TOOLCHAIN=$NEWER_GO_TOOLCHAIN: raise it in versions.env"
	export GOTOOLCHAIN=$NEWER_GO_TOOLCHAIN
	local args=(-go="$go_version" -require="$mod") replace
	while read -r replace; do
		args+=(-replace="$replace")
	done < <(awk '
		{ sub(/\/\/.*/, "") }
		$1 == "replace" && $2 == "(" { block = 1; next }
		block && $1 == ")" { block = 0; next }
		!block && $1 != "replace" { next }
		$1 == "replace" { $1 = ""; $0 = $0 }
		{
			for (i = 1; i <= NF && $i != "=>"; i++) {}
			old = (i == 2) ? $1 : $1 "@" $2
			if (NF == i + 2) print old "=" $(i + 1) "@" $(i + 2)
		}' "$gomod")
	((${#args[@]} > 2)) || die "$mod: no replace directive found in its go.mod"
	log "argo-rollouts: $GOTOOLCHAIN, $((${#args[@]} - 2)) replace directives copied from its go.mod"
	go mod edit "${args[@]}"
	# The version the controller logs and prints: its utils/version variables. The proxy does not
	# say which commit the tag is, and without one it appends "+unknown" (v1.10.2+unknown).
	local pkg=github.com/argoproj/argo-rollouts/utils/version ldflags="-s -w"
	ldflags+=" -X $pkg.version=${ARGO_ROLLOUTS_VERSION#v} -X $pkg.gitTag=$ARGO_ROLLOUTS_VERSION"
	ldflags+=" -X $pkg.gitTreeState=clean"
	CGO_ENABLED=0 go build -mod=mod -trimpath -o "$1/rollouts-controller" -ldflags "$ldflags" \
		github.com/argoproj/argo-rollouts/cmd/rollouts-controller
	"$1/rollouts-controller" --version
}

# A Prometheus server for the e2e progressive-delivery tests, built from the
# github.com/prometheus/prometheus module test/rules pins, inside test/rules (whose tools.go keeps the
# server's requirements in its go.sum), with the flags hack/rules.sh's `go test -c` uses (Go's
# defaults; -ldflags only changes the link): the two share every compiled package they have in
# common (764 of the server's 1044 packages: the rules binary built after it takes 48 s, not 3.5
# min). -tags remove_all_sd is Prometheus's own tag that leaves out every service discovery plugin
# (plugins/*.go) and the cloud and Kubernetes SDKs only they use (1044 packages instead of 1518);
# static and file_sd configs remain. Not the release's tags: netgo would recompile net and all that uses
# it, and builtinassets needs the web UI's generated assets, which the module lacks (the API and
# the scrapes work without them). Cached by the pinned version, like the other tools: a change of
# test/rules/go.sum alone does not rebuild it.
build_prometheus() {
	[[ -n $PROMETHEUS_MODULE_VERSION ]] ||
		die "test/rules/go.mod requires no github.com/prometheus/prometheus"
	cd "$CTMD_ROOT/test/rules"
	local src version
	go mod download github.com/prometheus/prometheus
	src=$(go list -m -f '{{.Dir}}' github.com/prometheus/prometheus)
	version=$(cat "$src/VERSION")
	go build -tags remove_all_sd -o "$1/prometheus" \
		-ldflags "-s -w -X github.com/prometheus/common/version.Version=$version" \
		github.com/prometheus/prometheus/cmd/prometheus
	"$1/prometheus" --version
}

pulumi_lane() {
	build pulumi-resource-kubernetes "v$PULUMI_KUBERNETES_VERSION" "$PULUMI_KUBERNETES_DIR" build_kubernetes_plugin
	build pulumi "$PULUMI_VERSION" "$PULUMI_DIR" build_pulumi
	build pulumi-language-go "$PULUMI_LANGUAGE_GO_VERSION" "$PULUMI_LANGUAGE_GO_DIR" build_language_go
	build prometheus "$PROMETHEUS_MODULE_VERSION" "$PROMETHEUS_DIR" build_prometheus
}

cluster_lane() {
	build kubernetes "$KUBERNETES_VERSION" "$KUBERNETES_DIR" build_kubernetes
	build etcd "$ETCD_VERSION" "$ETCD_DIR" build_etcd
	build kwok "$KWOK_VERSION" "$KWOK_DIR" build_kwok
	# istioctl of the snapshot whose charts the e2e installs: the e2e's `istioctl analyze` and make analyze.
	build istioctl "$ISTIO_CHARTS_MODULE_VERSION" "$ISTIOCTL_DIR" build_istioctl
	build argo-rollouts "$ARGO_ROLLOUTS_VERSION" "$ARGO_ROLLOUTS_DIR" build_argo_rollouts
}

# lane FUNCTION: run one lane's builds in order, naming the build it was in if one fails.
lane() {
	building=""
	trap 'status=$?; ((status == 0)) || log "ERROR: building $building failed (exit $status); it is not cached, run again to retry"' EXIT
	"$1"
}

total=$SECONDS
# Two lanes side by side, because one go build keeps two cores busy only part of the time: its links
# and its largest packages run on one core (kwok from an empty build cache: 174% CPU, measured).
# The lanes take about the same time one build at a time (Pulumi's 14 min and Prometheus's 5, the
# cluster's 12.5 and Argo Rollouts' 8.5; measured cold, each alone, on two busy cores).
# A failure stops only its own lane: what the other finishes is cached for the retry.
(lane pulumi_lane) &
pulumi_pid=$!
(lane cluster_lane) &
cluster_pid=$!
failed=0
wait "$pulumi_pid" || failed=1
wait "$cluster_pid" || failed=1
((failed == 0)) || die "a tool build failed (its error is above)"
# Not a build: the Istio charts the local cluster serves, fetched now so make tools is the one step
# that needs the module proxy.
istio_module_dir >/dev/null || die "could not download istio.io/istio@$ISTIO_CHARTS_MODULE_VERSION"
log "Istio charts: istio.io/istio@$ISTIO_CHARTS_MODULE_VERSION in the module cache"
cert_manager_module_dir >/dev/null || die "could not download github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION"
log "cert-manager chart: github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION in the module cache"
argo_rollouts_module_dir >/dev/null || die "could not download github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION"
log "Argo Rollouts manifest: github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION in the module cache"
# Pulumi's own releases ship the language hosts next to the CLI, and that is where the CLI looks
# when PULUMI_IGNORE_AMBIENT_PLUGINS is set (and where it looks first, without a warning, otherwise).
# The host goes there behind hack/pulumi-language-go.sh, which says why, written beside and renamed
# so that a pulumi running meanwhile finds the old file or the new one.
sed "s|@HOST@|'$PULUMI_LANGUAGE_GO_DIR/pulumi-language-go'|" "$CTMD_ROOT/hack/pulumi-language-go.sh" >"$PULUMI_DIR/.pulumi-language-go.new"
chmod +x "$PULUMI_DIR/.pulumi-language-go.new"
mv -fT "$PULUMI_DIR/.pulumi-language-go.new" "$PULUMI_DIR/pulumi-language-go"
log "all tools ready in $(fmt_secs $((SECONDS - total))); PATH entries: $(tools_path)"
