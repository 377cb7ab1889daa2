package config_test

import (
	"strings"
	"testing"
)

func TestSupplyChainDefaults(t *testing.T) {
	cfg, err := load(t, gke(nil), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.SupplyChain
	if s.ImageAdmission != "deny" || s.BinaryAuthorization != "dryrun" || s.AllowedRepository != "europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster" {
		t.Errorf("gke defaults %+v: want deny, dryrun and the stack's repository", s)
	}
	cfg, err = load(t, existing(nil), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.SupplyChain; s.ImageAdmission != "deny" || s.AllowedRepository != "registry.example/ctmd" {
		t.Errorf("existing %+v: want deny and ctmd:allowedImageRepository", s)
	}
	// Off: no policy, so a tag alone and no repository are enough, as before the policy.
	cfg, err = load(t, existing(map[string]string{"ctmd:imageAdmission": "off", "ctmd:allowedImageRepository": "",
		"ctmd:image": "elsewhere.example/marketdata:v1"}), "ctmd:mongoConnectionString")
	if err != nil {
		t.Fatalf("imageAdmission off: %v", err)
	}
	if cfg.SupplyChain.AllowedRepository != "" || cfg.Image != "elsewhere.example/marketdata:v1" {
		t.Errorf("imageAdmission off: %+v image %q", cfg.SupplyChain, cfg.Image)
	}
	// A gke stack's image by tag alone, before its first push can give a digest: a warning, not a
	// refusal, so the README's targeted up of the GKE layer can create the repository.
	tagged := "europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata:v1.4.0"
	if cfg, err = load(t, gke(map[string]string{"ctmd:image": tagged}), "ctmd:mongoConnectionString"); err != nil || cfg.Image != tagged {
		t.Errorf("gke image by tag alone: %v, image %q", err, cfg.Image)
	}
}

// Every image the stack deploys is held to the policy the cluster will apply, so a preview refuses
// what admission would refuse later (a rollout that waits for pods that never come).
func TestSupplyChainErrors(t *testing.T) {
	const secretKey = "ctmd:mongoConnectionString"
	tagged := "registry.example/ctmd/marketdata:v2"
	tests := []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"existing image by tag alone", existing(map[string]string{"ctmd:image": tagged}),
			`invalid config "ctmd:image" value "registry.example/ctmd/marketdata:v2": the cluster admits only images pinned by digest (ctmd:imageAdmission deny); set it with pulumi config set ctmd:image registry.example/ctmd/marketdata:<tag>@sha256:<digest> (make -s push prints it)`},
		{"canary by tag alone, policy warning", existing(map[string]string{"ctmd:canaryImage": tagged, "ctmd:imageAdmission": "warn"}),
			`invalid config "ctmd:canaryImage" value "registry.example/ctmd/marketdata:v2": the cluster admits only images pinned by digest (ctmd:imageAdmission warn)`},
		{"gke canary by tag alone", gke(map[string]string{"ctmd:canaryImage": "europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata:v2"}),
			`invalid config "ctmd:canaryImage" value "europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster/marketdata:v2": the cluster admits only images pinned by digest (ctmd:imageAdmission deny)`},
		{"image from another repository", existing(map[string]string{"ctmd:image": "registry.example/ctmd-other/marketdata:v1" + digestA}),
			`invalid config "ctmd:image" value "registry.example/ctmd-other/marketdata:v1@sha256:aaaa`},
		{"gke image from another project", gke(map[string]string{"ctmd:image": "europe-west1-docker.pkg.dev/other/ctmd-cluster/marketdata:v1" + digestA}),
			`the cluster admits only images from europe-west1-docker.pkg.dev/ctmd-dev-123/ctmd-cluster (ctmd:imageAdmission deny)`},
		{"gke image from elsewhere, Binary Authorization enforced without the namespace's policy", gke(map[string]string{"ctmd:imageAdmission": "off", "ctmd:binaryAuthorization": "enforce", "ctmd:image": "registry.example/ctmd/marketdata:v1"}),
			`the cluster admits only images from europe-west1-docker.pkg.dev/ctmd-dev-123 (ctmd:binaryAuthorization enforce)`},
		{"existing without a repository", existing(map[string]string{"ctmd:allowedImageRepository": ""}),
			`missing required config "ctmd:allowedImageRepository" (needed when ctmd:target is existing and ctmd:imageAdmission is not off): the repository the app's images come from; set it with pulumi config set ctmd:allowedImageRepository <registry>/<path>`},
		{"repository with a tag", existing(map[string]string{"ctmd:allowedImageRepository": "registry.example/ctmd:v1"}),
			`invalid config "ctmd:allowedImageRepository" value "registry.example/ctmd:v1": must be a repository <registry>/<path> without tag or digest`},
		{"repository set on gke", gke(map[string]string{"ctmd:allowedImageRepository": "registry.example/ctmd"}),
			`config "ctmd:allowedImageRepository" is only used with ctmd:target existing`},
		{"binary authorization on an existing cluster", existing(map[string]string{"ctmd:binaryAuthorization": "enforce"}),
			`config "ctmd:binaryAuthorization" is GKE's and only used with ctmd:target gke: remove it with pulumi config rm ctmd:binaryAuthorization`},
		{"own Istio without its proxy image", existing(map[string]string{"ctmd:installIstio": "false", "ctmd:ingressPrincipals": `["cluster.local/ns/istio-system/sa/gw"]`}),
			`missing required config "ctmd:proxyImages" (needed when ctmd:installIstio is false and ctmd:imageAdmission is not off)`},
		{"proxy images beside the stack's Istio", existing(map[string]string{"ctmd:proxyImages": `["docker.io/istio/proxyv2:1.30.2"]`}),
			`config "ctmd:proxyImages" is only used with ctmd:installIstio false`},
		{"bad proxy image", existing(map[string]string{"ctmd:installIstio": "false", "ctmd:ingressPrincipals": `["cluster.local/ns/istio-system/sa/gw"]`, "ctmd:proxyImages": `["Proxy V2"]`}),
			`invalid config "ctmd:proxyImages" value "Proxy V2"`},
		{"unknown admission mode", existing(map[string]string{"ctmd:imageAdmission": "audit"}),
			`invalid config "ctmd:imageAdmission" value "audit"`},
		{"unknown binary authorization mode", gke(map[string]string{"ctmd:binaryAuthorization": "on"}),
			`invalid config "ctmd:binaryAuthorization" value "on"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.values, secretKey)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
