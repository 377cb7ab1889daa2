// Package meshsim runs the mesh resources ctmd declares through Istio's own config-to-Envoy
// translation (the fake discovery server istiod's tests use, pilot/test/xds) and Istio's traffic
// simulation (pilot/pkg/simulation), so routing and authorization mistakes fail a test without a
// cluster or Envoy. Envoy's RBAC filters, which the simulation does not evaluate, are read from
// istiod's output by rbac_test.go.
//
// It is a module of its own, pinned to the istio.io/istio snapshot whose charts the e2e installs,
// so Istio's requirements never move the Kubernetes modules of the main module. The resources are
// never written by hand: `make meshsim` renders them from a mock run of the program
// (infra/stack TestRenderMeshResources) into the directory named by CTMD_MESH_RENDER_DIR.
package meshsim
