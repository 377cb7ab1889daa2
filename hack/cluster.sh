#!/usr/bin/env bash
# A local Kubernetes control plane on loopback for the real-engine tests: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (one fake node), built by hack/tools.sh, plus a Helm
# repository on loopback serving Istio's real charts (base, istiod, gateway) from the istio.io/istio
# module pinned in versions.env, so `pulumi up` installs Istio exactly as it would from Istio's own
# repository. Those charts are the module commit's (Istio's development branch), packaged under the
# versions in $CTMD_CHART_VERSIONS (default $ISTIO_VERSION); test/chartrepo says why. The same server
# serves Argo Rollouts' install manifest of the release $ARGO_ROLLOUTS_VERSION, from its module.
#
#   hack/cluster.sh up     start it; prints the kubeconfig path; $CTMD_CLUSTER_DIR/env exports
#                          KUBECONFIG, CTMD_CHART_REPO (the chart repository's URL) and
#                          CTMD_ARGO_ROLLOUTS_MANIFEST (the manifest's URL, for
#                          ctmd:argoRolloutsManifestUrl)
#   hack/cluster.sh down   stop every process it started, by PID, and remove its state
#
# State (certificates, etcd data, logs, PIDs, kubeconfig) lives in $CTMD_CLUSTER_DIR, by default
# ${XDG_RUNTIME_DIR:-/tmp}/ctmd-cluster; set it to run several clusters side by side.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

state=${CTMD_CLUSTER_DIR:-${XDG_RUNTIME_DIR:-/tmp}/ctmd-cluster}
pids=$state/pids
node=kwok-node-0

# free_port VAR: sets VAR to a random loopback port that nothing listens on and no earlier call
# gave (the process that takes it is checked later), below the kernel's ephemeral range: a port
# there can be the local end of a client connection (make e2e runs several clusters, engines and
# providers at once), and then binding it fails.
ports_taken=" "
free_port() {
	local port low=32768
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	for _ in $(seq 100); do
		port=$((10000 + RANDOM % (low - 10000)))
		if [[ $ports_taken != *" $port "* ]] && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			ports_taken+="$port "
			printf -v "$1" '%s' "$port"
			return
		fi
	done
	die "no free loopback port found"
}

# start NAME BINARY ARGS...: run one component in the background, its output in $state/NAME.log,
# in a session of its own so a Ctrl-C meant for the shell that ran `up` does not reach it.
start() {
	local name=$1
	shift
	setsid "$@" >"$state/$name.log" 2>&1 </dev/null &
	echo "$! $name $1" >>"$pids"
	log "$name started (pid $!)"
}

# alive PID BINARY: true while PID is still the process we started (PIDs are reused).
alive() { [[ -r /proc/$1/cmdline ]] && tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | head -1 | grep -qxF "$2"; }

# wait_for WHAT SECONDS COMMAND...: poll COMMAND until it succeeds; on time-out show the logs.
wait_for() {
	local what=$1 limit=$2 deadline=$((SECONDS + $2))
	shift 2
	until "$@" >/dev/null 2>&1; do
		while read -r pid name bin; do
			alive "$pid" "$bin" || { tail -n 30 "$state/$name.log" >&2; die "$name exited while waiting for $what"; }
		done <"$pids"
		((SECONDS < deadline)) || { tail -n 20 "$state"/*.log >&2; die "timed out after ${limit}s waiting for $what"; }
		sleep 0.5
	done
	log "$what: ok after $((SECONDS - deadline + limit))s"
}

certificates() {
	local pki=$state/pki
	mkdir -p "$pki"
	cd "$pki"
	# EC keys: generating RSA keys is the slowest part of start-up on a loaded 2-core machine.
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 -subj /CN=ctmd-local-ca \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	sign() { # NAME SUBJECT EXTENSIONS
		openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile <(printf '%b' "$3") -out "$1.crt" 2>/dev/null
	}
	sign apiserver /CN=kube-apiserver "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	# One identity in system:masters for every client: this cluster exists only for local tests.
	sign admin "/O=system:masters/CN=ctmd-admin" "extendedKeyUsage=clientAuth"
	openssl genrsa -out sa.key 2048 2>/dev/null
	openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	cd - >/dev/null
}

kubeconfig() { # SERVER
	local pki=$state/pki
	cat >"$state/kubeconfig" <<-YAML
		apiVersion: v1
		kind: Config
		clusters:
		- name: ctmd-local
		  cluster:
		    server: $1
		    certificate-authority: $pki/ca.crt
		users:
		- name: ctmd-admin
		  user:
		    client-certificate: $pki/admin.crt
		    client-key: $pki/admin.key
		contexts:
		- name: ctmd-local
		  context:
		    cluster: ctmd-local
		    user: ctmd-admin
		current-context: ctmd-local
	YAML
	chmod 600 "$state/kubeconfig"
}

up() {
	for cmd in openssl setsid; do
		command -v "$cmd" >/dev/null || die "$cmd is needed (Debian: apt-get install openssl util-linux)"
	done
	for bin in "$ETCD_DIR/etcd" "$KUBERNETES_DIR/kube-apiserver" "$KWOK_DIR/kwok"; do
		[[ -x $bin ]] || die "$bin is missing: run make tools (hack/tools.sh) first"
	done
	local istio_module cert_manager_module argo_rollouts_module
	istio_module=$(istio_module_dir) || die "could not download istio.io/istio@$ISTIO_CHARTS_MODULE_VERSION (make tools does)"
	cert_manager_module=$(cert_manager_module_dir) || die "could not download github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION (make tools does)"
	argo_rollouts_module=$(argo_rollouts_module_dir) || die "could not download github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION (make tools does)"
	if [[ -f $pids ]]; then
		die "$state already holds a cluster (run $0 down first)"
	fi
	local begin=$SECONDS
	# A half-started cluster is worse than none: stop whatever did start.
	trap 'if [[ $? -ne 0 ]]; then log "start-up failed; stopping what was started"; down; fi' EXIT
	mkdir -p "$state"
	chmod 700 "$state"
	: >"$pids"
	certificates
	local etcd_port etcd_peer_port api_port kcm_port sched_port charts_port pki=$state/pki
	free_port etcd_port
	free_port etcd_peer_port
	free_port api_port
	free_port kcm_port
	free_port sched_port
	free_port charts_port
	local kubectl=("$KUBERNETES_DIR/kubectl" --kubeconfig "$state/kubeconfig")

	start etcd "$ETCD_DIR/etcd" --name ctmd --data-dir "$state/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
		--initial-cluster "ctmd=http://127.0.0.1:$etcd_peer_port" --listen-metrics-urls "" \
		--unsafe-no-fsync --log-level warn

	# Admission webhooks are off: istiod's sidecar injector and config validator are webhooks with
	# failurePolicy Fail, served by istiod's pods, and kwok's pods are fakes that serve nothing, so
	# with webhooks on every pod in an injected namespace and every Istio resource would be refused.
	# cert-manager's webhook is the same (failurePolicy Fail on cert-manager.io and acme.cert-manager.io
	# objects): its ClusterIssuers and Certificates go through its CRDs' schemas only.
	# What the webhooks would do is Istio's own code, not ctmd's; the objects still go through the
	# API server's schema validation (the base chart's CRDs) and everything else.
	start kube-apiserver "$KUBERNETES_DIR/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
		--cert-dir "$state/apiserver" \
		--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
		--client-ca-file "$pki/ca.crt" --authorization-mode RBAC \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
		--service-cluster-ip-range 10.96.0.0/24 --endpoint-reconciler-type none \
		--disable-admission-plugins MutatingAdmissionWebhook,ValidatingAdmissionWebhook
	kubeconfig "https://127.0.0.1:$api_port"
	wait_for "kube-apiserver /readyz" 120 "${kubectl[@]}" get --raw /readyz

	start kube-controller-manager "$KUBERNETES_DIR/kube-controller-manager" \
		--kubeconfig "$state/kubeconfig" \
		--authentication-kubeconfig "$state/kubeconfig" --authorization-kubeconfig "$state/kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$kcm_port" --cert-dir "$state/kcm" \
		--controllers '*,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle-controller' \
		--use-service-account-credentials=false --leader-elect=false --authentication-skip-lookup \
		--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt"
	start kube-scheduler "$KUBERNETES_DIR/kube-scheduler" \
		--kubeconfig "$state/kubeconfig" \
		--authentication-kubeconfig "$state/kubeconfig" --authorization-kubeconfig "$state/kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$sched_port" --cert-dir "$state/scheduler" \
		--leader-elect=false
	start kwok "$KWOK_DIR/kwok" --kubeconfig "$state/kubeconfig" \
		--config "$CTMD_ROOT/test/kwok/stages.yaml" \
		--manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
		--node-ip 127.0.0.1 --cidr 10.244.0.0/16

	"${kubectl[@]}" apply -f "$CTMD_ROOT/test/kwok/node.yaml" >/dev/null
	wait_for "fake node $node Ready" 120 "${kubectl[@]}" wait --for condition=Ready --timeout 5s "node/$node"

	(cd "$CTMD_ROOT" && go build -o "$state/chartrepo" ./test/chartrepo/cmd/chartrepo)
	start charts "$state/chartrepo" -module "$istio_module" -out "$state/charts" \
		-listen "127.0.0.1:$charts_port" -versions "${CTMD_CHART_VERSIONS:-$ISTIO_VERSION}" \
		-cert-manager-module "$cert_manager_module" -cert-manager-version "$CERT_MANAGER_VERSION" \
		-argo-rollouts-module "$argo_rollouts_module" -argo-rollouts-version "$ARGO_ROLLOUTS_VERSION"
	wait_for "chart repository" 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$charts_port"
	# Pods are refused until the service account controller has created their namespace's account.
	wait_for "default ServiceAccount" 120 "${kubectl[@]}" get serviceaccount default --namespace default

	printf 'export KUBECONFIG=%s\nexport CTMD_CHART_REPO=%s\nexport CTMD_ARGO_ROLLOUTS_MANIFEST=%s\n' "$state/kubeconfig" \
		"http://127.0.0.1:$charts_port" "http://127.0.0.1:$charts_port/argo-rollouts/$ARGO_ROLLOUTS_VERSION/install.yaml" >"$state/env"
	log "cluster up in $(fmt_secs $((SECONDS - begin))): API server https://127.0.0.1:$api_port, charts http://127.0.0.1:$charts_port, state in $state"
	echo "$state/kubeconfig"
}

down() {
	if [[ ! -f $pids ]]; then
		log "no cluster in $state"
		rm -rf "$state"
		return
	fi
	# Reverse start order: clients first, etcd last, so nothing logs a storm of connection errors.
	local pid name bin
	while read -r pid name bin; do
		if alive "$pid" "$bin"; then
			kill "$pid"
			for _ in $(seq 100); do
				alive "$pid" "$bin" || break
				sleep 0.1
			done
			if alive "$pid" "$bin"; then
				log "$name (pid $pid) ignored SIGTERM; killing it"
				kill -KILL "$pid"
			fi
			log "$name stopped (pid $pid)"
		fi
	done < <(tac "$pids")
	rm -rf "$state"
	log "cluster in $state removed"
}

case ${1:-} in
up) up ;;
down) down ;;
*) die "usage: $0 up|down" ;;
esac
