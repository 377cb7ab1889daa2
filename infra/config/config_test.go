package config_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
	"github.com/cryptotracker/ctmd/infra/internal/pins"
)

const mongoURI = "mongodb+srv://app:s3cr3t-pw@cluster0.abcde.mongodb.net/admin"

// load runs config.Load under mocks and also awaits the secret outputs, so tests see them.
func load(t *testing.T, values map[string]string, secrets ...string) (*config.Config, error) {
	t.Helper()
	var cfg *config.Config
	_, err := mockstack.Run(t, mockstack.Config{Values: values, Secrets: secrets}, func(ctx *pulumi.Context) error {
		c, err := config.Load(ctx)
		cfg = c
		return err
	})
	return cfg, err
}

func existing(extra map[string]string) map[string]string {
	v := map[string]string{
		"ctmd:target":                 "existing",
		"ctmd:image":                  existingImage,
		"ctmd:allowedImageRepository": "registry.example/ctmd",
		"ctmd:mongoConnectionString":  mongoURI,
	}
	for k, val := range extra {
		v[k] = val
	}
	return v
}

// gkeImage is a released version in the repository of a gke stack with the default names, pinned
// by digest as the admission policy requires; existingImage the same in an existing cluster's
// allowed repository.
const (
	gkeImage      = "europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata:v1.4.0" + digestA
	existingImage = "registry.example/ctmd/marketdata:v1" + digestA
	digestA       = "@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB       = "@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func gke(extra map[string]string) map[string]string {
	v := map[string]string{"gcp:project": "ctmd-dev-123", "ctmd:image": gkeImage, "ctmd:mongoConnectionString": mongoURI}
	for k, val := range extra {
		v[k] = val
	}
	return v
}

func await(t *testing.T, o pulumi.Output) (any, bool) {
	t.Helper()
	res, err := internals.UnsafeAwaitOutput(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res.Value, res.Secret
}

// The defaults the program applies must be the ones Pulumi.yaml declares, key by key, and every
// declared key must be one the program reads.
func TestDefaultsMatchPulumiYAML(t *testing.T) {
	proj, err := workspace.LoadProject(filepath.Join("..", "..", "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := proj.Validate(); err != nil {
		t.Fatal(err)
	}
	if proj.Name.String() != config.Namespace || proj.Runtime.Name() != "go" || proj.Main != "infra/" {
		t.Fatalf("project = %s runtime %s main %s, want ctmd go infra/", proj.Name, proj.Runtime.Name(), proj.Main)
	}
	cfg, err := load(t, existing(nil), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	// What Load produced for each key when the stack leaves it unset.
	applied := map[string]any{
		"target":                   "existing", // set by the test: the default is checked below
		"clusterName":              cfg.ClusterName,
		"masterAuthorizedNetworks": toAny(cfg.MasterAuthorizedNetworks),
		"machineType":              cfg.MachineType,
		"minNodes":                 cfg.MinNodes,
		"maxNodes":                 cfg.MaxNodes,
		"deletionProtection":       cfg.DeletionProtection,
		"networkCidr":              cfg.NetworkCIDR,
		"repositoryId":             "", // derived: the cluster name, checked below
		"egressIpCount":            cfg.EgressIPCount,
		"istioVersion":             cfg.IstioVersion,
		"istioChartRepository":     cfg.IstioChartRepository,
		"istioCanaryVersion":       cfg.IstioCanaryVersion,
		"installIstio":             cfg.InstallIstio,
		"outboundTrafficPolicy":    cfg.OutboundTrafficPolicy,
		"image":                    "",
		"replicas":                 cfg.Replicas,
		"canaryImage":              cfg.CanaryImage,
		"canaryWeight":             cfg.CanaryWeight,
		"mongoConnectionString":    "",
		"mongoHosts":               toAny(cfg.MongoHosts),
		// Empty means "the gateway ctmd installs" (or an error without installIstio); the
		// derived value is checked in TestIngressPrincipals.
		"ingressPrincipals": toAny(nil),
		"callerPrincipals":  toAny(cfg.CallerPrincipals),
		"kubeconfig":        "",
		// Operations: the replica minimums apply everywhere; the maintenance keys default to ""
		// (target gke applies the window in TestOperationsDefaults, existing refuses them).
		"gatewayMinReplicas":          cfg.Operations.GatewayMinReplicas,
		"istiodMinReplicas":           cfg.Operations.IstiodMinReplicas,
		"maintenanceWindowStart":      "",
		"maintenanceWindowEnd":        "",
		"maintenanceWindowRecurrence": "",
		"maintenanceExclusionStart":   "",
		"maintenanceExclusionEnd":     "",
		"maintenanceExclusionScope":   "",
		// Edge: HTTP only until a domain is set.
		"domain":                     cfg.Edge.Domain,
		"dnsZone":                    cfg.Edge.DNSZone,
		"acmeEmail":                  cfg.Edge.ACMEEmail,
		"acmeServer":                 cfg.Edge.ACMEServer,
		"tlsIssuer":                  cfg.Edge.Issuer,
		"certManagerVersion":         cfg.Edge.CertManagerVersion,
		"certManagerChartRepository": cfg.Edge.CertManagerChartRepository,
		// Alerts: the objectives are percentages in the file (a config value has no float type);
		// managedPrometheus depends on the target (TestAlertsDefaults).
		"availabilityObjective": config.DefaultAvailabilityObjective,
		"latencyObjective":      config.DefaultLatencyObjective,
		"latencyThresholdMs":    cfg.Alerts.LatencyThresholdMs,
		"managedPrometheus":     "",
		"alertReceiverUrl":      "",
		// Both depend on the target (TestAlertsDefaults).
		"manageAlertmanager":         "",
		"noTrafficAlert":             "",
		"uptimeNotificationChannels": toAny(cfg.Alerts.UptimeChannels),
		// Supply chain: the allowed repository is the stack's own on gke (TestSupplyChain).
		"imageAdmission":         cfg.SupplyChain.ImageAdmission,
		"allowedImageRepository": "",
		"proxyImages":            toAny(cfg.SupplyChain.ProxyImages),
		"binaryAuthorization":    cfg.SupplyChain.BinaryAuthorization,
		// Delivery: the engine's keys are read only when it runs (TestDeliveryDefaults).
		"delivery":                cfg.Delivery.Engine,
		"deliverySteps":           toAny(nil),
		"deliveryStepDuration":    config.DefaultStepDurationText,
		"deliveryPrometheusUrl":   "",
		"argoRolloutsManifestUrl": "",
	}
	gkeCfg, err := load(t, gke(nil), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	applied["target"] = string(gkeCfg.Target)

	if len(proj.Config) != len(applied) {
		t.Errorf("Pulumi.yaml declares %d keys, the program reads %d", len(proj.Config), len(applied))
	}
	for key, want := range applied {
		decl, ok := proj.Config[key]
		if !ok {
			t.Errorf("Pulumi.yaml does not declare %q", key)
			continue
		}
		if decl.Description == "" || decl.Type == nil {
			t.Errorf("Pulumi.yaml %q lacks a type or description", key)
		}
		def := decl.Default
		if f, isFloat := def.(float64); isFloat {
			def = int(f)
		}
		if arr, isArr := def.([]any); isArr && len(arr) == 0 {
			def = []any(nil)
		}
		if !reflect.DeepEqual(def, want) {
			t.Errorf("%q: Pulumi.yaml default %#v, program default %#v", key, decl.Default, want)
		}
	}
	if gkeCfg.RepositoryID != config.DefaultClusterName {
		t.Errorf("repository id %q, want the cluster name %s", gkeCfg.RepositoryID, config.DefaultClusterName)
	}
	if gkeCfg.Zone != config.DefaultZone || gkeCfg.Region != "europe-west1" {
		t.Errorf("zone %q region %q, want %s europe-west1", gkeCfg.Zone, gkeCfg.Region, config.DefaultZone)
	}
}

// The engine hands a real run every default Pulumi.yaml declares, "" included (mock tests get
// none): the program must accept them all, and derive what "" stands for.
func TestLoadAcceptsPulumiYAMLDefaults(t *testing.T) {
	proj, err := workspace.LoadProject(filepath.Join("..", "..", "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]string{}
	for key, decl := range proj.Config {
		if decl.Default == nil {
			continue
		}
		v := fmt.Sprint(decl.Default)
		if _, isList := decl.Default.([]any); isList {
			raw, err := json.Marshal(decl.Default)
			if err != nil {
				t.Fatal(err)
			}
			v = string(raw)
		}
		declared[config.Namespace+":"+key] = v
	}
	withDefaults := func(extra map[string]string) map[string]string {
		values := maps.Clone(declared)
		maps.Copy(values, extra)
		return values
	}
	// The declared "" image is no image: a gke stack names the version it runs, as existing does.
	_, err = load(t, withDefaults(map[string]string{"gcp:project": "ctmd-dev-123", "ctmd:mongoConnectionString": mongoURI}), "ctmd:mongoConnectionString")
	if err == nil || !strings.Contains(err.Error(), `missing required config "ctmd:image"`) {
		t.Errorf("gke without an image: %v, want the missing ctmd:image", err)
	}
	cfg, err := load(t, withDefaults(map[string]string{"gcp:project": "ctmd-dev-123", "ctmd:image": gkeImage, "ctmd:mongoConnectionString": mongoURI}), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatalf("gke with the declared defaults: %v", err)
	}
	if cfg.Image != gkeImage || cfg.CanaryImage != "" || cfg.RepositoryID != cfg.ClusterName {
		t.Errorf("image %q canary %q repository %q: want the image set, no canary and the repository named after the cluster", cfg.Image, cfg.CanaryImage, cfg.RepositoryID)
	}
	if _, err := load(t, withDefaults(map[string]string{"ctmd:target": "existing", "ctmd:image": existingImage,
		"ctmd:allowedImageRepository": "registry.example/ctmd", "ctmd:mongoConnectionString": mongoURI}), "ctmd:mongoConnectionString"); err != nil {
		t.Fatalf("existing with the declared defaults: %v", err)
	}
}

func toAny(items []string) []any {
	if len(items) == 0 {
		return nil
	}
	out := make([]any, len(items))
	for i, s := range items {
		out[i] = s
	}
	return out
}

// versions.env is the one place tool versions are pinned; the Istio default must be its value.
func TestIstioDefaultIsVersionsEnv(t *testing.T) {
	pinned, err := pins.Version("ISTIO_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if pinned != config.DefaultIstioVersion {
		t.Fatalf("versions.env ISTIO_VERSION=%q, config.DefaultIstioVersion=%q", pinned, config.DefaultIstioVersion)
	}
}

func TestLoadSetValues(t *testing.T) {
	cfg, err := load(t, gke(map[string]string{
		"gcp:zone":                      "us-central1-a",
		"ctmd:clusterName":              "prod",
		"ctmd:masterAuthorizedNetworks": `["203.0.113.0/24","198.51.100.4/32"]`,
		"ctmd:machineType":              "n2-standard-8",
		"ctmd:minNodes":                 "2",
		"ctmd:maxNodes":                 "5",
		"ctmd:deletionProtection":       "true",
		"ctmd:networkCidr":              "172.20.0.0/16",
		"ctmd:repositoryId":             "images",
		"ctmd:egressIpCount":            "2",
		"ctmd:istioVersion":             "1.28.0",
		"ctmd:istioChartRepository":     "oci://europe-west1-docker.pkg.dev/ctmd-dev-123/istio-charts/",
		"ctmd:outboundTrafficPolicy":    "ALLOW_ANY",
		"ctmd:image":                    "us-central1-docker.pkg.dev/ctmd-dev-123/images/marketdata@sha256:" + strings.Repeat("a", 64),
		"ctmd:replicas":                 "4",
		"ctmd:canaryImage":              "us-central1-docker.pkg.dev/ctmd-dev-123/images/marketdata:v2" + digestB,
		"ctmd:imageAdmission":           "warn",
		"ctmd:binaryAuthorization":      "enforce",
		"ctmd:canaryWeight":             "0",
		"ctmd:mongoHosts":               `["*.abcde.mongodb.net","db.example.com"]`,
		"ctmd:ingressPrincipals":        `["example.org/ns/gw/sa/edge","example.org/ns/gw/sa/edge-2"]`,
		"ctmd:callerPrincipals":         `["example.org/ns/shop/sa/checkout"]`,
	}), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Target: config.TargetGKE, Project: "ctmd-dev-123", Zone: "us-central1-a", Region: "us-central1",
		ClusterName: "prod", MasterAuthorizedNetworks: []string{"203.0.113.0/24", "198.51.100.4/32"},
		MachineType: "n2-standard-8", MinNodes: 2, MaxNodes: 5, DeletionProtection: true,
		NetworkCIDR: "172.20.0.0/16", RepositoryID: "images", EgressIPCount: 2,
		IstioVersion: "1.28.0", InstallIstio: true, OutboundTrafficPolicy: "ALLOW_ANY",
		IstioChartRepository: "oci://europe-west1-docker.pkg.dev/ctmd-dev-123/istio-charts",
		Image:                "us-central1-docker.pkg.dev/ctmd-dev-123/images/marketdata@sha256:" + strings.Repeat("a", 64),
		Replicas:             4, CanaryImage: "us-central1-docker.pkg.dev/ctmd-dev-123/images/marketdata:v2" + digestB, CanaryWeight: 0,
		MongoHosts:            []string{"*.abcde.mongodb.net", "db.example.com"},
		IngressPrincipals:     []string{"example.org/ns/gw/sa/edge", "example.org/ns/gw/sa/edge-2"},
		CallerPrincipals:      []string{"example.org/ns/shop/sa/checkout"},
		MongoConnectionString: cfg.MongoConnectionString,
		Operations:            defaultOperations,
		Edge: config.Edge{ACMEServer: config.DefaultACMEServer, CertManagerVersion: config.DefaultCertManagerVersion,
			CertManagerChartRepository: config.DefaultCertManagerChartRepository},
		Alerts: defaultAlerts(config.TargetGKE),
		SupplyChain: config.SupplyChain{ImageAdmission: "warn", BinaryAuthorization: "enforce",
			AllowedRepository: "us-central1-docker.pkg.dev/ctmd-dev-123/images"},
		Delivery: config.Delivery{Engine: config.DeliveryManual},
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("got %+v\nwant %+v", *cfg, want)
	}
	v, secret := await(t, cfg.MongoConnectionString)
	if v != mongoURI || !secret {
		t.Fatalf("connection string output: secret=%v, value matches=%v", secret, v == mongoURI)
	}
}

func TestExistingTargetKubeconfig(t *testing.T) {
	kubeconfig := "apiVersion: v1\nkind: Config\ncurrent-context: kind-e2e\ncontexts: []\n"
	cfg, err := load(t, existing(map[string]string{"ctmd:kubeconfig": kubeconfig}),
		"ctmd:mongoConnectionString", "ctmd:kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.HasKubeconfig || cfg.KubeContext != "kind-e2e" || cfg.Project != "" {
		t.Fatalf("HasKubeconfig=%v KubeContext=%q Project=%q", cfg.HasKubeconfig, cfg.KubeContext, cfg.Project)
	}
	if v, secret := await(t, cfg.Kubeconfig); v != kubeconfig || !secret {
		t.Fatalf("kubeconfig output secret=%v value=%v", secret, v)
	}

	// Without ctmd:kubeconfig the context comes from the first $KUBECONFIG file that names one.
	dir := t.TempDir()
	empty, named := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(empty, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(named, []byte("current-context: ambient-ctx\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", strings.Join([]string{filepath.Join(dir, "missing"), empty, named}, string(os.PathListSeparator)))
	cfg, err = load(t, existing(nil), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HasKubeconfig || cfg.KubeContext != "ambient-ctx" {
		t.Fatalf("HasKubeconfig=%v KubeContext=%q", cfg.HasKubeconfig, cfg.KubeContext)
	}
}

func TestLoadErrors(t *testing.T) {
	const secretKey = "ctmd:mongoConnectionString"
	tests := []struct {
		name    string
		values  map[string]string
		secrets []string
		want    string
	}{
		{"missing connection string", map[string]string{"gcp:project": "ctmd-dev-123"}, nil,
			`missing required config "ctmd:mongoConnectionString": set it with pulumi config set --secret ctmd:mongoConnectionString <mongodb+srv://user:password@host/>`},
		{"plain-text connection string", gke(nil), nil,
			`config "ctmd:mongoConnectionString" is stored in plain text: set it with pulumi config set --secret ctmd:mongoConnectionString <mongodb+srv://user:password@host/>`},
		{"not a mongo uri", gke(map[string]string{secretKey: "postgres://u:s3cr3t-pw@h/db"}), []string{secretKey},
			`invalid config "ctmd:mongoConnectionString": must be a mongodb:// or mongodb+srv:// URI with a host; set it with pulumi config set --secret ctmd:mongoConnectionString <mongodb+srv://user:password@host/>`},
		{"mongo uri without host", gke(map[string]string{secretKey: "mongodb://u:s3cr3t-pw@/db"}), []string{secretKey},
			`invalid config "ctmd:mongoConnectionString": must be a mongodb:// or mongodb+srv:// URI with a host`},
		{"missing project", map[string]string{secretKey: mongoURI}, []string{secretKey},
			`missing required config "gcp:project" (needed when ctmd:target is gke): set it with pulumi config set gcp:project <project-id>`},
		{"bad project", gke(map[string]string{"gcp:project": "My Project"}), []string{secretKey},
			`invalid config "gcp:project" value "My Project": must be a GCP project id (6 to 30 lowercase letters, digits or hyphens); set it with pulumi config set gcp:project <project-id>`},
		{"bad zone", gke(map[string]string{"gcp:zone": "europe-west1"}), []string{secretKey},
			`invalid config "gcp:zone" value "europe-west1": must be a zone such as europe-west1-b; set it with pulumi config set gcp:zone europe-west1-b`},
		{"bad target", gke(map[string]string{"ctmd:target": "aks"}), []string{secretKey},
			`invalid config "ctmd:target" value "aks": must be one of gke, existing; set it with pulumi config set ctmd:target gke`},
		{"existing with the empty default image", existing(map[string]string{"ctmd:image": ""}), []string{secretKey},
			`missing required config "ctmd:image" (needed when ctmd:target is existing): set it with pulumi config set ctmd:image <registry>/marketdata:<tag>`},
		{"existing image unset", map[string]string{"ctmd:target": "existing", secretKey: mongoURI}, []string{secretKey},
			`missing required config "ctmd:image" (needed when ctmd:target is existing): set it with pulumi config set ctmd:image <registry>/marketdata:<tag>`},
		{"bad image", gke(map[string]string{"ctmd:image": "Marketdata Latest"}), []string{secretKey},
			`invalid config "ctmd:image" value "Marketdata Latest": must be an image reference`},
		{"plain-text kubeconfig", existing(map[string]string{"ctmd:kubeconfig": "apiVersion: v1"}), []string{secretKey},
			"config \"ctmd:kubeconfig\" is stored in plain text: set it with pulumi config set --secret ctmd:kubeconfig \"$(cat <kubeconfig-file>)\""},
		{"cluster name too long", gke(map[string]string{"ctmd:clusterName": "a-very-long-cluster-name-indeed"}), []string{secretKey},
			`invalid config "ctmd:clusterName" value "a-very-long-cluster-name-indeed": must be 1 to 24 lowercase letters, digits or hyphens, starting with a letter (the node service account id <clusterName>-nodes must fit in 30 characters); set it with pulumi config set ctmd:clusterName ctmd-cluster`},
		{"bad cidr", gke(map[string]string{"ctmd:masterAuthorizedNetworks": `["10.0.0.0/33"]`}), []string{secretKey},
			`invalid config "ctmd:masterAuthorizedNetworks" value "10.0.0.0/33": must be a list of CIDRs such as 203.0.113.0/24; set it with pulumi config set --path 'ctmd:masterAuthorizedNetworks[0]' 203.0.113.0/24`},
		{"empty cidr list", gke(map[string]string{"ctmd:masterAuthorizedNetworks": `[]`}), []string{secretKey},
			`invalid config "ctmd:masterAuthorizedNetworks" value "[]": must be at least one CIDR`},
		{"cidrs not a list", gke(map[string]string{"ctmd:masterAuthorizedNetworks": `10.0.0.0/8`}), []string{secretKey},
			`invalid config "ctmd:masterAuthorizedNetworks" value "10.0.0.0/8": must be a list of strings; set it with pulumi config set --path 'ctmd:masterAuthorizedNetworks[0]' 203.0.113.0/24`},
		{"bad machine type", gke(map[string]string{"ctmd:machineType": "big"}), []string{secretKey},
			`invalid config "ctmd:machineType" value "big": must be a Compute Engine machine type; set it with pulumi config set ctmd:machineType e2-standard-4`},
		{"minNodes not a number", gke(map[string]string{"ctmd:minNodes": "one"}), []string{secretKey},
			`invalid config "ctmd:minNodes" value "one": must be an integer of at least 1; set it with pulumi config set ctmd:minNodes 1`},
		{"minNodes zero", gke(map[string]string{"ctmd:minNodes": "0"}), []string{secretKey},
			`invalid config "ctmd:minNodes" value "0": must be an integer of at least 1`},
		{"maxNodes below minNodes", gke(map[string]string{"ctmd:minNodes": "3", "ctmd:maxNodes": "2"}), []string{secretKey},
			`invalid config "ctmd:maxNodes": must be at least ctmd:minNodes (3); set it with pulumi config set ctmd:maxNodes 3`},
		{"bad deletionProtection", gke(map[string]string{"ctmd:deletionProtection": "yes"}), []string{secretKey},
			`invalid config "ctmd:deletionProtection" value "yes": must be true or false; set it with pulumi config set ctmd:deletionProtection false`},
		{"bad istio version", gke(map[string]string{"ctmd:istioVersion": "latest"}), []string{secretKey},
			`invalid config "ctmd:istioVersion" value "latest": must be an Istio release version; set it with pulumi config set ctmd:istioVersion 1.31.4`},
		{"network not a cidr", gke(map[string]string{"ctmd:networkCidr": "10.1.0.0"}), []string{secretKey},
			`invalid config "ctmd:networkCidr" value "10.1.0.0": must be a private IPv4 /16 such as 10.1.0.0/16, different for each stack of a project; set it with pulumi config set ctmd:networkCidr 10.1.0.0/16`},
		{"network not a /16", gke(map[string]string{"ctmd:networkCidr": "10.1.0.0/20"}), []string{secretKey},
			`invalid config "ctmd:networkCidr" value "10.1.0.0/20": must be a private IPv4 /16`},
		{"network not private", gke(map[string]string{"ctmd:networkCidr": "8.8.0.0/16"}), []string{secretKey},
			`invalid config "ctmd:networkCidr" value "8.8.0.0/16": must be a private IPv4 /16`},
		{"network host bits", gke(map[string]string{"ctmd:networkCidr": "10.1.2.0/16"}), []string{secretKey},
			`invalid config "ctmd:networkCidr" value "10.1.2.0/16": must be a private IPv4 /16`},
		{"bad repository id", gke(map[string]string{"ctmd:repositoryId": "My_Repo"}), []string{secretKey},
			`invalid config "ctmd:repositoryId" value "My_Repo": must be an Artifact Registry repository id (lowercase letters, digits and hyphens, starting with a letter, at most 63); set it with pulumi config set ctmd:repositoryId ctmd`},
		{"no egress address", gke(map[string]string{"ctmd:egressIpCount": "0"}), []string{secretKey},
			`invalid config "ctmd:egressIpCount" value "0": must be an integer of at least 1; set it with pulumi config set ctmd:egressIpCount 1`},
		{"canary version is the one in service", gke(map[string]string{"ctmd:istioVersion": "1.29.2", "ctmd:istioCanaryVersion": "1.29.2"}), []string{secretKey},
			`invalid config "ctmd:istioCanaryVersion" value "1.29.2": the canary control plane must be newer than ctmd:istioVersion "1.29.2" (the one in service; the CRDs follow the canary and must not move back); set a newer one with pulumi config set ctmd:istioCanaryVersion <next-version>, or finish an upgrade with pulumi config rm ctmd:istioCanaryVersion`},
		// The README's old example: 1.30.2 as the canary of the default 1.31.4 would downgrade the CRDs.
		{"canary version older than the one in service", gke(map[string]string{"ctmd:istioCanaryVersion": "1.30.2"}), []string{secretKey},
			`invalid config "ctmd:istioCanaryVersion" value "1.30.2": the canary control plane must be newer than ctmd:istioVersion "1.31.4"`},
		// Compared as numbers: 1.9.0 is older than 1.31.4, though larger as text.
		{"canary version older by number", gke(map[string]string{"ctmd:istioCanaryVersion": "1.9.0"}), []string{secretKey},
			`invalid config "ctmd:istioCanaryVersion" value "1.9.0": the canary control plane must be newer`},
		{"canary version not a version", gke(map[string]string{"ctmd:istioCanaryVersion": "1.30"}), []string{secretKey},
			`invalid config "ctmd:istioCanaryVersion" value "1.30": must be an Istio release version; set it with pulumi config set ctmd:istioCanaryVersion <next-version>`},
		{"canary without installing istio", existing(map[string]string{"ctmd:installIstio": "false", "ctmd:istioCanaryVersion": "1.30.1"}), []string{secretKey},
			`config "ctmd:istioCanaryVersion" needs ctmd:installIstio true (the stack upgrades only the Istio it installs): remove it with pulumi config rm ctmd:istioCanaryVersion`},
		{"chart repository not a URL", gke(map[string]string{"ctmd:istioChartRepository": "istio-release"}), []string{secretKey},
			`invalid config "ctmd:istioChartRepository" value "istio-release": must be an http(s):// Helm repository or an oci:// registry path; set it with pulumi config set ctmd:istioChartRepository https://blob.istio.io/istio-release/charts`},
		{"chart repository scheme", gke(map[string]string{"ctmd:istioChartRepository": "ftp://mirror.example.com/charts"}), []string{secretKey},
			`invalid config "ctmd:istioChartRepository" value "ftp://mirror.example.com/charts": must be an http(s):// Helm repository or an oci:// registry path`},
		{"chart repository with credentials", gke(map[string]string{"ctmd:istioChartRepository": "https://bob:s3cr3t-pw@mirror.example.com/charts"}), []string{secretKey},
			`invalid config "ctmd:istioChartRepository": a repository URL must not hold credentials (they would be stored in plain text); set it with pulumi config set ctmd:istioChartRepository https://blob.istio.io/istio-release/charts`},
		{"bad installIstio", gke(map[string]string{"ctmd:installIstio": "maybe"}), []string{secretKey},
			`invalid config "ctmd:installIstio" value "maybe": must be true or false; set it with pulumi config set ctmd:installIstio true`},
		{"bad outbound policy", gke(map[string]string{"ctmd:outboundTrafficPolicy": "registry_only"}), []string{secretKey},
			`invalid config "ctmd:outboundTrafficPolicy" value "registry_only": must be one of REGISTRY_ONLY, ALLOW_ANY; set it with pulumi config set ctmd:outboundTrafficPolicy REGISTRY_ONLY`},
		{"gke without istio", gke(map[string]string{"ctmd:installIstio": "false"}), []string{secretKey},
			`invalid config "ctmd:installIstio" value "false": a cluster created by the stack has no Istio (false is for ctmd:target existing); set it with pulumi config set ctmd:installIstio true`},
		{"gke with kubeconfig", gke(map[string]string{"ctmd:kubeconfig": "apiVersion: v1"}), []string{secretKey, "ctmd:kubeconfig"},
			`config "ctmd:kubeconfig" is only used with ctmd:target existing: remove it with pulumi config rm ctmd:kubeconfig`},
		{"bad replicas", gke(map[string]string{"ctmd:replicas": "0"}), []string{secretKey},
			`invalid config "ctmd:replicas" value "0": must be an integer of at least 1; set it with pulumi config set ctmd:replicas 2`},
		{"existing without istio needs the gateway's principal", existing(map[string]string{"ctmd:installIstio": "false"}), []string{secretKey},
			`missing required config "ctmd:ingressPrincipals" (needed when ctmd:installIstio is false): find the namespace and service account of the cluster's ingress gateway with kubectl get pods -A -l istio=ingressgateway -o custom-columns=NAMESPACE:.metadata.namespace,SERVICE_ACCOUNT:.spec.serviceAccountName and set it with pulumi config set --path 'ctmd:ingressPrincipals[0]' cluster.local/ns/<namespace>/sa/<service-account>`},
		{"existing without istio, empty principal list", existing(map[string]string{"ctmd:installIstio": "false", "ctmd:ingressPrincipals": "[]"}), []string{secretKey},
			`missing required config "ctmd:ingressPrincipals" (needed when ctmd:installIstio is false)`},
		{"bad ingress principal", gke(map[string]string{"ctmd:ingressPrincipals": `["istio-ingressgateway"]`}), []string{secretKey},
			`invalid config "ctmd:ingressPrincipals" value "istio-ingressgateway": must be a list of Istio principals <trust-domain>/ns/<namespace>/sa/<service-account>; set it with pulumi config set --path 'ctmd:ingressPrincipals[0]' cluster.local/ns/istio-ingress/sa/istio-ingressgateway`},
		{"wildcard caller principal", gke(map[string]string{"ctmd:callerPrincipals": `["cluster.local/ns/shop/sa/*"]`}), []string{secretKey},
			`invalid config "ctmd:callerPrincipals" value "cluster.local/ns/shop/sa/*": must be a list of Istio principals`},
		{"canary weight above 100", existing(map[string]string{"ctmd:canaryImage": "registry.example/ctmd/marketdata:v2" + digestB, "ctmd:canaryWeight": "101"}), []string{secretKey},
			`invalid config "ctmd:canaryWeight" value "101": must be an integer from 0 to 100; set it with pulumi config set ctmd:canaryWeight 10`},
		{"negative canary weight", existing(map[string]string{"ctmd:canaryImage": "registry.example/ctmd/marketdata:v2" + digestB, "ctmd:canaryWeight": "-5"}), []string{secretKey},
			`invalid config "ctmd:canaryWeight" value "-5": must be an integer from 0 to 100`},
		{"canary weight without canary", existing(map[string]string{"ctmd:canaryWeight": "20"}), []string{secretKey},
			`config "ctmd:canaryWeight" is set but ctmd:canaryImage is not: there is no canary to send traffic to; remove it with pulumi config rm ctmd:canaryWeight, or start a canary with pulumi config set ctmd:canaryImage <registry>/marketdata:<new-tag>`},
		{"canary image equals image", existing(map[string]string{"ctmd:canaryImage": existingImage}), []string{secretKey},
			`invalid config "ctmd:canaryImage": it equals ctmd:image, so there is nothing to compare; promote the canary with pulumi config rm ctmd:canaryImage, or set another image with pulumi config set ctmd:canaryImage <registry>/marketdata:<new-tag>`},
		{"bad canary image", gke(map[string]string{"ctmd:canaryImage": "Marketdata V2"}), []string{secretKey},
			`invalid config "ctmd:canaryImage" value "Marketdata V2": must be an image reference <registry>/<path>:<version> or <registry>/<path>@sha256:<digest>; set it with pulumi config set ctmd:canaryImage <registry>/marketdata:v1.4.0`},
		{"gke image unset", gke(map[string]string{"ctmd:image": ""}), []string{secretKey},
			`missing required config "ctmd:image": push a version of the image to the stack's repository (README, "Deploy to GCP") and set it with pulumi config set ctmd:image europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata:<version>`},
		{"gke image unset names the stack's repository", gke(map[string]string{"ctmd:image": "", "gcp:zone": "us-east1-c", "ctmd:repositoryId": "images"}), []string{secretKey},
			`pulumi config set ctmd:image us-east1-docker.pkg.dev/ctmd-dev-123/images/marketdata:<version>`},
		{"image latest", gke(map[string]string{"ctmd:image": "europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata:latest"}), []string{secretKey},
			`invalid config "ctmd:image" value "europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata:latest": must be pinned to one build by a version tag or a digest (latest, or no tag, moves with every push); set it with pulumi config set ctmd:image <registry>/marketdata:v1.4.0`},
		{"image latest with a digest", gke(map[string]string{"ctmd:image": "registry.example/marketdata:latest@sha256:" + strings.Repeat("b", 64)}), []string{secretKey},
			`must be pinned to one build by a version tag or a digest`},
		{"image without tag or digest", existing(map[string]string{"ctmd:image": "registry.example/ctmd/marketdata"}), []string{secretKey},
			`invalid config "ctmd:image" value "registry.example/ctmd/marketdata": must be pinned to one build by a version tag or a digest`},
		// The registry's port is not a tag.
		{"image on a registry port without tag", existing(map[string]string{"ctmd:image": "localhost:5000/marketdata"}), []string{secretKey},
			`invalid config "ctmd:image" value "localhost:5000/marketdata": must be pinned to one build`},
		{"canary image latest", existing(map[string]string{"ctmd:canaryImage": "registry.example/ctmd/marketdata:latest"}), []string{secretKey},
			`invalid config "ctmd:canaryImage" value "registry.example/ctmd/marketdata:latest": must be pinned to one build by a version tag or a digest (latest, or no tag, moves with every push); set it with pulumi config set ctmd:canaryImage <registry>/marketdata:v1.4.0`},
		{"bad mongo host", gke(map[string]string{"ctmd:mongoHosts": `["mongodb://x"]`}), []string{secretKey},
			`invalid config "ctmd:mongoHosts" value "mongodb://x": must be a list of DNS names such as *.abcde.mongodb.net`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.values, tt.secrets...)
			if err == nil {
				t.Fatalf("Load succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Fatalf("error reveals the connection string's password: %v", err)
			}
		})
	}
}

// A version tag, a digest, or both name one build, on any registry (a port is not a tag). Without
// the admission policy a tag alone is enough; the policy's digest rule is TestSupplyChain's.
func TestPinnedImageReferences(t *testing.T) {
	digest := "@sha256:" + strings.Repeat("c", 64)
	for _, ref := range []string{
		"europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata:v1.4.0",
		"europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata" + digest,
		"europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata:v1.4.0" + digest,
		"localhost:5000/marketdata:v2",
		"localhost:5000/marketdata" + digest,
	} {
		cfg, err := load(t, existing(map[string]string{"ctmd:image": ref, "ctmd:imageAdmission": "off"}), "ctmd:mongoConnectionString")
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		if cfg.Image != ref {
			t.Errorf("image %q, want %q", cfg.Image, ref)
		}
	}
}

// All problems are reported at once, so one preview shows the user everything to fix.
func TestLoadReportsEveryError(t *testing.T) {
	_, err := load(t, map[string]string{"ctmd:replicas": "x", "ctmd:target": "existing"})
	if err == nil {
		t.Fatal("want errors")
	}
	for _, key := range []string{`"ctmd:replicas"`, `"ctmd:image"`, `"ctmd:mongoConnectionString"`} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not mention %s:\n%v", key, err)
		}
	}
}

// The gateway ctmd installs is admitted by default; a configured list replaces it.
func TestIngressPrincipals(t *testing.T) {
	for name, tt := range map[string]struct {
		values map[string]string
		want   []string
	}{
		"gke":                     {gke(nil), []string{config.InstalledGatewayPrincipal}},
		"existing, istio by ctmd": {existing(nil), []string{config.InstalledGatewayPrincipal}},
		"existing, own istio": {existing(map[string]string{
			"ctmd:installIstio": "false", "ctmd:ingressPrincipals": `["cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"]`,
			"ctmd:proxyImages": `["docker.io/istio/proxyv2:1.30.2"]`,
		}), []string{"cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := load(t, tt.values, "ctmd:mongoConnectionString")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.IngressPrincipals, tt.want) {
				t.Errorf("ingress principals %v, want %v", cfg.IngressPrincipals, tt.want)
			}
		})
	}
}

// A real run passes Pulumi.yaml's defaults: canaryImage "" and canaryWeight 10 mean no canary.
func TestCanaryDefaultsFromPulumiYAML(t *testing.T) {
	cfg, err := load(t, existing(map[string]string{"ctmd:canaryImage": "", "ctmd:canaryWeight": "10"}), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CanaryImage != "" || cfg.CanaryWeight != config.DefaultCanaryWeight {
		t.Errorf("canary image %q weight %d, want none and %d", cfg.CanaryImage, cfg.CanaryWeight, config.DefaultCanaryWeight)
	}
}
