//go:build tools

// The Prometheus server hack/tools.sh builds for the e2e suite comes from this module, so it links
// the very packages (and compiled build cache entries) the rules test binary does; this blank
// import keeps the server's requirements in go.mod and go.sum through `go mod tidy`. The build tag
// keeps it out of every build and test: a main package cannot be imported.
package slorules

import _ "github.com/prometheus/prometheus/cmd/prometheus"
