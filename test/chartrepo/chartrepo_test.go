package chartrepo

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// fakeCharts lays out the three charts the way the istio.io/istio module does, with the
// placeholder version its release tooling replaces.
func fakeCharts(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, dir := range Charts {
		full := filepath.Join(root, dir)
		if err := os.MkdirAll(filepath.Join(full, "templates"), 0o755); err != nil {
			t.Fatal(err)
		}
		chart := "apiVersion: v2\nname: " + name + "\n# placeholder\nversion: 1.0.0\nappVersion: 1.0.0\n"
		if err := os.WriteFile(filepath.Join(full, "Chart.yaml"), []byte(chart), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(full, "templates", "sa.yaml"), []byte("kind: ServiceAccount\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestPackageWritesARepositoryHelmCanRead(t *testing.T) {
	out := t.TempDir()
	if err := Write(out, IstioCharts(fakeCharts(t), []string{"1.30.2", "1.31.0"})); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, "index.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var index struct {
		APIVersion string `json:"apiVersion"`
		Entries    map[string][]struct {
			Name, Version, AppVersion, Digest string
			URLs                              []string `json:"urls"`
		}
	}
	if err := yaml.Unmarshal(raw, &index); err != nil {
		t.Fatal(err)
	}
	if index.APIVersion != "v1" || len(index.Entries) != 3 {
		t.Fatalf("index.yaml: apiVersion %q with %d charts, want v1 with 3:\n%s", index.APIVersion, len(index.Entries), raw)
	}
	for name := range Charts {
		entries := index.Entries[name]
		if len(entries) != 2 {
			t.Fatalf("%s: %d versions in the index, want 2", name, len(entries))
		}
		for i, want := range []string{"1.30.2", "1.31.0"} {
			e := entries[i]
			if e.Name != name || e.Version != want || e.AppVersion != want || len(e.URLs) != 1 {
				t.Errorf("%s entry %d = %+v, want version and appVersion %s and one URL", name, i, e, want)
				continue
			}
			archive, err := os.ReadFile(filepath.Join(out, e.URLs[0]))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(archive); hex.EncodeToString(sum[:]) != e.Digest {
				t.Errorf("%s: index digest does not match the archive", e.URLs[0])
			}
			files := untar(t, archive)
			if !strings.Contains(files[name+"/Chart.yaml"], "\nversion: "+want+"\nappVersion: "+want+"\n") {
				t.Errorf("%s: Chart.yaml is %q, want version and appVersion %s", e.URLs[0], files[name+"/Chart.yaml"], want)
			}
			if files[name+"/templates/sa.yaml"] != "kind: ServiceAccount\n" {
				t.Errorf("%s: templates not packaged under %s/: %v", e.URLs[0], name, files)
			}
		}
	}
}

func TestPackageIsReproducible(t *testing.T) {
	charts := fakeCharts(t)
	a, b := t.TempDir(), t.TempDir()
	for _, out := range []string{a, b} {
		if err := Write(out, IstioCharts(charts, []string{"1.30.2"})); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"index.yaml", "istiod-1.30.2.tgz"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || string(x) != string(y) {
			t.Errorf("%s differs between two runs on the same input", f)
		}
	}
}

func TestPackageRefusesWhatIsNotAChartRelease(t *testing.T) {
	charts := fakeCharts(t)
	if err := Write(t.TempDir(), IstioCharts(charts, []string{"1.30"})); err == nil || !strings.Contains(err.Error(), `"1.30"`) {
		t.Errorf("version 1.30: err = %v, want it named", err)
	}
	if err := Write(t.TempDir(), IstioCharts(charts, nil)); err == nil {
		t.Error("no versions: no error")
	}
	// A module whose folder holds another chart than expected must not be served under our name.
	if err := os.WriteFile(filepath.Join(charts, "gateway", "Chart.yaml"), []byte("name: gateways\nversion: 1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(t.TempDir(), IstioCharts(charts, []string{"1.30.2"})); err == nil || !strings.Contains(err.Error(), "gateways") {
		t.Errorf("renamed chart: err = %v, want the unexpected name", err)
	}
}

func untar(t *testing.T, archive []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(strings.NewReader(string(archive)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = string(body)
	}
}

// cert-manager's chart, as its module holds it (v0.0.0 until stamped), is served beside Istio's
// under its release version with the v, which its templates use as the image tag (appVersion).
func TestWriteStampsCertManagerBesideIstio(t *testing.T) {
	module := t.TempDir()
	dir := filepath.Join(module, CertManagerChart)
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	chart := "apiVersion: v2\nname: cert-manager\n# The version and appVersion fields are set automatically by the release tool\nversion: v0.0.0\nappVersion: v0.0.0\n"
	if err := os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte(chart), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "templates", "deployment.yaml"), []byte("image: x:{{ .Chart.AppVersion }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	charts := append(IstioCharts(fakeCharts(t), []string{"1.31.1"}), Chart{Name: "cert-manager", Dir: dir, Versions: []string{"v1.21.2"}})
	if err := Write(out, charts); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, "index.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var index struct {
		Entries map[string][]struct{ Version, AppVersion string }
	}
	if err := yaml.Unmarshal(raw, &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Entries) != 4 {
		t.Errorf("index lists %d charts, want Istio's three and cert-manager", len(index.Entries))
	}
	if e := index.Entries["cert-manager"]; len(e) != 1 || e[0].Version != "v1.21.2" || e[0].AppVersion != "v1.21.2" {
		t.Errorf("cert-manager entries %+v, want version and appVersion v1.21.2", e)
	}
	archive, err := os.ReadFile(filepath.Join(out, "cert-manager-v1.21.2.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	if files := untar(t, archive); !strings.Contains(files["cert-manager/Chart.yaml"], "\nversion: v1.21.2\nappVersion: v1.21.2\n") {
		t.Errorf("Chart.yaml %q not stamped", files["cert-manager/Chart.yaml"])
	}
}

// Argo Rollouts' install manifest, as its module holds it (the controller image tagged latest), is
// served under its release, with the image tagged as the release's manifest is.
func TestWriteArgoRolloutsTagsTheRelease(t *testing.T) {
	module := t.TempDir()
	manifest := "kind: CustomResourceDefinition\n---\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - image: quay.io/argoproj/argo-rollouts:latest\n        imagePullPolicy: Always\n"
	if err := os.MkdirAll(filepath.Join(module, "manifests"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(module, ArgoRolloutsManifest), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := WriteArgoRollouts(out, module, "v1.10.2"); err != nil {
		t.Fatal(err)
	}
	if ArgoRolloutsPath("v1.10.2") != "argo-rollouts/v1.10.2/install.yaml" {
		t.Errorf("served at %s", ArgoRolloutsPath("v1.10.2"))
	}
	got, err := os.ReadFile(filepath.Join(out, "argo-rollouts", "v1.10.2", "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(manifest, ":latest", ":v1.10.2", 1); string(got) != want {
		t.Errorf("manifest\n%s\nwant\n%s", got, want)
	}
	if err := WriteArgoRollouts(t.TempDir(), module, "1.10.2"); err == nil || !strings.Contains(err.Error(), `"1.10.2"`) {
		t.Errorf("version without v: %v", err)
	}
	// A manifest that no longer names the image as expected must not be served half-stamped.
	if err := os.WriteFile(filepath.Join(module, ArgoRolloutsManifest), []byte("kind: Deployment\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteArgoRollouts(t.TempDir(), module, "v1.10.2"); err == nil || !strings.Contains(err.Error(), "0 times") {
		t.Errorf("manifest without the image: %v", err)
	}
}
