package chartrepo

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
)

// ArgoRolloutsManifest is Argo Rollouts' install manifest in its github.com/argoproj/argo-rollouts
// module: the CRDs, RBAC and controller that its releases publish as install.yaml.
const ArgoRolloutsManifest = "manifests/install.yaml"

// argoRolloutsImage is the controller image as the module's manifest names it. A release builds
// the published manifest from the same kustomization with `make manifests IMAGE_TAG=<tag>`
// (.github/workflows/release.yaml; hack/update-manifests.sh runs `kustomize edit set image
// quay.io/argoproj/argo-rollouts:<tag>`), so the tag is what a release changes.
const argoRolloutsImage = "image: quay.io/argoproj/argo-rollouts:latest"

// ArgoRolloutsPath is where WriteArgoRollouts puts the manifest of a version under its output
// folder, so the URL path it is served at.
func ArgoRolloutsPath(version string) string {
	return path.Join("argo-rollouts", version, "install.yaml")
}

// WriteArgoRollouts writes the install manifest of the module in moduleDir under out at
// ArgoRolloutsPath(version), with the controller image tagged version as the release's is. The
// module is the release tag itself, so the version is the true one.
func WriteArgoRollouts(out, moduleDir, version string) error {
	if !semver.MatchString(version) || version[0] != 'v' {
		return fmt.Errorf("argo-rollouts version %q is not vMAJOR.MINOR.PATCH", version)
	}
	manifest, err := os.ReadFile(filepath.Join(moduleDir, ArgoRolloutsManifest))
	if err != nil {
		return err
	}
	if n := bytes.Count(manifest, []byte(argoRolloutsImage)); n != 1 {
		return fmt.Errorf("%s names the controller image %q %d times, want once: has the module's layout changed?", ArgoRolloutsManifest, argoRolloutsImage, n)
	}
	manifest = bytes.Replace(manifest, []byte(argoRolloutsImage), []byte("image: quay.io/argoproj/argo-rollouts:"+version), 1)
	file := filepath.Join(out, filepath.FromSlash(ArgoRolloutsPath(version)))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, manifest, 0o644)
}
