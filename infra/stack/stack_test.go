package stack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cryptotracker/ctmd/infra/app"
	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/internal/crds"
	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
	"github.com/cryptotracker/ctmd/infra/mesh"
)

const gkeComponent = "ctmd:gke:Cluster::gke"

func TestGKECluster(t *testing.T) {
	s := mustDeploy(t, gkeConfig(nil))
	const member = "serviceAccount:ctmd-cluster-nodes@ctmd-dev-123.iam.gserviceaccount.com"

	assertResource(t, s, "gcp:container/cluster:Cluster", "ctmd-cluster", gkeComponent, "", `{
		"name": "ctmd-cluster", "project": "ctmd-dev-123", "location": "europe-west1-b",
		"network": "ctmd-cluster-vpc", "subnetwork": "ctmd-cluster-subnet",
		"removeDefaultNodePool": true, "initialNodeCount": 1, "deletionProtection": false,
		"releaseChannel": {"channel": "REGULAR"},
		"workloadIdentityConfig": {"workloadPool": "ctmd-dev-123.svc.id.goog"},
		"enableShieldedNodes": true, "enableLegacyAbac": false,
		"networkingMode": "VPC_NATIVE",
		"ipAllocationPolicy": {"clusterSecondaryRangeName": "ctmd-cluster-pods", "servicesSecondaryRangeName": "ctmd-cluster-services"},
		"binaryAuthorization": {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"},
		"datapathProvider": "ADVANCED_DATAPATH",
		"masterAuth": {"clientCertificateConfig": {"issueClientCertificate": false}},
		"privateClusterConfig": {"enablePrivateNodes": true, "enablePrivateEndpoint": false, "masterIpv4CidrBlock": "10.0.8.0/28"},
		"masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "0.0.0.0/0", "displayName": "0.0.0.0/0"}]},
		"loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
		"monitoringConfig": {"enableComponents": ["SYSTEM_COMPONENTS"], "managedPrometheus": {"enabled": true}},
		"maintenancePolicy": {"recurringWindow": {"startTime": "2025-01-03T23:00:00Z", "endTime": "2025-01-04T05:00:00Z", "recurrence": "FREQ=WEEKLY;BYDAY=FR,SA"}}
	}`)

	pool := assertResource(t, s, "gcp:container/nodePool:NodePool", "ctmd-cluster-nodes", gkeComponent, "", `{
		"name": "ctmd-cluster-nodes", "project": "ctmd-dev-123", "location": "europe-west1-b", "cluster": "ctmd-cluster",
		"initialNodeCount": 1,
		"autoscaling": {"minNodeCount": 1, "maxNodeCount": 3},
		"management": {"autoRepair": true, "autoUpgrade": true},
		"upgradeSettings": {"strategy": "SURGE", "maxSurge": 1, "maxUnavailable": 0},
		"nodeConfig": {
			"machineType": "e2-standard-4", "imageType": "COS_CONTAINERD",
			"serviceAccount": "ctmd-cluster-nodes@ctmd-dev-123.iam.gserviceaccount.com",
			"oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
			"metadata": {"disable-legacy-endpoints": "true"},
			"workloadMetadataConfig": {"mode": "GKE_METADATA"},
			"shieldedInstanceConfig": {"enableSecureBoot": true, "enableIntegrityMonitoring": true},
			"tags": ["ctmd-node"], "labels": {"cluster": "ctmd-cluster"}
		}
	}`)
	assertDependsOn(t, pool, "gcp:container/cluster:Cluster::ctmd-cluster", "gcp:serviceaccount/account:Account::ctmd-cluster-nodes")

	assertResource(t, s, "gcp:serviceaccount/account:Account", "ctmd-cluster-nodes", gkeComponent, "",
		`{"accountId": "ctmd-cluster-nodes", "displayName": "GKE nodes of ctmd-cluster", "project": "ctmd-dev-123"}`)
	// GKE's minimum node role, nothing more (the legacy four are what it replaces).
	if got := s.OfType("gcp:projects/iAMMember:IAMMember"); !slices.Equal(got, []string{"ctmd-cluster-nodes-defaultNodeServiceAccount"}) {
		t.Errorf("project IAM members %v: the node service account must hold only roles/container.defaultNodeServiceAccount", got)
	}
	assertResource(t, s, "gcp:projects/iAMMember:IAMMember", "ctmd-cluster-nodes-defaultNodeServiceAccount", gkeComponent, "",
		`{"project": "ctmd-dev-123", "role": "roles/container.defaultNodeServiceAccount", "member": "`+member+`"}`)

	assertResource(t, s, "gcp:compute/network:Network", "ctmd-cluster-vpc", gkeComponent, "",
		`{"name": "ctmd-cluster-vpc", "project": "ctmd-dev-123", "autoCreateSubnetworks": false, "routingMode": "REGIONAL"}`)
	assertResource(t, s, "gcp:compute/subnetwork:Subnetwork", "ctmd-cluster-subnet", gkeComponent, "", `{
		"name": "ctmd-cluster-subnet", "project": "ctmd-dev-123", "region": "europe-west1", "network": "ctmd-cluster-vpc",
		"ipCidrRange": "10.0.0.0/22", "privateIpGoogleAccess": true,
		"secondaryIpRanges": [
			{"rangeName": "ctmd-cluster-pods", "ipCidrRange": "10.0.128.0/17"},
			{"rangeName": "ctmd-cluster-services", "ipCidrRange": "10.0.4.0/22"}
		]
	}`)
	for name, description := range map[string]string{
		"ctmd-cluster-egress-0": "Cloud NAT of ctmd-cluster: add to the MongoDB Atlas IP access list",
		"ctmd-cluster-ingress":  "Istio ingress gateway of ctmd-cluster",
	} {
		assertResource(t, s, "gcp:compute/address:Address", name, gkeComponent, "", `{
			"name": "`+name+`", "project": "ctmd-dev-123", "region": "europe-west1",
			"addressType": "EXTERNAL", "networkTier": "PREMIUM", "description": "`+description+`"}`)
	}
	assertResource(t, s, "gcp:compute/router:Router", "ctmd-cluster-router", gkeComponent, "",
		`{"name": "ctmd-cluster-router", "network": "ctmd-cluster-vpc", "project": "ctmd-dev-123", "region": "europe-west1"}`)
	// The nodes leave only through the reserved address, and only this stack's subnet is translated.
	nat := assertResource(t, s, "gcp:compute/routerNat:RouterNat", "ctmd-cluster-nat", gkeComponent, "", `{
		"name": "ctmd-cluster-nat", "project": "ctmd-dev-123", "region": "europe-west1", "router": "ctmd-cluster-router",
		"natIpAllocateOption": "MANUAL_ONLY",
		"natIps": ["https://www.googleapis.com/compute/v1/projects/ctmd-dev-123/regions/europe-west1/addresses/ctmd-cluster-egress-0"],
		"sourceSubnetworkIpRangesToNat": "LIST_OF_SUBNETWORKS",
		"subnetworks": [{"name": "ctmd-cluster-subnet", "sourceIpRangesToNats": ["ALL_IP_RANGES"]}],
		"logConfig": {"enable": true, "filter": "ERRORS_ONLY"}
	}`)
	assertDependsOn(t, nat, "gcp:compute/address:Address::ctmd-cluster-egress-0", "gcp:compute/subnetwork:Subnetwork::ctmd-cluster-subnet")
	// The webhook rule follows the control plane the cluster reports, its private endpoint
	// included where GKE placed it outside the /28 (the mocks do, as Private Service Connect does).
	assertResource(t, s, "gcp:compute/firewall:Firewall", "ctmd-cluster-istio-webhook", gkeComponent, "", `{
		"name": "ctmd-cluster-istio-webhook", "project": "ctmd-dev-123", "network": "ctmd-cluster-vpc", "direction": "INGRESS",
		"sourceRanges": ["10.0.8.0/28", "`+mockstack.PrivateEndpoint+`/32"], "targetTags": ["ctmd-node"],
		"allows": [{"protocol": "tcp", "ports": ["15017"]}]
	}`)
	// Version tags cannot be moved, so ctmd:image names one build for good.
	assertResource(t, s, "gcp:artifactregistry/repository:Repository", "ctmd-cluster", gkeComponent, "",
		`{"repositoryId": "ctmd-cluster", "location": "europe-west1", "format": "DOCKER", "project": "ctmd-dev-123",
		"description": "marketdata images (immutable version tags)", "dockerConfig": {"immutableTags": true}}`)
	reader := assertResource(t, s, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", "ctmd-cluster-node-reader", gkeComponent, "",
		`{"repository": "ctmd-cluster", "location": "europe-west1", "project": "ctmd-dev-123", "role": "roles/artifactregistry.reader", "member": "`+member+`"}`)
	assertDependsOn(t, reader, "gcp:artifactregistry/repository:Repository::ctmd-cluster")

	provider := assertResource(t, s, "pulumi:providers:kubernetes", "ctmd-cluster", gkeComponent, "", `{`+createBehaviour+`, "kubeconfig": `+jsonOf(t, `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EgY2VydA==
    server: https://203.0.113.10
  name: gke_ctmd-dev-123_europe-west1-b_ctmd-cluster
contexts:
- context:
    cluster: gke_ctmd-dev-123_europe-west1-b_ctmd-cluster
    user: gke_ctmd-dev-123_europe-west1-b_ctmd-cluster
  name: gke_ctmd-dev-123_europe-west1-b_ctmd-cluster
current-context: gke_ctmd-dev-123_europe-west1-b_ctmd-cluster
kind: Config
users:
- name: gke_ctmd-dev-123_europe-west1-b_ctmd-cluster
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      installHint: Install gke-gcloud-auth-plugin for use with kubectl by following
        https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin
      provideClusterInfo: true
`)+`}`)
	assertDependsOn(t, provider, "gcp:container/nodePool:NodePool::ctmd-cluster-nodes")
	if hits := find(s.Stack, "apiVersion: v1\nclusters"); len(hits) != 1 || !hits[0].Secret {
		t.Errorf("kubeconfig must reach only the provider, as a secret: %+v", hits)
	}
}

func TestGKEConfigReachesResources(t *testing.T) {
	s := mustDeploy(t, gkeConfig(map[string]string{
		"gcp:zone":                      "us-east1-c",
		"ctmd:clusterName":              "prod",
		"ctmd:masterAuthorizedNetworks": `["203.0.113.0/24"]`,
		"ctmd:machineType":              "n2-standard-8",
		"ctmd:minNodes":                 "2",
		"ctmd:maxNodes":                 "6",
		"ctmd:deletionProtection":       "true",
		"ctmd:image":                    "us-east1-docker.pkg.dev/ctmd-dev-123/prod/marketdata:v7" + digestA,
	}))
	c := mockstack.Plain(s.Find(t, "gcp:container/cluster:Cluster", "prod").Inputs)
	for path, want := range map[string]any{
		"location":           "us-east1-c",
		"deletionProtection": true,
		"masterAuthorizedNetworksConfig.cidrBlocks.0.cidrBlock": "203.0.113.0/24",
	} {
		if got := mockstack.Get(c, path); got != want {
			t.Errorf("cluster %s = %v, want %v", path, got, want)
		}
	}
	pool := mockstack.Plain(s.Find(t, "gcp:container/nodePool:NodePool", "prod-nodes").Inputs)
	for path, want := range map[string]any{
		"nodeConfig.machineType":    "n2-standard-8",
		"autoscaling.minNodeCount":  2.0,
		"autoscaling.maxNodeCount":  6.0,
		"initialNodeCount":          1.0,
		"nodeConfig.serviceAccount": "prod-nodes@ctmd-dev-123.iam.gserviceaccount.com",
	} {
		if got := mockstack.Get(pool, path); got != want {
			t.Errorf("node pool %s = %v, want %v", path, got, want)
		}
	}
	if got := mockstack.Get(mockstack.Plain(s.Find(t, "gcp:artifactregistry/repository:Repository", "prod").Inputs), "location"); got != "us-east1" {
		t.Errorf("repository location %v", got)
	}
	dep := mockstack.Plain(s.Find(t, "kubernetes:apps/v1:Deployment", "marketdata").Inputs)
	if got := mockstack.Get(dep, "spec.template.spec.containers.0.image"); got != "us-east1-docker.pkg.dev/ctmd-dev-123/prod/marketdata:v7"+digestA {
		t.Errorf("image %v", got)
	}
	if s.outputs["clusterName"].Value != "prod" {
		t.Errorf("clusterName output %v", s.outputs["clusterName"].Value)
	}
}

func TestIstioReleases(t *testing.T) {
	s := mustDeploy(t, gkeConfig(map[string]string{"ctmd:outboundTrafficPolicy": "ALLOW_ANY", "ctmd:istioVersion": "1.28.3"}))
	const mesh = "ctmd:mesh:Istio::istio"
	for _, ns := range []string{"istio-system", "istio-ingress"} {
		assertResource(t, s, "kubernetes:core/v1:Namespace", ns, mesh, k8sProvider,
			`{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "`+ns+`"}}`)
	}
	release := func(name, chart, namespace, values string) string {
		return `{"name": "` + name + `", "chart": "` + chart + `", "version": "1.28.3", "namespace": "` + namespace + `",
			"repositoryOpts": {"repo": "https://blob.istio.io/istio-release/charts"}, "values": ` + values + `}`
	}
	record := assertBaseCRDs(t, s, "1.28.3", baseValues("1-28-3"))
	if got := mockstack.Get(s.Templates[0], "fetch_opts.repo"); got != "https://blob.istio.io/istio-release/charts" {
		t.Errorf("base chart fetched from %v", got)
	}
	if p := record.Provider; p != k8sProvider {
		t.Errorf("record's provider %q", p)
	}
	assertDependsOn(t, record, "kubernetes:core/v1:Namespace::istio-system")
	// The chart applies the rest of base once the record's hook has applied the CRDs, which it
	// leaves out by name.
	base := assertResource(t, s, "kubernetes:helm.sh/v4:Chart", "istio-base", mesh, k8sProvider,
		release("istio-base", "base", "istio-system", baseValuesWithoutCRDs("1-28-3")))
	assertDependsOn(t, base, crdRecord)
	istiod := assertResource(t, s, "kubernetes:helm.sh/v4:Chart", "istiod-1-28-3", mesh, k8sProvider,
		release("istiod-1-28-3", "istiod", "istio-system", istiodValues("1-28-3", "ALLOW_ANY", 2)))
	// On GKE the gateway's load balancer takes the stack's reserved address.
	gateway := assertResource(t, s, "kubernetes:helm.sh/v4:Chart", "istio-ingressgateway", mesh, k8sProvider,
		release("istio-ingressgateway", "gateway", "istio-ingress", gatewayValues("1-28-3", `{"type": "LoadBalancer", "loadBalancerIP": "`+mockstack.AddressFor("ctmd-cluster-ingress")+`"}`, 2)))
	assertDependsOn(t, base, "kubernetes:core/v1:Namespace::istio-system")
	assertNotDependsOn(t, base, "kubernetes:helm.sh/v4:Chart")
	assertDependsOn(t, istiod, "kubernetes:helm.sh/v4:Chart::istio-base")
	assertDependsOn(t, gateway, "kubernetes:helm.sh/v4:Chart::istiod-1-28-3", "kubernetes:core/v1:Namespace::istio-ingress", "gcp:compute/address:Address::ctmd-cluster-ingress")
	if got := s.OfType("kubernetes:helm.sh/v4:Chart"); !slices.Equal(got, []string{"istio-base", "istio-ingressgateway", "istiod-1-28-3"}) {
		t.Errorf("charts %v, want one control plane", got)
	}

	// Reads run in every update, also one that skips what they read: the README's targeted up of
	// the cluster layer. The only one is the stack's reference to its own last outputs.
	for _, r := range s.Resources {
		if r.Read && r.Type != "pulumi:pulumi:StackReference" {
			t.Errorf("%s %s is read back from the cluster: a targeted up of the cluster layer fails on it", r.Type, r.Name)
		}
	}
	for key, want := range map[string]string{"istioVersion": "1.28.3", "istioCanaryVersion": "", "istioRevision": "1-28-3"} {
		if got := s.outputs[key].Value; got != want {
			t.Errorf("output %s = %v, want %q", key, got, want)
		}
	}
	ns := mockstack.Plain(s.Find(t, "kubernetes:core/v1:Namespace", "ctmd").Inputs)
	mockstack.AssertJSON(t, "ctmd namespace labels", mockstack.Get(ns, "metadata.labels"), `{"istio.io/rev": "1-28-3"}`)
	dep := mockstack.Plain(s.Find(t, "kubernetes:apps/v1:Deployment", "marketdata").Inputs)
	if got := mockstack.Get(dep, "spec.template.metadata.annotations").(map[string]any)[app.RevisionAnnotation]; got != "1-28-3" {
		t.Errorf("pod template names revision %v, want 1-28-3", got)
	}
}

// A canary upgrade runs both control planes; base takes the new CRDs but keeps the default
// revision with the control plane in service; the gateway and the app move to the canary.
func TestIstioCanaryUpgrade(t *testing.T) {
	s := mustDeploy(t, gkeConfig(map[string]string{"ctmd:istioVersion": "1.29.2", "ctmd:istioCanaryVersion": "1.30.1"}))
	assertBaseCRDs(t, s, "1.30.1", baseValues("1-29-2"))
	if got := s.OfType("kubernetes:helm.sh/v4:Chart"); !slices.Equal(got, []string{"istio-base", "istio-ingressgateway", "istiod-1-29-2", "istiod-1-30-1"}) {
		t.Fatalf("charts %v, want both control planes", got)
	}
	release := func(name string) map[string]any {
		return mockstack.Plain(s.Find(t, "kubernetes:helm.sh/v4:Chart", name).Inputs)
	}
	for name, want := range map[string]struct{ version, values string }{
		"istio-base":    {"1.30.1", baseValuesWithoutCRDs("1-29-2")},
		"istiod-1-29-2": {"1.29.2", istiodValues("1-29-2", "REGISTRY_ONLY", 2)},
		"istiod-1-30-1": {"1.30.1", istiodValues("1-30-1", "REGISTRY_ONLY", 2)},
		"istio-ingressgateway": {"1.30.1", gatewayValues("1-30-1",
			`{"type": "LoadBalancer", "loadBalancerIP": "`+mockstack.AddressFor("ctmd-cluster-ingress")+`"}`, 2)},
	} {
		r := release(name)
		if r["version"] != want.version {
			t.Errorf("%s chart version %v, want %s", name, r["version"], want.version)
		}
		mockstack.AssertJSON(t, name+" values", r["values"], want.values)
	}
	canary := "kubernetes:helm.sh/v4:Chart::istiod-1-30-1"
	assertDependsOn(t, s.Find(t, "kubernetes:helm.sh/v4:Chart", "istio-ingressgateway"), canary)
	assertDependsOn(t, s.Find(t, "kubernetes:apps/v1:Deployment", "marketdata"), canary)
	ns := mockstack.Plain(s.Find(t, "kubernetes:core/v1:Namespace", "ctmd").Inputs)
	mockstack.AssertJSON(t, "ctmd namespace labels", mockstack.Get(ns, "metadata.labels"), `{"istio.io/rev": "1-30-1"}`)
	dep := mockstack.Plain(s.Find(t, "kubernetes:apps/v1:Deployment", "marketdata").Inputs)
	if got := mockstack.Get(dep, "spec.template.metadata.annotations").(map[string]any)[app.RevisionAnnotation]; got != "1-30-1" {
		t.Errorf("pod template names revision %v, want 1-30-1", got)
	}
	for key, want := range map[string]string{"istioVersion": "1.29.2", "istioCanaryVersion": "1.30.1", "istioRevision": "1-30-1"} {
		if got := s.outputs[key].Value; got != want {
			t.Errorf("output %s = %v, want %q", key, got, want)
		}
	}
	// The revisions kept, whose record's hook lets one go only once the app's pods have left it:
	// after the app is updated, never before (e2e TestIstioUpgradeUnderTheEngine runs the hook).
	guard := s.Find(t, "kubernetes:core/v1:ConfigMap", "istio-revisions")
	mockstack.AssertJSON(t, "the revisions record", mockstack.Get(mockstack.Plain(guard.Inputs), "metadata.annotations"), `{"`+mesh.RevisionsAnnotation+`": "1-29-2 1-30-1"}`)
	assertDependsOn(t, guard, "kubernetes:apps/v1:Deployment::marketdata")
}

// A mirror is used as the Helm repository of all three charts; an OCI registry path becomes each
// chart's full oci:// reference with no repository, the form the Release resource hands to Helm's
// registry client.
func TestIstioChartRepository(t *testing.T) {
	tests := []struct {
		repository string
		chart      map[string]string
		repo       any
	}{
		{"https://charts.mirror.example.com/istio/", map[string]string{"istio-base": "base", istiodName: "istiod", "istio-ingressgateway": "gateway"},
			"https://charts.mirror.example.com/istio"},
		{"oci://europe-west1-docker.pkg.dev/ctmd-dev-123/istio", map[string]string{
			"istio-base":           "oci://europe-west1-docker.pkg.dev/ctmd-dev-123/istio/base",
			istiodName:             "oci://europe-west1-docker.pkg.dev/ctmd-dev-123/istio/istiod",
			"istio-ingressgateway": "oci://europe-west1-docker.pkg.dev/ctmd-dev-123/istio/gateway",
		}, nil},
	}
	for _, tt := range tests {
		s := mustDeploy(t, gkeConfig(map[string]string{"ctmd:istioChartRepository": tt.repository}))
		for release, chart := range tt.chart {
			inputs := mockstack.Plain(s.Find(t, "kubernetes:helm.sh/v4:Chart", release).Inputs)
			if got := mockstack.Get(inputs, "chart"); got != chart {
				t.Errorf("%s: release %s chart %v, want %s", tt.repository, release, got, chart)
			}
			if got := mockstack.Get(inputs, "repositoryOpts.repo"); got != tt.repo {
				t.Errorf("%s: release %s repositoryOpts.repo %v, want %v", tt.repository, release, got, tt.repo)
			}
		}
		// The base chart, rendered for its CRDs, takes the same source.
		base := s.Templates[0]
		wantChart := tt.chart["istio-base"]
		if base["chart"] != wantChart || mockstack.Get(base, "fetch_opts.repo") != tt.repo {
			t.Errorf("%s: base chart %v from %v, want %s from %v", tt.repository, base["chart"], mockstack.Get(base, "fetch_opts.repo"), wantChart, tt.repo)
		}
	}
}

func TestApp(t *testing.T) {
	s := mustDeploy(t, gkeConfig(map[string]string{"ctmd:replicas": "3"}))
	const meta = `"metadata": {"name": "marketdata", "namespace": "ctmd", "labels": {"app": "marketdata"}}`

	assertResource(t, s, "kubernetes:core/v1:Namespace", "ctmd", appComponent, k8sProvider,
		`{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ctmd", "labels": {"istio.io/rev": "`+defaultRevision+`"}}}`)
	secret := assertResource(t, s, "kubernetes:core/v1:Secret", "ctmd-config", appComponent, k8sProvider, `{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": {"name": "ctmd-config", "namespace": "ctmd", "labels": {"app": "marketdata"}},
		"stringData": {"MongoDB__ConnectionString": "`+mongoURI+`"}
	}`)
	if _, ok := secret.Inputs["data"]; ok {
		t.Error("Secret must carry the connection string as stringData only")
	}

	dep := assertResource(t, s, "kubernetes:apps/v1:Deployment", "marketdata", appComponent, k8sProvider, `{
		"apiVersion": "apps/v1", "kind": "Deployment", `+meta+`,
		"spec": {
			"selector": {"matchLabels": {"app": "marketdata"}},
			"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
			"template": {
				"metadata": {"labels": {"app": "marketdata", "version": "v1"},
					"annotations": {"ctmd/config-digest": "`+configDigest(mongoURI)+`",
						"ctmd.cryptotracker.io/istio-revision": "`+defaultRevision+`",
						"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}},
				"spec": {
					"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
					"terminationGracePeriodSeconds": 30,
					"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
						"whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "marketdata"}}}],
					"containers": [{
						"name": "marketdata",
						"image": "`+gkeImage+`",
						"ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
						"env": [{"name": "MongoDB__ConnectionString",
							"valueFrom": {"secretKeyRef": {"name": "ctmd-config", "key": "MongoDB__ConnectionString"}}}],
						"livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
						"readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3},
						"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
						"securityContext": {
							"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
							"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
							"capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
						},
						"volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]
					}],
					"volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
				}
			}
		}
	}`)
	// Sidecars are injected only once istiod runs; the pods need the Secret to start.
	assertDependsOn(t, dep, istiodRef, "kubernetes:core/v1:Namespace::ctmd", "kubernetes:core/v1:Secret::ctmd-config")

	assertResource(t, s, "kubernetes:core/v1:Service", "marketdata", appComponent, k8sProvider, `{
		"apiVersion": "v1", "kind": "Service", `+meta+`,
		"spec": {"type": "ClusterIP", "selector": {"app": "marketdata"},
			"ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
	}`)
	assertResource(t, s, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "marketdata", appComponent, k8sProvider, `{
		"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", `+meta+`,
		"spec": {
			"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "marketdata"},
			"minReplicas": 3, "maxReplicas": 9,
			"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
		}
	}`)
	assertResource(t, s, "kubernetes:policy/v1:PodDisruptionBudget", "marketdata", appComponent, k8sProvider, `{
		"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", `+meta+`,
		"spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "marketdata"}}}
	}`)
	for _, typ := range []string{"kubernetes:core/v1:Secret", "kubernetes:core/v1:Service",
		"kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:policy/v1:PodDisruptionBudget"} {
		name := "marketdata"
		if typ == "kubernetes:core/v1:Secret" {
			name = "ctmd-config"
		}
		assertDependsOn(t, s.Find(t, typ, name), "kubernetes:core/v1:Namespace::ctmd")
	}
}

func TestMeshResources(t *testing.T) {
	s := mustDeploy(t, gkeConfig(nil))
	cr := func(apiVersion, kind, name, spec string) {
		t.Helper()
		meta := `{"name": "` + name + `", "namespace": "ctmd"}`
		if kind == "VirtualService" {
			// The rollout engine also writes the routes: the stack's changes must win (app/traffic.go).
			meta = `{"name": "` + name + `", "namespace": "ctmd", "annotations": {"pulumi.com/patchForce": "true"}}`
		}
		r := assertResource(t, s, "kubernetes:"+apiVersion+":"+kind, name, appComponent, k8sProvider, `{
			"apiVersion": "`+apiVersion+`", "kind": "`+kind+`",
			"metadata": `+meta+`, "spec": `+spec+`}`)
		// The CRDs come with istio-base and istiod validates them: both must be there first.
		assertDependsOn(t, r, istiodRef, "kubernetes:core/v1:Namespace::ctmd")
	}
	cr("networking.istio.io/v1", "Gateway", "ctmd-gateway", `{
		"selector": {"istio": "ingressgateway"},
		"servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]
	}`)
	cr("networking.istio.io/v1", "VirtualService", "ctmd", `{
		"hosts": ["*"], "gateways": ["ctmd-gateway"],
		"http": [{"name": "api", "match": [{"uri": {"prefix": "/api"}, "ignoreUriCase": true}],
			"route": [{"destination": {"host": "marketdata", "subset": "stable", "port": {"number": 80}}, "weight": 100}]}]
	}`)
	cr("networking.istio.io/v1", "DestinationRule", "marketdata", `{
		"host": "marketdata",
		"subsets": [{"name": "stable", "labels": {"version": "v1"}}]
	}`)
	cr("networking.istio.io/v1", "ServiceEntry", "mongo-ext", `{
		"hosts": ["mongo.external"], "addresses": ["0.0.0.0/0"],
		"ports": [{"number": 27017, "name": "mongo", "protocol": "MONGO"}],
		"location": "MESH_EXTERNAL", "resolution": "NONE"
	}`)
	cr("security.istio.io/v1", "PeerAuthentication", "default", `{"mtls": {"mode": "STRICT"}}`)
	cr("security.istio.io/v1", "AuthorizationPolicy", "marketdata", `{
		"selector": {"matchLabels": {"app": "marketdata"}},
		"action": "ALLOW",
		"rules": [{
			"from": [{"source": {"principals": ["cluster.local/ns/istio-ingress/sa/istio-ingressgateway"]}}],
			"to": `+apiOperations+`
		}]
	}`)
}

func TestServiceEntryWithMongoHosts(t *testing.T) {
	s := mustDeploy(t, gkeConfig(map[string]string{"ctmd:mongoHosts": `["*.abcde.mongodb.net","backup.example.com"]`}))
	r := s.Find(t, "kubernetes:networking.istio.io/v1:ServiceEntry", "mongo-ext")
	mockstack.AssertJSON(t, "ServiceEntry spec", mockstack.Plain(r.Inputs)["spec"], `{
		"hosts": ["*.abcde.mongodb.net", "backup.example.com"],
		"ports": [{"number": 27017, "name": "tls-mongo", "protocol": "TLS"}],
		"location": "MESH_EXTERNAL", "resolution": "NONE"
	}`)
}

// The addresses are the reserved ones: the ingress address is known without reading the
// gateway's Service, and the egress addresses are what Atlas must admit.
func TestGKEOutputs(t *testing.T) {
	s := mustDeploy(t, gkeConfig(map[string]string{"ctmd:egressIpCount": "2"}))
	ingress := mockstack.AddressFor("ctmd-cluster-ingress")
	assertOutputs(t, s, "command: gke-gcloud-auth-plugin", `{
		"clusterName": {"Value": "ctmd-cluster", "Secret": false},
		"ingressIp": {"Value": "`+ingress+`", "Secret": false},
		"url": {"Value": "http://`+ingress+`/api/v1/currencies", "Secret": false},
		"egressIps": {"Value": ["`+mockstack.AddressFor("ctmd-cluster-egress-0")+`", "`+mockstack.AddressFor("ctmd-cluster-egress-1")+`"], "Secret": false},
		"istioVersion": {"Value": "`+config.DefaultIstioVersion+`", "Secret": false},
		"istioCanaryVersion": {"Value": "", "Secret": false},
		"istioRevision": {"Value": "`+defaultRevision+`", "Secret": false},
		"istioLayout": {"Value": "`+mesh.Layout+`", "Secret": false},
		"namespace": {"Value": "ctmd", "Secret": false},
		"canaryImage": {"Value": "", "Secret": false},
		"canaryWeight": {"Value": 0, "Secret": false},
		"imageRepository": {"Value": "europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster", "Secret": false}
	}`)
	nat := mockstack.Plain(s.Find(t, "gcp:compute/routerNat:RouterNat", "ctmd-cluster-nat").Inputs)
	if got := mockstack.Get(nat, "natIps.1"); got != "https://www.googleapis.com/compute/v1/projects/ctmd-dev-123/regions/europe-west1/addresses/ctmd-cluster-egress-1" {
		t.Errorf("second NAT address %v", got)
	}
}

// An existing cluster gets no GCP resource, no Helm release, and an app that waits for neither.
func TestExistingTarget(t *testing.T) {
	dir := t.TempDir()
	kubeconfigFile := filepath.Join(dir, "config")
	if err := os.WriteFile(kubeconfigFile, []byte("current-context: kwok-e2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfigFile)
	s := mustDeploy(t, existingConfig(nil))

	const provider = "pulumi:providers:kubernetes::existing"
	// Given no kubeconfig, the provider gets $KUBECONFIG (a path) to read, as the SDK passes it.
	assertResource(t, s, "pulumi:providers:kubernetes", "existing", "ctmd:cluster:Existing::existing", "",
		`{`+createBehaviour+`, "kubeconfig": `+jsonOf(t, kubeconfigFile)+`}`)
	var types []string
	for _, r := range s.Resources {
		if strings.HasPrefix(r.Type, "gcp:") || strings.HasPrefix(r.Type, "kubernetes:helm.sh/") || r.Type == "ctmd:mesh:Istio" {
			t.Errorf("existing target without Istio declares %s %s", r.Type, r.Name)
		}
		if strings.HasPrefix(r.Type, "kubernetes:") && r.Provider != provider {
			t.Errorf("%s %s uses provider %q", r.Type, r.Name, r.Provider)
		}
		assertNotDependsOn(t, r, "kubernetes:helm.sh/")
		types = append(types, r.Type+" "+r.Name)
	}
	slices.Sort(types)
	mockstack.AssertJSON(t, "resources", types, `[
		"ctmd:admission:Policy images",
		"ctmd:alerts:Alerts alerts",
		"ctmd:app:Marketdata marketdata",
		"ctmd:cluster:Existing existing",
		"kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy ctmd-pinned-images",
		"kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding ctmd-pinned-images",
		"kubernetes:apps/v1:Deployment marketdata",
		"kubernetes:autoscaling/v2:HorizontalPodAutoscaler marketdata",
		"kubernetes:core/v1:Namespace ctmd",
		"kubernetes:core/v1:Secret ctmd-config",
		"kubernetes:core/v1:Service marketdata",
		"kubernetes:networking.istio.io/v1:DestinationRule marketdata",
		"kubernetes:networking.istio.io/v1:Gateway ctmd-gateway",
		"kubernetes:networking.istio.io/v1:ServiceEntry mongo-ext",
		"kubernetes:networking.istio.io/v1:VirtualService ctmd",
		"kubernetes:policy/v1:PodDisruptionBudget marketdata",
		"kubernetes:security.istio.io/v1:AuthorizationPolicy marketdata",
		"kubernetes:security.istio.io/v1:PeerAuthentication default",
		"pulumi:providers:kubernetes existing"
	]`)
	dep := mockstack.Plain(s.Find(t, "kubernetes:apps/v1:Deployment", "marketdata").Inputs)
	if got := mockstack.Get(dep, "spec.template.spec.containers.0.image"); got != existingImage {
		t.Errorf("image %v", got)
	}
	assertOutputs(t, s, "", `{
		"clusterName": {"Value": "kwok-e2e", "Secret": false},
		"ingressIp": {"Value": "", "Secret": false},
		"url": {"Value": "", "Secret": false},
		"istioVersion": {"Value": "", "Secret": false},
		"istioCanaryVersion": {"Value": "", "Secret": false},
		"istioRevision": {"Value": "", "Secret": false},
		"namespace": {"Value": "ctmd", "Secret": false},
		"canaryImage": {"Value": "", "Secret": false},
		"canaryWeight": {"Value": 0, "Secret": false}
	}`)
}

func TestExistingTargetWithKubeconfigSecret(t *testing.T) {
	kubeconfig := "apiVersion: v1\nkind: Config\ncurrent-context: staging\n"
	s := mustDeploy(t, existingConfig(map[string]string{"ctmd:kubeconfig": kubeconfig}))
	p := s.Find(t, "pulumi:providers:kubernetes", "existing")
	if v := p.Inputs["kubeconfig"]; !v.IsSecret() || v.SecretValue().Element.StringValue() != kubeconfig {
		t.Errorf("provider kubeconfig must be the secret ctmd:kubeconfig, got %v", v)
	}
	if out := s.outputs["kubeconfig"]; !out.Secret || out.Value != kubeconfig {
		t.Errorf("kubeconfig output secret=%v", out.Secret)
	}
	if s.outputs["clusterName"].Value != "staging" {
		t.Errorf("clusterName %v", s.outputs["clusterName"].Value)
	}
}

// installIstio on an existing cluster installs the same releases through that cluster's provider.
func TestExistingTargetInstallsIstio(t *testing.T) {
	s := mustDeploy(t, existingConfig(map[string]string{"ctmd:installIstio": "true"}))
	if got := s.OfType("kubernetes:helm.sh/v4:Chart"); !slices.Equal(got, []string{"istio-base", "istio-ingressgateway", istiodName}) {
		t.Fatalf("releases %v", got)
	}
	assertBaseCRDs(t, s, "1.31.4", baseValues(defaultRevision))
	if p := s.Find(t, "kubernetes:helm.sh/v4:Chart", istiodName).Provider; p != "pulumi:providers:kubernetes::existing" {
		t.Errorf("istiod provider %q", p)
	}
	assertDependsOn(t, s.Find(t, "kubernetes:apps/v1:Deployment", "marketdata"), istiodRef)
	for _, r := range s.Resources {
		if strings.HasPrefix(r.Type, "gcp:") {
			t.Errorf("existing target declares %s %s", r.Type, r.Name)
		}
	}
}

// The connection string reaches the cluster only through the Secret, encrypted in the state.
func TestConnectionStringOnlyInSecret(t *testing.T) {
	for name, values := range map[string]map[string]string{
		"gke": gkeConfig(nil), "existing": existingConfig(nil), "existing with istio": existingConfig(map[string]string{"ctmd:installIstio": "true"}),
	} {
		t.Run(name, func(t *testing.T) {
			s := mustDeploy(t, values)
			hits := find(s.Stack, mongoSecret)
			want := []hit{{Where: "kubernetes:core/v1:Secret ctmd-config.stringData.MongoDB__ConnectionString", Secret: true}}
			if !slices.Equal(hits, want) {
				t.Errorf("the connection string's password appears at %+v, want only %+v", hits, want)
			}
			for out, v := range s.outputs {
				if s, ok := v.Value.(string); ok && strings.Contains(s, mongoSecret) {
					t.Errorf("stack output %s contains the connection string", out)
				}
			}
		})
	}
}

// Every resource sits under a ctmd component, so main.go -> stack -> component finds it; except
// the stack's reference to its own last outputs (infra/mesh/adopt.go), which a targeted up of the
// cluster layer reads too, and must therefore find its parent in any state: the stack.
func TestEveryResourceHasAComponent(t *testing.T) {
	for _, tt := range []struct {
		values  map[string]string
		invokes []string
	}{
		// The one invoke renders Istio's base chart for its CRDs (infra/internal/crds).
		{gkeConfig(nil), []string{crds.TemplateToken}},
		{existingConfig(nil), nil},
	} {
		s := mustDeploy(t, tt.values)
		for _, r := range s.Resources {
			if r.Type == "pulumi:pulumi:StackReference" {
				if !strings.HasPrefix(r.Parent, "pulumi:pulumi:Stack::") {
					t.Errorf("%s %s has parent %q, want the stack: an up that skips that parent fails", r.Type, r.Name, r.Parent)
				}
				continue
			}
			isComponent := strings.HasPrefix(r.Type, "ctmd:")
			// A building block of infra/internal (the CRD set) belongs to the component using it.
			topLevel := isComponent && !strings.HasPrefix(r.Type, "ctmd:crds:")
			if topLevel && r.Parent != "" && !strings.HasPrefix(r.Parent, "pulumi:pulumi:Stack::") {
				t.Errorf("component %s %s is nested under %s", r.Type, r.Name, r.Parent)
			}
			if !isComponent && !strings.HasPrefix(r.Parent, "ctmd:") {
				t.Errorf("%s %s has parent %q, want a ctmd component", r.Type, r.Name, r.Parent)
			}
		}
		if !slices.Equal(s.Invokes, tt.invokes) {
			t.Errorf("invokes %v, want %v", s.Invokes, tt.invokes)
		}
	}
}

// A configuration error stops the program before it declares anything.
func TestConfigErrorDeclaresNothing(t *testing.T) {
	s, err := mockstack.Run(t, mockstack.Config{Values: map[string]string{"gcp:project": project}}, Deploy)
	if err == nil || !strings.Contains(err.Error(), `missing required config "ctmd:mongoConnectionString"`) {
		t.Fatalf("Deploy error %v", err)
	}
	if len(s.Resources) != 0 {
		t.Errorf("declared %d resources despite the error", len(s.Resources))
	}
}

// Deploy exports through ctx.Export what build returns; both targets run to completion.
func TestDeployRuns(t *testing.T) {
	for _, values := range []map[string]string{gkeConfig(nil), existingConfig(nil)} {
		values["ctmd:mongoConnectionString"] = mongoURI
		if _, err := mockstack.Run(t, mockstack.Config{Values: values, Secrets: []string{"ctmd:mongoConnectionString"}}, Deploy); err != nil {
			t.Fatal(err)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
