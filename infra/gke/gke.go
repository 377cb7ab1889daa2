// Package gke creates the GKE cluster (private nodes, public endpoint limited to authorized
// networks), its node pool and node service account, the Cloud NAT and firewall rule private
// nodes need, the Artifact Registry repository for the image, and a Kubernetes provider for it.
package gke

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/artifactregistry"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/container"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/cluster"
	"github.com/cryptotracker/ctmd/infra/config"
)

const (
	network = "default"
	// masterCIDR is the control plane's private /28, peered into the VPC.
	masterCIDR = "172.16.0.0/28"
	// nodeTag marks the nodes so the webhook firewall rule applies to them alone.
	nodeTag = "ctmd-node"
	// RepositoryID is the Artifact Registry repository the image is pushed to.
	RepositoryID = "ctmd"
)

// nodeRoles are the only project roles the node service account gets: write logs and metrics,
// read monitoring, attach resource metadata (Google's minimum for GKE nodes).
var nodeRoles = []string{
	"roles/logging.logWriter",
	"roles/monitoring.metricWriter",
	"roles/monitoring.viewer",
	"roles/stackdriver.resourceMetadata.writer",
}

// GKE is the cluster component.
type GKE struct {
	pulumi.ResourceState
	Cluster *cluster.Cluster
	// ImageRepository is <region>-docker.pkg.dev/<project>/ctmd, where `make image push` goes.
	ImageRepository pulumi.StringOutput
}

// New declares the cluster and everything it needs.
func New(ctx *pulumi.Context, name string, cfg *config.Config, opts ...pulumi.ResourceOption) (*GKE, error) {
	g := &GKE{}
	if err := ctx.RegisterComponentResource("ctmd:gke:Cluster", name, g, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(g)

	nodeSA, err := nodeServiceAccount(ctx, cfg, parent)
	if err != nil {
		return nil, err
	}
	if err := natAndFirewall(ctx, cfg, parent); err != nil {
		return nil, err
	}
	repo, err := repository(ctx, cfg, nodeSA, parent)
	if err != nil {
		return nil, err
	}
	g.ImageRepository = pulumi.Sprintf("%s-docker.pkg.dev/%s/%s", repo.Location, repo.Project, repo.RepositoryId)

	gkeCluster, err := container.NewCluster(ctx, cfg.ClusterName, clusterArgs(cfg), parent)
	if err != nil {
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
	provider, err := kubernetes.NewProvider(ctx, cfg.ClusterName, &kubernetes.ProviderArgs{
		Kubeconfig: kubeconfig,
	}, parent, pulumi.DependsOn([]pulumi.Resource{pool}))
	if err != nil {
		return nil, err
	}
	g.Cluster = &cluster.Cluster{Name: gkeCluster.Name, Kubeconfig: kubeconfig, Provider: provider}

	if err := ctx.RegisterResourceOutputs(g, pulumi.Map{
		"clusterName":     gkeCluster.Name,
		"kubeconfig":      kubeconfig,
		"imageRepository": g.ImageRepository,
	}); err != nil {
		return nil, err
	}
	return g, nil
}

func clusterArgs(cfg *config.Config) *container.ClusterArgs {
	authorized := container.ClusterMasterAuthorizedNetworksConfigCidrBlockArray{}
	for _, cidr := range cfg.MasterAuthorizedNetworks {
		authorized = append(authorized, container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs{
			CidrBlock:   pulumi.String(cidr),
			DisplayName: pulumi.String(cidr),
		})
	}
	return &container.ClusterArgs{
		Name:     pulumi.String(cfg.ClusterName),
		Project:  pulumi.String(cfg.Project),
		Location: pulumi.String(cfg.Zone),
		Network:  pulumi.String(network),
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
		// Empty ranges: GKE picks pod and service ranges of these sizes.
		IpAllocationPolicy: &container.ClusterIpAllocationPolicyArgs{
			ClusterIpv4CidrBlock:  pulumi.String("/17"),
			ServicesIpv4CidrBlock: pulumi.String("/22"),
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
			MasterIpv4CidrBlock:   pulumi.String(masterCIDR),
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
	}
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
	for _, role := range nodeRoles {
		if _, err := projects.NewIAMMember(ctx, cfg.ClusterName+"-nodes-"+strings.TrimPrefix(role, "roles/"), &projects.IAMMemberArgs{
			Project: pulumi.String(cfg.Project),
			Role:    pulumi.String(role),
			Member:  sa.Member,
		}, parent); err != nil {
			return nil, err
		}
	}
	return sa, nil
}

// natAndFirewall gives the private nodes a way out (they pull Istio's images from docker.io and
// gcr.io) and lets the control plane reach istiod's admission webhook, which GKE's default
// master-to-node rule (443, 10250) does not cover.
func natAndFirewall(ctx *pulumi.Context, cfg *config.Config, parent pulumi.ResourceOption) error {
	router, err := compute.NewRouter(ctx, cfg.ClusterName+"-router", &compute.RouterArgs{
		Name:    pulumi.String(cfg.ClusterName + "-router"),
		Project: pulumi.String(cfg.Project),
		Region:  pulumi.String(cfg.Region),
		Network: pulumi.String(network),
	}, parent)
	if err != nil {
		return err
	}
	if _, err := compute.NewRouterNat(ctx, cfg.ClusterName+"-nat", &compute.RouterNatArgs{
		Name:                          pulumi.String(cfg.ClusterName + "-nat"),
		Project:                       pulumi.String(cfg.Project),
		Region:                        router.Region,
		Router:                        router.Name,
		NatIpAllocateOption:           pulumi.String("AUTO_ONLY"),
		SourceSubnetworkIpRangesToNat: pulumi.String("ALL_SUBNETWORKS_ALL_IP_RANGES"),
		LogConfig: &compute.RouterNatLogConfigArgs{
			Enable: pulumi.Bool(true),
			Filter: pulumi.String("ERRORS_ONLY"),
		},
	}, parent); err != nil {
		return err
	}
	_, err = compute.NewFirewall(ctx, cfg.ClusterName+"-istio-webhook", &compute.FirewallArgs{
		Name:         pulumi.String(cfg.ClusterName + "-istio-webhook"),
		Project:      pulumi.String(cfg.Project),
		Network:      pulumi.String(network),
		Direction:    pulumi.String("INGRESS"),
		SourceRanges: pulumi.StringArray{pulumi.String(masterCIDR)},
		TargetTags:   pulumi.StringArray{pulumi.String(nodeTag)},
		Allows: compute.FirewallAllowArray{&compute.FirewallAllowArgs{
			Protocol: pulumi.String("tcp"),
			Ports:    pulumi.StringArray{pulumi.String("15017")},
		}},
	}, parent)
	return err
}

// repository is where the marketdata image lives; the nodes may pull from it.
func repository(ctx *pulumi.Context, cfg *config.Config, nodeSA *serviceaccount.Account, parent pulumi.ResourceOption) (*artifactregistry.Repository, error) {
	repo, err := artifactregistry.NewRepository(ctx, RepositoryID, &artifactregistry.RepositoryArgs{
		Project:      pulumi.String(cfg.Project),
		Location:     pulumi.String(cfg.Region),
		RepositoryId: pulumi.String(RepositoryID),
		Format:       pulumi.String("DOCKER"),
		Description:  pulumi.String("marketdata images"),
	}, parent)
	if err != nil {
		return nil, err
	}
	_, err = artifactregistry.NewRepositoryIamMember(ctx, RepositoryID+"-node-reader", &artifactregistry.RepositoryIamMemberArgs{
		Project:    repo.Project,
		Location:   repo.Location,
		Repository: repo.Name,
		Role:       pulumi.String("roles/artifactregistry.reader"),
		Member:     nodeSA.Member,
	}, parent)
	return repo, err
}
