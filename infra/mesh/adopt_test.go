package mesh

import (
	"os/exec"
	"strings"
	"testing"
)

// The SDK's yaml package (which its helm/v3 package imports) pulls in the package of every
// Kubernetes kind: 4.5 min of cold compile that the program does not need (see relinquish).
func TestProgramDoesNotLinkEveryKubernetesKind(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/cryptotracker/ctmd/infra").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range []string{"sdk/v4/go/kubernetes/yaml", "sdk/v4/go/kubernetes/helm/v3"} {
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasSuffix(dep, "/pulumi-kubernetes/"+pkg) {
				t.Errorf("the program imports %s again", dep)
			}
		}
	}
}
