// Package delivery installs the progressive-delivery engine, Argo Rollouts, that releases
// marketdata in steps (infra/app's Rollout): its official install manifest, read by the program
// from ctmd:argoRolloutsManifestUrl (manifest.go), with the CRDs applied from a record
// (infra/internal/crds) rather than held in the state; and on gke Managed Prometheus's query
// frontend, the plain Prometheus API the engine's analysis queries (frontend.go). Argo's
// notifications are not configured: their HTTP client logs the URL it posts to, and the alerts'
// receiver URL is never logged; release events reach the receiver as alerts on the controller's
// metrics (MetricsPort, MetricsPath, ControllerLabels).
package delivery

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/internal/crds"
)

// Names the manifest fixes.
const (
	// Namespace is where the manifest expects to be applied ("kubectl apply -n argo-rollouts",
	// https://argo-rollouts.readthedocs.io/en/stable/installation/): its ClusterRoleBinding names
	// the controller's service account there.
	Namespace = "argo-rollouts"
	// Controller is the controller's Deployment, and the label value its pods carry
	// (app.kubernetes.io/name).
	Controller = "argo-rollouts"
	// MetricsPort is the controller's Prometheus port: the manifest's argo-rollouts-metrics
	// Service and the container's "metrics" port, the controller's default (--metricsPort).
	MetricsPort = 8090
	// MetricsPath is where the controller serves its metrics on MetricsPort.
	MetricsPath = "/metrics"
)

// ControllerLabels are the labels the manifest gives the controller's pods, what its Deployment
// and argo-rollouts-metrics Service select them by: a PodMonitoring scrapes them by these.
var ControllerLabels = map[string]string{"app.kubernetes.io/name": Controller}

// Args configures the engine.
type Args struct {
	Provider *kubernetes.Provider
	// Kubeconfig is what Provider was given ("" for the ambient kubeconfig), for the client that
	// applies the CRDs.
	Kubeconfig pulumi.StringOutput
	Delivery   config.Delivery
	// Project and ClusterName name the frontend's Google service account and what it may read
	// (gke only: Delivery.ManagedFrontend).
	Project     string
	ClusterName string
	// After is what the engine's objects wait for (the mesh).
	After []pulumi.Resource
}

// Engine is the component.
type Engine struct {
	pulumi.ResourceState
	// Ready is what a Rollout waits for: the controller's Deployment, which itself waits for the
	// namespace, the CRD record and, on gke, the query frontend.
	Ready pulumi.Resource
}

// New reads the manifest and declares the engine.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Engine, error) {
	// Read before anything is declared: a manifest that cannot be had declares nothing.
	m, err := fetchManifest(ctx.Context(), args.Delivery.ManifestURL)
	if err != nil {
		return nil, err
	}
	if !releaseVersion.MatchString(imageTag(m.image)) && !strings.Contains(m.image, "@sha256:") {
		_ = ctx.Log.Warn(fmt.Sprintf("the manifest at %s runs the controller image %s, which names no release: every restart may run another version "+
			"(a release's manifest names its own tag; to use a mirror: pulumi config set %s https://<mirror>/install.yaml)", args.Delivery.ManifestURL, m.image, manifestKey), nil)
	}
	e := &Engine{}
	if err := ctx.RegisterComponentResource("ctmd:delivery:ArgoRollouts", name, e, opts...); err != nil {
		return nil, err
	}
	child := func(after ...pulumi.Resource) []pulumi.ResourceOption {
		deps := slices.DeleteFunc(append(slices.Clone(args.After), after...), isNil)
		return []pulumi.ResourceOption{pulumi.Parent(e), pulumi.Provider(args.Provider), pulumi.DependsOn(deps)}
	}

	ns, err := corev1.NewNamespace(ctx, Namespace, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(Namespace)},
	}, child()...)
	if err != nil {
		return nil, err
	}
	crdSet, err := crds.New(ctx, Controller, crds.Args{
		Provider:    args.Provider,
		Kubeconfig:  args.Kubeconfig,
		ReleaseName: Controller,
		Namespace:   Namespace,
		Manifest:    &crds.Manifest{Source: m.source, Objects: m.crds},
		After:       []pulumi.Resource{ns},
	}, pulumi.Parent(e), pulumi.Provider(args.Provider))
	if err != nil {
		return nil, err
	}
	// The controller watches the CRDs and queries the frontend from its start.
	controllerAfter := []pulumi.Resource{ns, crdSet.Record}
	if args.Delivery.ManagedFrontend {
		frontend, err := newFrontend(ctx, args, pulumi.Parent(e), child(ns))
		if err != nil {
			return nil, err
		}
		controllerAfter = append(controllerAfter, frontend)
	}

	for _, obj := range m.objects {
		var after []pulumi.Resource
		switch {
		case obj.kind() == "Deployment" && obj.name() == Controller:
			after = controllerAfter
		case obj.namespaced():
			after = []pulumi.Resource{ns}
		}
		res, err := obj.declare(ctx, child(after...)...)
		if err != nil {
			return nil, err
		}
		if obj.kind() == "Deployment" && obj.name() == Controller {
			e.Ready = res
		}
	}
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{
		"namespace": pulumi.String(Namespace),
		"manifest":  pulumi.String(m.source),
		"crds":      crdSet.Names,
	}); err != nil {
		return nil, err
	}
	return e, nil
}

func isNil(r pulumi.Resource) bool { return r == nil }
