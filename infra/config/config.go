// Package config loads and validates the ctmd stack configuration in one place, so that a
// missing or bad value stops `pulumi preview` before any resource is declared, with a message
// that names the key and the command that fixes it.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Target says where the workload lands.
type Target string

const (
	// TargetGKE creates the GKE cluster, its network plumbing and an Artifact Registry repository.
	TargetGKE Target = "gke"
	// TargetExisting deploys into a cluster that already exists: no GCP resource is declared.
	TargetExisting Target = "existing"
)

// Namespace is the project's config namespace (the project name in Pulumi.yaml).
const Namespace = "ctmd"

// Config is the whole validated stack configuration.
type Config struct {
	Target Target

	// GCP settings, used only by TargetGKE.
	Project                  string
	Zone                     string
	Region                   string // derived from Zone
	ClusterName              string
	MasterAuthorizedNetworks []string
	MachineType              string
	MinNodes                 int
	MaxNodes                 int
	DeletionProtection       bool
	// NetworkCIDR is the stack's private /16: the subnet, pod and service ranges and the
	// control plane's /28 are carved from it (infra/gke), so stacks given different blocks never overlap.
	NetworkCIDR string
	// RepositoryID is the Artifact Registry repository; ctmd:repositoryId, else ClusterName.
	RepositoryID  string
	EgressIPCount int

	IstioVersion string
	// IstioCanaryVersion, when set, is a second control plane the workloads move to (revision
	// canary upgrade); empty when no upgrade is under way.
	IstioCanaryVersion string
	// IstioChartRepository is where the base, istiod and gateway charts come from: an HTTP(S) Helm
	// repository, or an OCI registry path (oci://host/path) that holds the three charts.
	IstioChartRepository  string
	InstallIstio          bool
	OutboundTrafficPolicy string

	// Image is the marketdata image, pinned by a version tag or a digest (see imageReference).
	Image    string
	Replicas int
	// CanaryImage, when set, is released to CanaryWeight percent of the traffic.
	CanaryImage  string
	CanaryWeight int

	// MongoConnectionString is always a secret output; the plain value never leaves Load.
	MongoConnectionString pulumi.StringOutput
	MongoHosts            []string

	// IngressPrincipals are the identities of the ingress gateway(s) the app admits; defaulted
	// to the gateway ctmd installs. CallerPrincipals are in-mesh workloads that may call the
	// Service directly.
	IngressPrincipals []string
	CallerPrincipals  []string

	// Kubeconfig is the secret ctmd:kubeconfig for TargetExisting; HasKubeconfig is false when
	// the ambient kubeconfig ($KUBECONFIG or ~/.kube/config) is to be used instead.
	Kubeconfig    pulumi.StringOutput
	HasKubeconfig bool
	kubeconfig    []byte
	// KubeContext is the current-context of the kubeconfig TargetExisting deploys with, empty
	// when it cannot be told. It names the cluster in the stack outputs.
	KubeContext string

	Operations Operations
	// SupplyChain is what the cluster lets run (supplychain.go).
	SupplyChain SupplyChain
	// Edge is the public entry: HTTP only, or HTTPS for a domain (edge.go).
	Edge   Edge
	Alerts Alerts
	// Delivery is how new images are released: by hand or by the engine (delivery.go).
	Delivery Delivery
}

// Defaults of every optional key. Pulumi.yaml declares the same defaults (a test compares them),
// but the engine applies those only to real runs, so the program applies its own as well.
const (
	DefaultZone         = "europe-west1-b"
	DefaultClusterName  = "ctmd-cluster"
	DefaultMachineType  = "e2-standard-4"
	DefaultMinNodes     = 1
	DefaultMaxNodes     = 3
	DefaultIstioVersion = "1.31.4"
	// DefaultIstioChartRepository is Istio's official Helm repository. From Istio 1.31 on, charts
	// are published here (OCI: oci://ghcr.io/istio/release/charts) and no longer on
	// istio-release.storage.googleapis.com, which Istio is switching off
	// (https://istio.io/latest/news/releases/1.31.x/announcing-1.31/upgrade-notes/).
	DefaultIstioChartRepository  = "https://blob.istio.io/istio-release/charts"
	DefaultReplicas              = 2
	DefaultCanaryWeight          = 10
	DefaultOutboundTrafficPolicy = "REGISTRY_ONLY"
	DefaultNetworkCIDR           = "10.0.0.0/16"
	DefaultEgressIPCount         = 1
	// InstalledGatewayPrincipal is the identity of the ingress gateway ctmd installs: Istio's
	// default trust domain, the gateway release's namespace and service account (infra/mesh).
	InstalledGatewayPrincipal = "cluster.local/ns/istio-ingress/sa/istio-ingressgateway"
	// OpenControlPlane is the default authorized network: anyone may reach the API server's
	// endpoint (they still need Google credentials). Load warns when it is in the list.
	OpenControlPlane = "0.0.0.0/0"
)

var (
	zonePattern        = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+-[a-z]$`)
	projectPattern     = regexp.MustCompile(`^[a-z][-a-z0-9]{4,28}[a-z0-9]$`)
	clusterNamePattern = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,22}[a-z0-9])?$`)
	machineTypePattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)
	versionPattern     = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	// An Artifact Registry repository id (lowercase letters, digits, hyphens; at most 63).
	repositoryIDPattern = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// A Docker image reference: registry host with optional port, path, tag and/or digest.
	imagePattern = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`)
	// An Istio principal <trust-domain>/ns/<namespace>/sa/<service-account>, without the
	// wildcards AuthorizationPolicy would accept: each entry names exactly one identity.
	principalPattern = regexp.MustCompile(`^[A-Za-z0-9][-._A-Za-z0-9]*/ns/[a-z0-9]([-a-z0-9]*[a-z0-9])?/sa/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$`)
	// A DNS name, optionally a wildcard such as *.abcde.mongodb.net.
	hostPattern = regexp.MustCompile(`^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$`)
)

// Load reads every key, applies the defaults and returns all problems at once, each naming the
// key and the `pulumi config set` command that fixes it. Secret values never appear in errors.
func Load(ctx *pulumi.Context) (*Config, error) {
	r := &reader{ctx: ctx}
	c := &Config{
		Target:                   Target(r.oneOf("target", string(TargetGKE), string(TargetGKE), string(TargetExisting))),
		ClusterName:              r.matching("clusterName", DefaultClusterName, clusterNamePattern, "1 to 24 lowercase letters, digits or hyphens, starting with a letter (the node service account id <clusterName>-nodes must fit in 30 characters)", DefaultClusterName),
		MasterAuthorizedNetworks: r.cidrs("masterAuthorizedNetworks", []string{OpenControlPlane}),
		MachineType:              r.matching("machineType", DefaultMachineType, machineTypePattern, "a Compute Engine machine type", DefaultMachineType),
		MinNodes:                 r.integer("minNodes", DefaultMinNodes, 1),
		MaxNodes:                 r.integer("maxNodes", DefaultMaxNodes, 1),
		DeletionProtection:       r.boolean("deletionProtection", false),
		IstioVersion:             r.matching("istioVersion", DefaultIstioVersion, versionPattern, "an Istio release version", DefaultIstioVersion),
		IstioCanaryVersion:       r.matching("istioCanaryVersion", "", versionPattern, "an Istio release version", "<next-version>"),
		IstioChartRepository:     r.chartRepository("istioChartRepository", DefaultIstioChartRepository),
		InstallIstio:             r.boolean("installIstio", true),
		OutboundTrafficPolicy:    r.oneOf("outboundTrafficPolicy", DefaultOutboundTrafficPolicy, "REGISTRY_ONLY", "ALLOW_ANY"),
		Image:                    r.imageReference("image"),
		Replicas:                 r.integer("replicas", DefaultReplicas, 1),
		NetworkCIDR:              r.networkCIDR("networkCidr"),
		RepositoryID:             r.matching("repositoryId", "", repositoryIDPattern, "an Artifact Registry repository id (lowercase letters, digits and hyphens, starting with a letter, at most 63)", "ctmd"),
		EgressIPCount:            r.integer("egressIpCount", DefaultEgressIPCount, 1),
		CanaryWeight:             r.percentage("canaryWeight", DefaultCanaryWeight),
		MongoHosts:               r.hosts("mongoHosts"),
		IngressPrincipals:        r.principals("ingressPrincipals"),
		CallerPrincipals:         r.principals("callerPrincipals"),
	}
	c.Operations = r.operations(c.Target)
	c.Alerts = r.alerts(c.Target)
	if len(c.IngressPrincipals) == 0 {
		if c.InstallIstio {
			c.IngressPrincipals = []string{InstalledGatewayPrincipal}
		} else {
			// Without it the AuthorizationPolicy would deny every request through the gateway.
			r.fail(fmt.Errorf(`missing required config %q (needed when ctmd:installIstio is false): find the namespace and service account of the cluster's ingress gateway with kubectl get pods -A -l istio=ingressgateway -o custom-columns=NAMESPACE:.metadata.namespace,SERVICE_ACCOUNT:.spec.serviceAccountName and set it with pulumi config set --path '%[1]s[0]' cluster.local/ns/<namespace>/sa/<service-account>`,
				Namespace+":ingressPrincipals"))
		}
	}
	// istio-base (the CRDs) follows the canary, and Istio's CRDs are only upgraded, never
	// downgraded (https://istio.io/latest/docs/setup/upgrade/helm/#canary-upgrade-recommended), so
	// a canary older than the version in service would roll the CRDs back under it.
	if c.IstioCanaryVersion != "" && !newerVersion(c.IstioCanaryVersion, c.IstioVersion) {
		r.fail(fmt.Errorf(`invalid config %q value %q: the canary control plane must be newer than ctmd:istioVersion %q (the one in service; the CRDs follow the canary and must not move back); set a newer one with pulumi config set %[1]s <next-version>, or finish an upgrade with pulumi config rm %[1]s`,
			Namespace+":istioCanaryVersion", c.IstioCanaryVersion, c.IstioVersion))
	}
	if c.IstioCanaryVersion != "" && !c.InstallIstio {
		r.fail(fmt.Errorf(`config %q needs ctmd:installIstio true (the stack upgrades only the Istio it installs): remove it with pulumi config rm %[1]s`,
			Namespace+":istioCanaryVersion"))
	}
	if c.RepositoryID == "" {
		c.RepositoryID = c.ClusterName
	}
	if c.MaxNodes < c.MinNodes {
		r.fail(fmt.Errorf(`invalid config %q: must be at least ctmd:minNodes (%d); set it with pulumi config set %[1]s %d`,
			Namespace+":maxNodes", c.MinNodes, c.MinNodes))
	}
	c.CanaryImage = r.imageReference("canaryImage")
	switch {
	case c.CanaryImage != "" && c.CanaryImage == c.Image:
		r.fail(fmt.Errorf(`invalid config %q: it equals ctmd:image, so there is nothing to compare; promote the canary with pulumi config rm %[1]s, or set another image with pulumi config set %[1]s <registry>/marketdata:<new-tag>`,
			Namespace+":canaryImage"))
	// The engine applies Pulumi.yaml's default to real runs, so only a changed weight can be
	// told apart from an unset one.
	case c.CanaryImage == "" && c.CanaryWeight != DefaultCanaryWeight:
		r.fail(fmt.Errorf(`config %q is set but ctmd:canaryImage is not: there is no canary to send traffic to; remove it with pulumi config rm %[1]s, or start a canary with pulumi config set ctmd:canaryImage <registry>/marketdata:<new-tag>`,
			Namespace+":canaryWeight"))
	}
	mongo := r.secret("mongoConnectionString", "<mongodb+srv://user:password@host/>", true)
	switch {
	case mongo == nil:
	case !validMongoURI(*mongo):
		r.fail(fmt.Errorf(`invalid config %q: must be a mongodb:// or mongodb+srv:// URI with a host; set it with pulumi config set --secret %[1]s <mongodb+srv://user:password@host/>`,
			Namespace+":mongoConnectionString"))
	default:
		c.MongoConnectionString = pulumi.ToSecret(pulumi.String(*mongo)).(pulumi.StringOutput)
	}

	switch c.Target {
	case TargetGKE:
		c.Project = r.gcpProject()
		c.Zone = r.gcp("zone", DefaultZone, zonePattern, "a zone such as "+DefaultZone)
		c.Region = c.Zone[:max(0, strings.LastIndex(c.Zone, "-"))]
		if c.Image == "" {
			r.fail(fmt.Errorf(`missing required config %q: push a version of the image to the stack's repository (README, "Deploy to GCP") and set it with pulumi config set %[1]s %s-docker.pkg.dev/%s/%s/marketdata:<version>`,
				Namespace+":image", c.Region, cmp.Or(c.Project, "<project>"), c.RepositoryID))
		}
		// A new GKE cluster has no Istio, and a kubeconfig cannot point at a cluster not yet made.
		if !c.InstallIstio {
			r.fail(errors.New(`invalid config "ctmd:installIstio" value "false": a cluster created by the stack has no Istio (false is for ctmd:target existing); set it with pulumi config set ctmd:installIstio true`))
		}
		if _, set := r.get("kubeconfig"); set {
			r.fail(errors.New(`config "ctmd:kubeconfig" is only used with ctmd:target existing: remove it with pulumi config rm ctmd:kubeconfig`))
		}
		if slices.Contains(c.MasterAuthorizedNetworks, OpenControlPlane) {
			r.warn(fmt.Sprintf("ctmd:masterAuthorizedNetworks contains %s: the control-plane endpoint accepts connections from anywhere; narrow it with pulumi config set --path 'ctmd:masterAuthorizedNetworks[0]' <your-cidr>", OpenControlPlane))
		}
	case TargetExisting:
		if c.Image == "" {
			r.fail(fmt.Errorf(`missing required config %q (needed when ctmd:target is existing): set it with pulumi config set %[1]s <registry>/marketdata:<tag>`, Namespace+":image"))
		}
		if kc := r.secret("kubeconfig", `"$(cat <kubeconfig-file>)"`, false); kc != nil {
			c.Kubeconfig = pulumi.ToSecret(pulumi.String(*kc)).(pulumi.StringOutput)
			c.HasKubeconfig, c.kubeconfig = true, []byte(*kc)
			c.KubeContext = currentContext(c.kubeconfig)
		} else {
			c.KubeContext = ambientContext()
		}
	}
	c.Edge = r.edge(c.Target, c.Project)
	c.SupplyChain = r.supplyChain(c)
	c.Delivery = r.delivery(c)
	if len(c.MongoHosts) == 0 {
		r.warn("ctmd:mongoHosts is empty: the mongo-ext ServiceEntry lets the mesh reach any address on port 27017; list your database hosts with pulumi config set --path 'ctmd:mongoHosts[0]' '*.<cluster-id>.mongodb.net'")
	}
	if err := errors.Join(r.errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// validMongoURI checks the scheme and that a host follows, without ever formatting the value.
func validMongoURI(uri string) bool {
	rest, ok := strings.CutPrefix(uri, "mongodb://")
	if !ok {
		rest, ok = strings.CutPrefix(uri, "mongodb+srv://")
	}
	if !ok || strings.ContainsAny(uri, " \t\r\n") {
		return false
	}
	authority, _, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		authority = authority[i+1:]
	}
	return authority != ""
}
