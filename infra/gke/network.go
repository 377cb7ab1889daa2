package gke

import (
	"fmt"
	"net"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/container"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/config"
)

// nodeTag marks the nodes so the webhook firewall rule applies to them alone.
const nodeTag = "ctmd-node"

// Ranges are the stack's address ranges, all inside its ctmd:networkCidr /16: two stacks given
// different blocks can later be peered or joined by VPN without renumbering.
type Ranges struct {
	Nodes    string // the subnet's primary range: one address per node
	Services string // secondary range for ClusterIP Services
	Pods     string // secondary range for pods: GKE gives each node a /24 of it
	Master   string // the control plane's private /28, peered into the VPC
}

// RangesOf carves the ranges out of a /16 (validated by infra/config): nodes x.y.0.0/22 (1024
// nodes), services x.y.4.0/22, control plane x.y.8.0/28, pods x.y.128.0/17 (128 nodes of 110
// pods). The control-plane /28 "must not overlap with any other ranges in use within the
// cluster's network" (GKE API, PrivateClusterConfig.masterIpv4CidrBlock,
// https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters).
func RangesOf(networkCIDR string) (Ranges, error) {
	ip, block, err := net.ParseCIDR(networkCIDR)
	if err != nil || ip.To4() == nil || !isSlash16(block) {
		return Ranges{}, fmt.Errorf("network range %q is not an IPv4 /16", networkCIDR)
	}
	a, b := block.IP.To4()[0], block.IP.To4()[1]
	at := func(c, prefix int) string { return fmt.Sprintf("%d.%d.%d.0/%d", a, b, c, prefix) }
	return Ranges{Nodes: at(0, 22), Services: at(4, 22), Master: at(8, 28), Pods: at(128, 17)}, nil
}

func isSlash16(block *net.IPNet) bool {
	ones, _ := block.Mask.Size()
	return ones == 16
}

// network is the stack's own VPC plumbing.
type network struct {
	vpc    *compute.Network
	subnet *compute.Subnetwork
	// podsRange and servicesRange name the subnet's secondary ranges for the cluster.
	podsRange, servicesRange string
	// egressIPs are the NAT's reserved addresses, ingressIP the gateway's.
	egressIPs pulumi.StringArrayOutput
	ingressIP pulumi.StringOutput
}

// newNetwork declares a VPC and subnet of the stack's own (named after the cluster, so stacks of
// one project never share or collide, and the project's default network may be absent), the
// Cloud NAT private nodes need to pull Istio's images and reach Atlas, and the static addresses.
func newNetwork(ctx *pulumi.Context, cfg *config.Config, r Ranges, parent pulumi.ResourceOption) (*network, error) {
	name := cfg.ClusterName
	n := &network{podsRange: name + "-pods", servicesRange: name + "-services"}
	var err error
	if n.vpc, err = compute.NewNetwork(ctx, name+"-vpc", &compute.NetworkArgs{
		Name:                  pulumi.String(name + "-vpc"),
		Project:               pulumi.String(cfg.Project),
		AutoCreateSubnetworks: pulumi.Bool(false),
		RoutingMode:           pulumi.String("REGIONAL"),
	}, parent); err != nil {
		return nil, err
	}
	if n.subnet, err = compute.NewSubnetwork(ctx, name+"-subnet", &compute.SubnetworkArgs{
		Name:        pulumi.String(name + "-subnet"),
		Project:     pulumi.String(cfg.Project),
		Region:      pulumi.String(cfg.Region),
		Network:     n.vpc.Name,
		IpCidrRange: pulumi.String(r.Nodes),
		SecondaryIpRanges: compute.SubnetworkSecondaryIpRangeArray{
			compute.SubnetworkSecondaryIpRangeArgs{RangeName: pulumi.String(n.podsRange), IpCidrRange: pulumi.String(r.Pods)},
			compute.SubnetworkSecondaryIpRangeArgs{RangeName: pulumi.String(n.servicesRange), IpCidrRange: pulumi.String(r.Services)},
		},
		// Private nodes reach Google APIs (Artifact Registry, logging) without the NAT.
		PrivateIpGoogleAccess: pulumi.Bool(true),
	}, parent); err != nil {
		return nil, err
	}

	egress := pulumi.StringArray{}
	natIPs := pulumi.StringArray{}
	for i := range cfg.EgressIPCount {
		addr, err := address(ctx, cfg, fmt.Sprintf("%s-egress-%d", name, i), "Cloud NAT of "+name+": add to the MongoDB Atlas IP access list", parent)
		if err != nil {
			return nil, err
		}
		egress = append(egress, addr.Address)
		natIPs = append(natIPs, addr.SelfLink)
	}
	n.egressIPs = egress.ToStringArrayOutput()
	ingress, err := address(ctx, cfg, name+"-ingress", "Istio ingress gateway of "+name, parent)
	if err != nil {
		return nil, err
	}
	n.ingressIP = ingress.Address

	router, err := compute.NewRouter(ctx, name+"-router", &compute.RouterArgs{
		Name:    pulumi.String(name + "-router"),
		Project: pulumi.String(cfg.Project),
		Region:  pulumi.String(cfg.Region),
		Network: n.vpc.Name,
	}, parent)
	if err != nil {
		return nil, err
	}
	// MANUAL_ONLY: the nodes leave through these addresses and no others, so Atlas can admit
	// exactly them; with too few addresses new nodes get no NAT rather than an unknown address
	// (https://cloud.google.com/nat/docs/ports-and-addresses). Only this stack's subnet, all its
	// ranges (nodes and pods), is translated.
	if _, err := compute.NewRouterNat(ctx, name+"-nat", &compute.RouterNatArgs{
		Name:                          pulumi.String(name + "-nat"),
		Project:                       pulumi.String(cfg.Project),
		Region:                        router.Region,
		Router:                        router.Name,
		NatIpAllocateOption:           pulumi.String("MANUAL_ONLY"),
		NatIps:                        natIPs,
		SourceSubnetworkIpRangesToNat: pulumi.String("LIST_OF_SUBNETWORKS"),
		Subnetworks: compute.RouterNatSubnetworkArray{compute.RouterNatSubnetworkArgs{
			Name:                 n.subnet.Name,
			SourceIpRangesToNats: pulumi.StringArray{pulumi.String("ALL_IP_RANGES")},
		}},
		LogConfig: &compute.RouterNatLogConfigArgs{
			Enable: pulumi.Bool(true),
			Filter: pulumi.String("ERRORS_ONLY"),
		},
	}, parent); err != nil {
		return nil, err
	}
	return n, nil
}

// webhookFirewall lets the control plane reach istiod's admission webhook on the nodes (GKE's own
// rule opens only 443 and 10250 from it). The source follows where the cluster's control plane
// actually is, read from the cluster rather than from config: its /28 for a cluster peered into
// the VPC, plus its private endpoint when GKE puts that outside the block (Private Service
// Connect). Cloud Service Mesh's "Open ports on a private cluster" opens tcp:15017 from "the
// cluster control plane's IP range" (https://cloud.google.com/service-mesh/docs/private-cluster-open-port);
// privateEndpoint is "the internal IP address of this cluster's master endpoint"
// (https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters#PrivateClusterConfig).
func webhookFirewall(ctx *pulumi.Context, cfg *config.Config, n *network, c *container.Cluster, parent pulumi.ResourceOption) error {
	private := c.PrivateClusterConfig
	sources := pulumi.All(private.MasterIpv4CidrBlock(), private.PrivateEndpoint()).ApplyT(func(v []any) []string {
		return controlPlaneSources(deref(v[0]), deref(v[1]))
	}).(pulumi.StringArrayOutput)
	_, err := compute.NewFirewall(ctx, cfg.ClusterName+"-istio-webhook", &compute.FirewallArgs{
		Name:         pulumi.String(cfg.ClusterName + "-istio-webhook"),
		Project:      pulumi.String(cfg.Project),
		Network:      n.vpc.Name,
		Direction:    pulumi.String("INGRESS"),
		SourceRanges: sources,
		TargetTags:   pulumi.StringArray{pulumi.String(nodeTag)},
		Allows: compute.FirewallAllowArray{&compute.FirewallAllowArgs{
			Protocol: pulumi.String("tcp"),
			Ports:    pulumi.StringArray{pulumi.String("15017")},
		}},
	}, parent)
	return err
}

// controlPlaneSources is the control plane's block, and its endpoint as a /32 where the block
// does not hold it (or GKE reports no block).
func controlPlaneSources(block, endpoint string) []string {
	var sources []string
	_, cidr, err := net.ParseCIDR(block)
	if err == nil {
		sources = append(sources, cidr.String())
	}
	if ip := net.ParseIP(endpoint); ip != nil && (cidr == nil || !cidr.Contains(ip)) {
		sources = append(sources, ip.String()+"/32")
	}
	return sources
}

func deref(v any) string {
	if s, ok := v.(*string); ok && s != nil {
		return *s
	}
	return ""
}

// address reserves a regional external address: it outlives what uses it (a reinstall of
// Istio, a new NAT), so DNS records and allow lists stay valid.
func address(ctx *pulumi.Context, cfg *config.Config, name, description string, parent pulumi.ResourceOption) (*compute.Address, error) {
	return compute.NewAddress(ctx, name, &compute.AddressArgs{
		Name:        pulumi.String(name),
		Project:     pulumi.String(cfg.Project),
		Region:      pulumi.String(cfg.Region),
		AddressType: pulumi.String("EXTERNAL"),
		NetworkTier: pulumi.String("PREMIUM"),
		Description: pulumi.String(description),
	}, parent)
}
