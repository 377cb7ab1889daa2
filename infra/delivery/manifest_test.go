package delivery

import "testing"

func TestVersionOf(t *testing.T) {
	for _, tt := range []struct{ url, image, want string }{
		{"https://github.com/argoproj/argo-rollouts/releases/download/v1.10.2/install.yaml", "quay.io/argoproj/argo-rollouts:v1.10.2", "v1.10.2"},
		{"http://127.0.0.1:9999/argo-rollouts/v1.10.2/install.yaml", "quay.io/argoproj/argo-rollouts:latest", "v1.10.2"},
		{"https://mirror.example.com/install.yaml", "mirror.example.com:5000/argoproj/argo-rollouts:v1.10.1@sha256:abc", "v1.10.1"},
		{"https://mirror.example.com/install.yaml", "mirror.example.com:5000/argoproj/argo-rollouts", "https://mirror.example.com/install.yaml"},
	} {
		if got := versionOf(tt.url, tt.image); got != tt.want {
			t.Errorf("versionOf(%s, %s) = %s, want %s", tt.url, tt.image, got, tt.want)
		}
	}
}

// Each object takes the kubernetes provider's type of its typed resource.
func TestToken(t *testing.T) {
	for apiVersion, want := range map[string]string{
		"v1":                           "kubernetes:core/v1:Kind",
		"apps/v1":                      "kubernetes:apps/v1:Kind",
		"rbac.authorization.k8s.io/v1": "kubernetes:rbac.authorization.k8s.io/v1:Kind",
	} {
		if got := (object{"apiVersion": apiVersion, "kind": "Kind"}).token(); got != want {
			t.Errorf("%s: %s, want %s", apiVersion, got, want)
		}
	}
}
