// Package chartrepo turns the Helm charts embedded in Go modules (Istio's in istio.io/istio,
// cert-manager's in github.com/cert-manager/cert-manager) into a Helm repository (packaged charts
// plus index.yaml) that the local cluster serves on loopback, so the real kubernetes provider
// installs the real charts offline. Argo Rollouts publishes no chart but an install manifest, which
// its module holds too; WriteArgoRollouts lays it out to be served beside the charts.
//
// The module is Istio's development branch, whose charts carry the placeholder version 1.0.0 that
// Istio's release tooling replaces when it publishes a release. Package does the same replacement
// for each version asked for: the charts are those of the module's commit whatever version they
// are labelled with, and callers must say so wherever they report a version. cert-manager's chart
// carries v0.0.0 until its release tool stamps it; its module is the release tag itself, so the
// stamp (with the v, as cert-manager publishes it, and as its templates expect of appVersion,
// the image tag) is the true version.
package chartrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"sigs.k8s.io/yaml"
)

// Charts maps each chart ctmd installs to its folder under the module's manifests/charts.
var Charts = map[string]string{
	"base":    "base",
	"istiod":  "istio-control/istio-discovery",
	"gateway": "gateway",
}

// epoch is the modification time of every packaged file: the same inputs give the same bytes,
// so digests (and the provider's view of the chart) stay stable between runs.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	versionLine    = regexp.MustCompile(`(?m)^version:.*$`)
	appVersionLine = regexp.MustCompile(`(?m)^appVersion:.*$`)
	semver         = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+$`)
)

// CertManagerChart is the folder of cert-manager's chart in its module.
const CertManagerChart = "deploy/charts/cert-manager"

// Chart is one chart to serve: its folder, its name, and the versions it is labelled with.
type Chart struct {
	Name, Dir string
	Versions  []string
}

// IstioCharts are the charts of Charts in an istio.io/istio module's manifests/charts folder,
// each labelled with every version.
func IstioCharts(chartsDir string, versions []string) []Chart {
	var charts []Chart
	for _, name := range slices.Sorted(maps.Keys(Charts)) {
		charts = append(charts, Chart{Name: name, Dir: filepath.Join(chartsDir, Charts[name]), Versions: versions})
	}
	return charts
}

// Write packages every chart under each of its versions into out, with an index.yaml listing them.
func Write(out string, charts []Chart) error {
	index := map[string][]map[string]any{}
	for _, c := range charts {
		if len(c.Versions) == 0 {
			return fmt.Errorf("chart %s: no version given", c.Name)
		}
		for _, version := range c.Versions {
			if !semver.MatchString(version) {
				return fmt.Errorf("chart %s version %q is not [v]MAJOR.MINOR.PATCH", c.Name, version)
			}
			entry, err := packageChart(c.Dir, c.Name, version, out)
			if err != nil {
				return fmt.Errorf("chart %s %s: %w", c.Name, version, err)
			}
			index[c.Name] = append(index[c.Name], entry)
		}
	}
	if len(index) == 0 {
		return errors.New("no chart given")
	}
	doc, err := yaml.Marshal(map[string]any{
		"apiVersion": "v1",
		"entries":    index,
		"generated":  epoch.Format(time.RFC3339),
	})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "index.yaml"), doc, 0o644)
}

// packageChart writes one chart archive, as `helm package` lays it out (a top folder named after
// the chart), and returns its index entry.
func packageChart(dir, name, version, out string) (map[string]any, error) {
	chartYAML, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	var meta map[string]any
	if err := yaml.Unmarshal(chartYAML, &meta); err != nil {
		return nil, fmt.Errorf("reading the chart metadata: %w", err)
	}
	if meta["name"] != name {
		return nil, fmt.Errorf("the chart metadata names the chart %v, want %s: has the module's layout changed?", meta["name"], name)
	}
	chartYAML = versionLine.ReplaceAll(chartYAML, []byte("version: "+version))
	chartYAML = appVersionLine.ReplaceAll(chartYAML, []byte("appVersion: "+version))
	meta["version"], meta["appVersion"] = version, version

	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, file)
		if err != nil {
			return err
		}
		body := chartYAML
		if rel != "Chart.yaml" {
			if body, err = os.ReadFile(file); err != nil {
				return err
			}
		}
		hdr := &tar.Header{Name: path.Join(name, filepath.ToSlash(rel)), Mode: 0o644, Size: int64(len(body)), ModTime: epoch, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(body)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	archive := fmt.Sprintf("%s-%s.tgz", name, version)
	if err := os.WriteFile(filepath.Join(out, archive), buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	meta["urls"] = []string{archive}
	meta["digest"] = hex.EncodeToString(sum[:])
	meta["created"] = epoch.Format(time.RFC3339)
	return meta, nil
}
