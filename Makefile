# ctmd: the marketdata service and the Pulumi program that runs it on GKE behind Istio.
# Tool versions live in versions.env; Go module versions in go.mod.
include versions.env

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

## ---- service (marketdata API) ----

## ---- infra (Pulumi program) ----

## ---- real engine, local cluster, e2e ----

.PHONY: tools cluster-up cluster-down e2e
tools: ## build the pinned Pulumi CLI, kubernetes plugin, language host and local control plane into ~/.cache/ctmd/tools
	hack/tools.sh

cluster-up: tools ## start a local Kubernetes control plane on loopback (prints its kubeconfig path)
	hack/cluster.sh up

cluster-down: ## stop the local control plane started by cluster-up
	hack/cluster.sh down

e2e: tools ## real Pulumi engine against a private local cluster: preview, up, verify, no-op up, destroy
	hack/e2e.sh $(E2E_FLAGS)
