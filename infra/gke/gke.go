// Package gke creates the GKE cluster (private nodes, public endpoint limited to authorized
// networks), its node pool and node service account (gke.go), the stack's own network with its
// Cloud NAT, static addresses and the control plane's firewall rule (network.go), the Artifact Registry repository
// for the image and its vulnerability scanning (registry.go), and a Kubernetes provider for the cluster.
package gke

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/container"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/cluster"
	"github.com/cryptotracker/ctmd/infra/config"
)

// nodeRole is GKE's minimum role for a node service account (logs, metrics, the HPA's
// performance profile), which replaces the four legacy roles logging.logWriter,
// monitoring.metricWriter, monitoring.viewer and stackdriver.resourceMetadata.writer
// (https://cloud.google.com/kubernetes-engine/security/configure-node-service-accounts: "At a minimum, these node service accounts must have the Kubernetes Engine Default Node
// Service Account (roles/container.defaultNodeServiceAccount) role on your project").
const nodeRole = "roles/container.defaultNodeServiceAccount"

// GKE is the cluster component.
type GKE struct {
	pulumi.ResourceState
	Cluster *cluster.Cluster
	// ImageRepository is <region>-docker.pkg.dev/<project>/<repositoryId>, where `make image push` goes.
	ImageRepository pulumi.StringOutput
	// IngressIP is the reserved address the ingress gateway's load balancer takes.
	IngressIP pulumi.StringOutput
	// EgressIPs are the reserved addresses the nodes reach the internet (and Atlas) from.
	EgressIPs pulumi.StringArrayOutput
}

// New declares the cluster and everything it needs. admission is what must be in force before the
// cluster exists, so that no Pod ever runs unchecked: Binary Authorization's project policy
// (infra/binauthz), which the cluster evaluates; nil for none.
func New(ctx *pulumi.Context, name string, cfg *config.Config, admission pulumi.Resource, opts ...pulumi.ResourceOption) (*GKE, error) {
	g := &GKE{}
	if err := ctx.RegisterComponentResource("ctmd:gke:Cluster", name, g, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(g)

	ranges, err := RangesOf(cfg.NetworkCIDR)
	if err != nil {
		return nil, err
	}
	nodeSA, err := nodeServiceAccount(ctx, cfg, parent)
	if err != nil {
		return nil, err
	}
	nw, err := newNetwork(ctx, cfg, ranges, parent)
	if err != nil {
		return nil, err
	}
	g.IngressIP, g.EgressIPs = nw.ingressIP, nw.egressIPs
	repo, err := repository(ctx, cfg, nodeSA, parent)
	if err != nil {
		return nil, err
	}
	g.ImageRepository = pulumi.Sprintf("%s-docker.pkg.dev/%s/%s", repo.Location, repo.Project, repo.RepositoryId)

	clusterOpts := []pulumi.ResourceOption{parent}
	if admission != nil {
		clusterOpts = append(clusterOpts, pulumi.DependsOn([]pulumi.Resource{admission}))
	}
	gkeCluster, err := container.NewCluster(ctx, cfg.ClusterName, clusterArgs(cfg, nw, ranges), clusterOpts...)
	if err != nil {
		return nil, err
	}
	if err := webhookFirewall(ctx, cfg, nw, gkeCluster, parent); err != nil {
		return nil, err
	}
	pool, err := container.NewNodePool(ctx, cfg.ClusterName+"-nodes", nodePoolArgs(cfg, gkeCluster, nodeSA), parent)
	if err != nil {
		return nil, err
	}

	kubeconfig := pulumi.ToSecret(pulumi.All(gkeCluster.Name, gkeCluster.Endpoint, gkeCluster.MasterAuth.ClusterCaCertificate().Elem()).
		ApplyT(func(v []any) (string, error) {
			return renderKubeconfig(fmt.Sprintf("gke_%s_%s_%s", cfg.Project, cfg.Zone, v[0]), v[1].(string), v[2].(string))
		})).(pulumi.StringOutput)
	// The provider waits for the node pool: until then nothing can run in the cluster.
	provider, err := cluster.NewProvider(ctx, cfg.ClusterName, kubeconfig, parent, pulumi.DependsOn([]pulumi.Resource{pool}))
	if err != nil {
		return nil, err
	}
	g.Cluster = &cluster.Cluster{Name: gkeCluster.Name, Kubeconfig: kubeconfig, Provider: provider}

	if err := ctx.RegisterResourceOutputs(g, pulumi.Map{
		"clusterName":     gkeCluster.Name,
		"kubeconfig":      kubeconfig,
		"imageRepository": g.ImageRepository,
		"ingressIp":       g.IngressIP,
		"egressIps":       g.EgressIPs,
	}); err != nil {
		return nil, err
	}
	return g, nil
}

func clusterArgs(cfg *config.Config, nw *network, ranges Ranges) *container.ClusterArgs {
	authorized := container.ClusterMasterAuthorizedNetworksConfigCidrBlockArray{}
	for _, cidr := range cfg.MasterAuthorizedNetworks {
		authorized = append(authorized, container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs{
			CidrBlock:   pulumi.String(cidr),
			DisplayName: pulumi.String(cidr),
		})
	}
	return &container.ClusterArgs{
		Name:       pulumi.String(cfg.ClusterName),
		Project:    pulumi.String(cfg.Project),
		Location:   pulumi.String(cfg.Zone),
		Network:    nw.vpc.Name,
		Subnetwork: nw.subnet.Name,
		// The default pool cannot be configured as the one below; GKE needs one node to start.
		RemoveDefaultNodePool: pulumi.Bool(true),
		InitialNodeCount:      pulumi.Int(1),
		DeletionProtection:    pulumi.Bool(cfg.DeletionProtection),
		ReleaseChannel:        &container.ClusterReleaseChannelArgs{Channel: pulumi.String("REGULAR")},
		WorkloadIdentityConfig: &container.ClusterWorkloadIdentityConfigArgs{
			WorkloadPool: pulumi.String(cfg.Project + ".svc.id.goog"),
		},
		EnableShieldedNodes: pulumi.Bool(true),
		EnableLegacyAbac:    pulumi.Bool(false),
		NetworkingMode:      pulumi.String("VPC_NATIVE"),
		// The subnet's own secondary ranges, so pod and service addresses are the stack's.
		IpAllocationPolicy: &container.ClusterIpAllocationPolicyArgs{
			ClusterSecondaryRangeName:  pulumi.String(nw.podsRange),
			ServicesSecondaryRangeName: pulumi.String(nw.servicesRange),
		},
		DatapathProvider: pulumi.String("ADVANCED_DATAPATH"),
		MasterAuth: &container.ClusterMasterAuthArgs{
			ClientCertificateConfig: &container.ClusterMasterAuthClientCertificateConfigArgs{
				IssueClientCertificate: pulumi.Bool(false),
			},
		},
		PrivateClusterConfig: &container.ClusterPrivateClusterConfigArgs{
			EnablePrivateNodes:    pulumi.Bool(true),
			EnablePrivateEndpoint: pulumi.Bool(false),
			MasterIpv4CidrBlock:   pulumi.String(ranges.Master),
		},
		MasterAuthorizedNetworksConfig: &container.ClusterMasterAuthorizedNetworksConfigArgs{
			CidrBlocks: authorized,
		},
		LoggingConfig: &container.ClusterLoggingConfigArgs{
			EnableComponents: pulumi.StringArray{pulumi.String("SYSTEM_COMPONENTS"), pulumi.String("WORKLOADS")},
		},
		// GA monitoring has no WORKLOADS component since GKE 1.24; workload metrics come from
		// Managed Service for Prometheus.
		MonitoringConfig: &container.ClusterMonitoringConfigArgs{
			EnableComponents:  pulumi.StringArray{pulumi.String("SYSTEM_COMPONENTS")},
			ManagedPrometheus: &container.ClusterMonitoringConfigManagedPrometheusArgs{Enabled: pulumi.Bool(true)},
		},
		MaintenancePolicy: maintenancePolicy(cfg.Operations),
		// Every Pod is checked against the project's Binary Authorization policy (infra/binauthz):
		// PROJECT_SINGLETON_POLICY_ENFORCE "Enforce[s] Kubernetes admission requests with
		// BinaryAuthorization using the project's singleton policy" (BinaryAuthorization.EvaluationMode,
		// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters#evaluationmode);
		// whether a refusal blocks is the policy's enforcement mode. The deprecated Enabled stays unset.
		BinaryAuthorization: &container.ClusterBinaryAuthorizationArgs{
			EvaluationMode: pulumi.String("PROJECT_SINGLETON_POLICY_ENFORCE"),
		},
	}
}

// maintenancePolicy says when GKE may upgrade the control plane and the nodes (the release
// channel upgrades them several times a year), and when it must not.
func maintenancePolicy(ops config.Operations) *container.ClusterMaintenancePolicyArgs {
	w := ops.MaintenanceWindow
	policy := &container.ClusterMaintenancePolicyArgs{
		RecurringWindow: &container.ClusterMaintenancePolicyRecurringWindowArgs{
			StartTime:  pulumi.String(w.Start),
			EndTime:    pulumi.String(w.End),
			Recurrence: pulumi.String(w.Recurrence),
		},
	}
	if x := ops.MaintenanceExclusion; x != nil {
		policy.MaintenanceExclusions = container.ClusterMaintenancePolicyMaintenanceExclusionArray{
			&container.ClusterMaintenancePolicyMaintenanceExclusionArgs{
				ExclusionName:    pulumi.String(x.Name),
				StartTime:        pulumi.String(x.Start),
				EndTime:          pulumi.String(x.End),
				ExclusionOptions: &container.ClusterMaintenancePolicyMaintenanceExclusionExclusionOptionsArgs{Scope: pulumi.String(x.Scope)},
			},
		}
	}
	return policy
}

func nodePoolArgs(cfg *config.Config, c *container.Cluster, sa *serviceaccount.Account) *container.NodePoolArgs {
	return &container.NodePoolArgs{
		Name:     pulumi.String(cfg.ClusterName + "-nodes"),
		Project:  pulumi.String(cfg.Project),
		Location: pulumi.String(cfg.Zone),
		Cluster:  c.Name,
		// Constant on purpose: the field forces a new pool when it changes, and the autoscaler
		// brings the pool up to minNodes anyway.
		InitialNodeCount: pulumi.Int(1),
		Autoscaling: &container.NodePoolAutoscalingArgs{
			MinNodeCount: pulumi.Int(cfg.MinNodes),
			MaxNodeCount: pulumi.Int(cfg.MaxNodes),
		},
		Management: &container.NodePoolManagementArgs{AutoRepair: pulumi.Bool(true), AutoUpgrade: pulumi.Bool(true)},
		UpgradeSettings: &container.NodePoolUpgradeSettingsArgs{
			Strategy:       pulumi.String("SURGE"),
			MaxSurge:       pulumi.Int(1),
			MaxUnavailable: pulumi.Int(0),
		},
		NodeConfig: &container.NodePoolNodeConfigArgs{
			MachineType:    pulumi.String(cfg.MachineType),
			ImageType:      pulumi.String("COS_CONTAINERD"),
			ServiceAccount: sa.Email,
			OauthScopes:    pulumi.StringArray{pulumi.String("https://www.googleapis.com/auth/cloud-platform")},
			Metadata:       pulumi.StringMap{"disable-legacy-endpoints": pulumi.String("true")},
			WorkloadMetadataConfig: &container.NodePoolNodeConfigWorkloadMetadataConfigArgs{
				Mode: pulumi.String("GKE_METADATA"),
			},
			ShieldedInstanceConfig: &container.NodePoolNodeConfigShieldedInstanceConfigArgs{
				EnableSecureBoot:          pulumi.Bool(true),
				EnableIntegrityMonitoring: pulumi.Bool(true),
			},
			Tags:   pulumi.StringArray{pulumi.String(nodeTag)},
			Labels: pulumi.StringMap{"cluster": pulumi.String(cfg.ClusterName)},
		},
	}
}

// nodeServiceAccount replaces the Compute Engine default account (project Editor) on the nodes.
func nodeServiceAccount(ctx *pulumi.Context, cfg *config.Config, parent pulumi.ResourceOption) (*serviceaccount.Account, error) {
	sa, err := serviceaccount.NewAccount(ctx, cfg.ClusterName+"-nodes", &serviceaccount.AccountArgs{
		Project:     pulumi.String(cfg.Project),
		AccountId:   pulumi.String(cfg.ClusterName + "-nodes"),
		DisplayName: pulumi.String("GKE nodes of " + cfg.ClusterName),
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := projects.NewIAMMember(ctx, cfg.ClusterName+"-nodes-defaultNodeServiceAccount", &projects.IAMMemberArgs{
		Project: pulumi.String(cfg.Project),
		Role:    pulumi.String(nodeRole),
		Member:  sa.Member,
	}, parent); err != nil {
		return nil, err
	}
	return sa, nil
}
