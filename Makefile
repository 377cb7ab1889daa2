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
