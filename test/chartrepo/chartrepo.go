// Package chartrepo turns the Istio Helm charts embedded in the istio.io/istio Go module into a
// Helm repository (packaged charts plus index.yaml) that the local cluster serves on loopback, so
// the real kubernetes provider installs Istio's real charts offline.
//
// The module is Istio's development branch, whose charts carry the placeholder version 1.0.0 that
// Istio's release tooling replaces when it publishes a release. Package does the same replacement
// for each version asked for: the charts are those of the module's commit whatever version they
// are labelled with, and callers must say so wherever they report a version.
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
	semver         = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
)

// Package writes <chart>-<version>.tgz for every chart in Charts and every version, and an
// index.yaml listing them, into out. chartsDir is the module's manifests/charts folder.
func Package(chartsDir, out string, versions []string) error {
	if len(versions) == 0 {
		return errors.New("no chart version given")
	}
	index := map[string][]map[string]any{}
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range Charts {
			if !yield(name) {
				return
			}
		}
	})
	for _, version := range versions {
		if !semver.MatchString(version) {
			return fmt.Errorf("chart version %q is not MAJOR.MINOR.PATCH", version)
		}
		for _, name := range names {
			entry, err := packageChart(filepath.Join(chartsDir, Charts[name]), name, version, out)
			if err != nil {
				return fmt.Errorf("chart %s %s: %w", name, version, err)
			}
			index[name] = append(index[name], entry)
		}
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
