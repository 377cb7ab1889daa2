// Package binauthz declares GKE's own gate on what runs (target gke): Binary Authorization's
// project policy, which the cluster evaluates every Pod against (evaluation mode
// PROJECT_SINGLETON_POLICY_ENFORCE, infra/gke). The policy admits the project's Artifact Registry
// in the stack's region, the images of what ctmd installs (Istio, cert-manager, Argo Rollouts and
// Managed Prometheus's query frontend) and, through Google's global policy, GKE's own system
// images; everything else meets the default rule, which denies. ctmd:binaryAuthorization says
// whether a denial is only logged (dryrun) or enforced, or that another stack writes the policy
// (external).
//
// The project policy is a singleton: one per GCP project, whatever the number of clusters, and
// stacks of one project (dev and prod, each with its own network) are a supported layout. So the
// policy is the project's, not the stack's: it admits every Artifact Registry repository of the
// project in the stack's region (the namespace's admission policy narrows that to the stack's own),
// Istio's hub and the other vendors', and names no stack, so stacks of one region and mode write the
// same policy and never fight. Where they differ (prod enforces, dev runs dry), one stack writes it
// and the others say ctmd:binaryAuthorization external: they enable the API and leave the policy
// alone. A destroy of the writing stack resets the policy to Google's default, which admits
// everything (the provider's delete is "setting back to default":
// GoogleCloudPlatform/magic-modules#19058); docs/supply-chain.md says so.
//
// Cosign signatures are not checked here, and cannot be with the pinned pulumi-gcp (v7.38.0):
// the project policy's only signature check is an attestor's, which reads Artifact Analysis
// attestations, not the cosign signatures stored beside the image. Sigstore signatures are
// checked only by platform policies (projects/<p>/platforms/gke/policies, check
// sigstoreSignatureCheck) through continuous validation, which logs and never blocks
// (https://cloud.google.com/binary-authorization/docs/cv-sigstore-check). v7.38.0 has neither a
// platform-policy resource nor the cluster's policy bindings (container.ClusterBinaryAuthorization
// holds only Enabled and EvaluationMode), and the check verifies against public keys only
// (SigstoreAuthority.publicKeySet, "Required":
// https://cloud.google.com/binary-authorization/docs/reference/rest/v1/projects.platforms.policies),
// so CI's keyless signature, bound to a GitHub identity rather than a key, would fail it anyway.
// docs/supply-chain.md says what a user can do instead.
package binauthz

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/binaryauthorization"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/delivery"
	"github.com/cryptotracker/ctmd/infra/mesh"
)

// API is Binary Authorization's service, which the policy and the cluster's evaluation need.
const API = "binaryauthorization.googleapis.com"

// Enforcement modes of an admission rule
// (https://cloud.google.com/binary-authorization/docs/policy-yaml-reference, enforcementMode):
// a dry run admits the Pod and writes the denial to the audit log, enforcement refuses it.
const (
	DryRun  = "DRYRUN_AUDIT_LOG_ONLY"
	Enforce = "ENFORCED_BLOCK_AND_AUDIT_LOG"
)

// CertManagerRepository is where cert-manager's chart takes its images from (imageRegistry quay.io,
// imageNamespace jetstack in the chart's values.yaml of v1.21.2).
const CertManagerRepository = "quay.io/jetstack"

// ArgoRolloutsRepository is where Argo Rollouts' install manifest takes its controller from
// (quay.io/argoproj/argo-rollouts:<release> in the release's install.yaml; infra/delivery).
const ArgoRolloutsRepository = "quay.io/argoproj"

// Policy is the Binary Authorization component.
type Policy struct {
	pulumi.ResourceState
}

// New enables Binary Authorization's API in the project and declares its project policy.
// Depending on the returned component waits for both.
func New(ctx *pulumi.Context, name string, cfg *config.Config, opts ...pulumi.ResourceOption) (*Policy, error) {
	mode, err := enforcementMode(cfg.SupplyChain.BinaryAuthorization)
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	if err := ctx.RegisterComponentResource("ctmd:binauthz:Policy", name, p, opts...); err != nil {
		return nil, err
	}
	// Left on at destroy: the API is the project's, and other stacks and clusters of it may rely on it.
	api, err := projects.NewService(ctx, API, &projects.ServiceArgs{
		Project:          pulumi.String(cfg.Project),
		Service:          pulumi.String(API),
		DisableOnDestroy: pulumi.Bool(false),
	}, pulumi.Parent(p))
	if err != nil {
		return nil, err
	}
	if mode == "" {
		return p, ctx.RegisterResourceOutputs(p, pulumi.Map{"policy": pulumi.String(config.BinaryAuthorizationExternal)})
	}
	policy, err := binaryauthorization.NewPolicy(ctx, name+"-policy", policyArgs(cfg, mode),
		pulumi.Parent(p), pulumi.DependsOn([]pulumi.Resource{api}))
	if err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{
		"enforcementMode":            pulumi.String(mode),
		"globalPolicyEvaluationMode": policy.GlobalPolicyEvaluationMode,
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// enforcementMode maps ctmd:binaryAuthorization to the default rule's enforcement; "" for a
// policy another stack writes.
func enforcementMode(mode string) (string, error) {
	switch mode {
	case config.BinaryAuthorizationDry:
		return DryRun, nil
	case config.BinaryAuthorizationForce:
		return Enforce, nil
	case config.BinaryAuthorizationExternal:
		return "", nil
	}
	return "", fmt.Errorf("binary authorization mode %q: want %s, %s or %s", mode, config.BinaryAuthorizationDry, config.BinaryAuthorizationForce, config.BinaryAuthorizationExternal)
}

// policyArgs is the project policy. Google's global policy admits the system images GKE itself
// runs (globalPolicyEvaluationMode "Controls the evaluation of a Google-maintained global admission
// policy for common system-level images. Images not covered by the global policy will be subject
// to the project admission policy": https://cloud.google.com/binary-authorization/docs/reference/rest/Shared.Types/Policy);
// the allow-list admits what ctmd deploys; the default rule refuses the rest, so an image from
// anywhere else is logged (dryrun) or refused (enforce).
func policyArgs(cfg *config.Config, mode string) *binaryauthorization.PolicyArgs {
	return &binaryauthorization.PolicyArgs{
		Project:                    pulumi.String(cfg.Project),
		Description:                pulumi.String("Written by ctmd's Pulumi stacks of this project (docs/supply-chain.md): the same policy from each of one region and mode"),
		GlobalPolicyEvaluationMode: pulumi.String("ENABLE"),
		AdmissionWhitelistPatterns: allowList(cfg),
		DefaultAdmissionRule: &binaryauthorization.PolicyDefaultAdmissionRuleArgs{
			EvaluationMode:  pulumi.String("ALWAYS_DENY"),
			EnforcementMode: pulumi.String(mode),
		},
	}
}

// allowList is what ctmd deploys. A trailing * stays within one directory and ** reaches below it
// ("* wildcard does not match /, i.e., gcr.io/nginx* matches gcr.io/nginx@latest, but it does not
// match gcr.io/nginx/image. This also supports a trailing ** wildcard which matches
// subdirectories": AdmissionWhitelistPattern.name_pattern; the examples are in
// https://cloud.google.com/binary-authorization/docs/policy-yaml-reference), so the stack's
// project's registry in the region takes ** (every repository and image path in it) and each
// vendor's one directory takes *. cert-manager's are admitted whether or not this stack installs
// it: another stack of the project may, and the policy is the same for all; so are Argo Rollouts'
// controller and Managed Prometheus's query frontend (infra/delivery), which a stack with
// ctmd:delivery argo-rollouts runs. Google's global policy is not relied on for the frontend
// (gke.gcr.io/prometheus-engine/frontend): Google documents it as covering "common system-level
// images" without listing them, and a pattern of its own costs nothing.
//
// Istio's pilot and proxyv2 (sidecars, and the gateway, whose image "auto" is injected) come from
// mesh.Hub, which ctmd sets as every control plane's global.hub rather than leaving the charts'
// default: that default is written into the charts when a release is built (DOCKER_HUB in
// istio/release-builder's release/build.sh) and has moved, registry.istio.io/release for 1.30
// (Istio 1.30.0's notes: "Added registry.istio.io as the default registry for Istio images"),
// docker.io/istio before and again from 1.31 (istio/release-builder#2370, "Revert default registry
// in helm charts to docker"). The policy admits that one directory, whichever version runs.
// ProjectRegistry is the project's Artifact Registry host and path in the stack's region, which
// holds the repository of every stack of the project there.
func ProjectRegistry(cfg *config.Config) string {
	return cfg.Region + "-docker.pkg.dev/" + cfg.Project
}

func allowList(cfg *config.Config) binaryauthorization.PolicyAdmissionWhitelistPatternArray {
	patterns := []string{ProjectRegistry(cfg) + "/**", mesh.Hub + "/*", CertManagerRepository + "/*",
		ArgoRolloutsRepository + "/*", delivery.FrontendRepository + "/*"}
	list := binaryauthorization.PolicyAdmissionWhitelistPatternArray{}
	for _, pattern := range patterns {
		list = append(list, &binaryauthorization.PolicyAdmissionWhitelistPatternArgs{NamePattern: pulumi.String(pattern)})
	}
	return list
}
