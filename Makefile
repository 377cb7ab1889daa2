# ctmd: the marketdata service and the Pulumi program that runs it on GKE behind Istio.
# Tool versions live in versions.env; Go module versions in go.mod.
include versions.env

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

## ---- service (marketdata API) ----
SERVICE_PKG      := ./service/cmd/marketdata
# The container image's binary: static, and without the embedded store (build tag `image`).
# The Dockerfile and the image test both build it with `make image-bin`, so these are defined once.
IMAGE_BUILD_TAGS := image
IMAGE_LDFLAGS     = -s -w -X main.version=$(MARKETDATA_VERSION)
MARKETDATA_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE_BIN        ?= bin/marketdata
IMAGE            ?= marketdata:$(MARKETDATA_VERSION)
# GKE's nodes run linux/amd64 (ctmd:machineType e2/n2); an image built on an arm64 laptop
# without this would not start there.
IMAGE_PLATFORM   ?= linux/amd64
BENCH_DURATION   ?= 3s
# The garbage collector settings of the commands that compile (versions.env says why).
GO_BUILD_ENV     := GOGC=$(GO_BUILD_GOGC) GOMEMLIMIT=$(GO_BUILD_GOMEMLIMIT)

.PHONY: run test bench bench-iac lint lint-go image-bin image push

run: ## serve the API on 127.0.0.1:8080 with the embedded store in ./data (no database needed)
	MARKETDATA_ADDR="$${MARKETDATA_ADDR:-127.0.0.1:8080}" MARKETDATA_SHUTDOWN_DELAY="$${MARKETDATA_SHUTDOWN_DELAY:-0s}" \
		go run -ldflags '-X main.version=$(MARKETDATA_VERSION)' $(SERVICE_PKG)

# The race detector runs where the concurrency is ours (handlers, cache, health loop, drain).
# The infra tests run without it: their concurrency lives in the Pulumi SDK, and a race build of
# the gcp and kubernetes SDKs costs many cold minutes while the plain build is shared with make e2e.
# -vet=off: make lint's govet runs every analyzer go test would, and go test's own vet type-checks
# every dependency again from source under a different analyzer set (cold minutes, for nothing).
# GO_BUILD_ENV also reaches the test binaries, which are small; make e2e's engines run without it.
test: ## every unit and integration test of the module (service with the race detector)
	$(GO_BUILD_ENV) go test -race -vet=off -count=1 ./service/...
	$(GO_BUILD_ENV) go test -vet=off -count=1 $$(go list ./... | grep -v '/service')

bench: ## GET /api/v1/currencies under 64 clients on loopback vs a bare net/http handler (req/s, p50, p99, ratio), then on a stalled store (answered, p99)
	go test -count=1 -run '^TestLoad$$' -v ./service/api/ -load $(BENCH_DURATION)

# Not in make e2e: it measures, on two clusters of its own, and asserts nothing.
bench-iac: tools infra-bin ## first pulumi up, no-op previews, state size and resources on the local cluster, now and as the program was built before
	hack/bench-iac.sh

lint: lint-go lint-actions ## every linter: Go, the GitHub workflows and the tagged e2e suite

# No separate go vet: golangci-lint's govet runs go vet's analyzers (its defaultAnalyzers cite Go
# 1.26's cmd/vet), and every vet type-checks each dependency from source again, minutes cold. The
# e2e tag brings the suite's files in; it only adds files, so other packages are linted as built.
lint-go: ## gofmt and golangci-lint (pinned in versions.env; its govet is go vet), with the e2e suite's build tag
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then echo "gofmt -l lists:"; echo "$$unformatted"; exit 1; fi
	$(GO_BUILD_ENV) go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) run --build-tags e2e ./...

image-bin: ## build the image's static binary into $(IMAGE_BIN)
	CGO_ENABLED=0 go build -trimpath -buildvcs=false -tags '$(IMAGE_BUILD_TAGS)' -ldflags '$(IMAGE_LDFLAGS)' -o '$(IMAGE_BIN)' $(SERVICE_PKG)

image: ## docker build the marketdata image as $(IMAGE) for $(IMAGE_PLATFORM), whatever the host
	docker build --platform '$(IMAGE_PLATFORM)' --build-arg GO_VERSION=$(GO_VERSION) --build-arg MARKETDATA_VERSION=$(MARKETDATA_VERSION) -t '$(IMAGE)' .

# The reference printed last (version tag and digest) is what `pulumi config set image` takes.
push: ## docker push $(IMAGE), a version tag (never latest), and print it with its digest; e.g. make image push IMAGE=<imageRepository output>/marketdata:v1.4.0
	hack/push.sh '$(IMAGE)'

## ---- infra (Pulumi program) ----
# The stack `make preview` and `make up` act on; the Pulumi CLI must be logged in (see README).
STACK ?= dev
# Pulumi.yaml runs this binary as it is (runtime option binary: no `go build` check on every run);
# it carries the digest of its sources and refuses to run once they change (infra/internal/source).
INFRA_BIN        := bin/ctmd-infra
INFRA_LDFLAGS     = -X github.com/cryptotracker/ctmd/infra/internal/source.built=$$(go run ./infra/cmd/source-digest)

.PHONY: preview up infra-bin lint-actions

preview: infra-bin ## pulumi preview of $(STACK) with a full diff
	pulumi preview --stack '$(STACK)' --diff

up: infra-bin ## pulumi up of $(STACK) (asks before changing anything)
	pulumi up --stack '$(STACK)'

# go build skips the link while the sources and the stamp are unchanged.
infra-bin: ## build the Pulumi program into $(INFRA_BIN), stamped with its sources' digest (run after every change of infra/, go.mod or go.sum)
	go build -ldflags "$(INFRA_LDFLAGS)" -o '$(INFRA_BIN)' ./infra

lint-actions: ## actionlint the GitHub workflows (pinned in versions.env)
	go run github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

## ---- real engine, local cluster, e2e ----

.PHONY: tools cluster-up cluster-down e2e
tools: ## build the pinned Pulumi CLI, kubernetes plugin, language host, local control plane and istioctl into ~/.cache/ctmd/tools
	hack/tools.sh

cluster-up: tools ## start a local Kubernetes control plane on loopback (prints its kubeconfig path)
	hack/cluster.sh up

cluster-down: ## stop the local control plane started by cluster-up
	hack/cluster.sh down

# meshsim and rules run here, not in make test, whose minutes every change pays: cold, beside the
# suite, meshsim's binary takes about 6 min to build and vet even after make tools built istioctl
# (86 s and 75 s alone), and rules' 1 to 3.5 min; warm, both are cached under
# ~/.cache/ctmd/tools and cost seconds. They run one after the other (offline-checks) beside the
# suite, which holds the other job slot from the start: listed as three goals under --jobs=2, make
# gave rules the slot and the suite waited 6.5 min (cold .ci/run, measured). --output-sync keeps
# each one's output in one piece. Then meshsim's TestEngineSteps runs on the steps of the Argo
# Rollouts release the suite recorded (it renders again: seconds, warm).
e2e: tools ## make meshsim then make rules, beside the real Pulumi engine against private local clusters (make e2e-suite); then Istio's translation of the engine's recorded steps
	$(MAKE) --no-print-directory --jobs=2 --output-sync=target e2e-suite offline-checks
	CTMD_MESH_ENGINE_STEPS='$(ENGINE_STEPS_DIR)' hack/meshsim.sh -test.run '^TestEngineSteps$$'

.PHONY: offline-checks
offline-checks: ## make meshsim, then make rules: Istio's and Prometheus's own engines on what the program renders
	$(MAKE) --no-print-directory meshsim
	$(MAKE) --no-print-directory rules

# Where the suite records the live VirtualService and the Rollout's weights at each step of its
# release (test/e2e/meshsteps_test.go), emptied first so that only this run's steps are checked.
# Only the suite's recipe sets CTMD_MESH_ENGINE_STEPS: the meshsim beside it must not read the
# steps while they are written.
ENGINE_STEPS_DIR := $(CURDIR)/bin/e2e-engine-steps

.PHONY: e2e-suite
e2e-suite: tools ## only the real-engine suite of make e2e, without make meshsim
	rm -rf '$(ENGINE_STEPS_DIR)' && mkdir -p '$(ENGINE_STEPS_DIR)'
	CTMD_MESH_ENGINE_STEPS='$(ENGINE_STEPS_DIR)' hack/e2e.sh $(E2E_FLAGS)

## ---- Prometheus's own checks of the alerts ----

.PHONY: rules
rules: ## render the program's alert rules and run them through Prometheus's rule engine with synthetic series (test/rules)
	hack/rules.sh $(RULES_FLAGS)

## ---- Istio's own checks of the mesh ----

.PHONY: meshsim
meshsim: ## render the program's mesh resources and run them through Istio's routing translation and simulation (test/meshsim)
	hack/meshsim.sh $(MESHSIM_FLAGS)

# Warning and above fail: a Gateway selecting no pod, a VirtualService naming a missing host or
# gateway, a subset without pods. ANALYZE_FLAGS adds istioctl flags (e.g. --context, --suppress).
# The workloads are checked against the injector of the stack's control-plane revision (its
# istioRevision output; istioctl's own default, "default", names no control plane of this stack);
# a stack without installIstio uses the cluster's default revision.
ANALYZE_NAMESPACES := ctmd istio-ingress
ANALYZE_REVISION ?= $(or $(shell pulumi stack output istioRevision 2>/dev/null),default)
.PHONY: analyze
analyze: ## istioctl analyze of the ctmd and istio-ingress namespaces in the current kube context (e.g. GKE after pulumi up); istioctl from make tools, else PATH
	@PATH="$$(hack/tools.sh path):$$PATH"; command -v istioctl >/dev/null || { echo "no istioctl: run make tools"; exit 1; }; \
	status=0; for ns in $(ANALYZE_NAMESPACES); do \
		istioctl analyze --namespace "$$ns" --revision "$(ANALYZE_REVISION)" --failure-threshold Warning $(ANALYZE_FLAGS) || status=$$?; \
	done; exit "$$status"
