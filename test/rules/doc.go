// Package slorules runs the alert rules ctmd declares through Prometheus's own rule engine (the
// rules manager and PromQL engine promtool's `check rules` and `test rules` use), against
// synthetic Istio request series, so a burn-rate alert that cannot fire, or fires on a healthy
// service, fails a test without a cluster.
//
// It is a module of its own, so Prometheus's requirements never move the main module's. The rule
// files are never written by hand: `make rules` renders them from a mock run of the program
// (infra/stack TestRenderAlertRules) into the directory named by CTMD_RULES_RENDER_DIR.
package slorules
