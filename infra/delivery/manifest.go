package delivery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/cryptotracker/ctmd/infra/config"
)

// manifestKey is the setting every problem with the manifest names.
const manifestKey = config.Namespace + ":argoRolloutsManifestUrl"

const (
	// fetchTimeout bounds the whole download, redirects included (GitHub sends a release asset
	// from another host).
	fetchTimeout = time.Minute
	// maxManifest bounds what is read: v1.10.2's manifest is 3 MB, nearly all of it the CRDs'
	// schemas.
	maxManifest = 32 << 20
)

// manifest is the install manifest, split the way the component declares it.
type manifest struct {
	// source names it in the CRD record: "argo-rollouts v1.10.2".
	source string
	// crds go to the CRD record, objects are declared one by one, in the manifest's order.
	crds    []map[string]any
	objects []object
	// image is what the controller runs.
	image string
}

// fetchManifest reads and decodes the manifest at rawURL. It is read on every run and kept
// nowhere but in memory: the CRD record holds what a preview compares.
func fetchManifest(ctx context.Context, rawURL string) (*manifest, error) {
	body, err := fetch(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("config %q: reading Argo Rollouts' install manifest from %s: %w (to use a mirror: pulumi config set %[1]s https://<mirror>/install.yaml)", manifestKey, rawURL, err)
	}
	m, err := decode(body)
	if err != nil {
		return nil, fmt.Errorf("config %q: %s is not Argo Rollouts' install manifest: %w", manifestKey, rawURL, err)
	}
	m.source = "argo-rollouts " + versionOf(rawURL, m.image)
	return m, nil
}

func fetch(ctx context.Context, rawURL string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// The URL is in the message already.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer within %s", fetchTimeout)
		}
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the server answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > maxManifest {
		return nil, fmt.Errorf("it is larger than %d MiB", maxManifest>>20)
	}
	return body, nil
}

// decode splits the manifest's YAML documents into the CRDs and the objects the component
// declares. The namespace is left out: the component declares its own. Every other object, the
// empty notification Secret a release manifest ships among them, is declared as the manifest has
// it: the controller runs with the manifest's defaults, and no notification service is configured.
func decode(body []byte) (*manifest, error) {
	m := &manifest{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(body)))
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if v == nil {
			continue // comments only
		}
		fields, _ := v.(map[string]any)
		o := object(fields)
		kind, name := o.kind(), o.name()
		if o.apiVersion() == "" || kind == "" || name == "" {
			return nil, fmt.Errorf("document %d is not a Kubernetes object (apiVersion, kind and metadata.name)", i)
		}
		switch {
		case kind == "CustomResourceDefinition":
			m.crds = append(m.crds, o)
		case kind == "Namespace" && name == Namespace:
		case o.namespace() != "" && o.namespace() != Namespace:
			return nil, fmt.Errorf("%s %s is in namespace %s, where the engine's objects go in %s", kind, name, o.namespace(), Namespace)
		default:
			if kind == "Deployment" && name == Controller {
				m.image = o.firstImage()
			}
			m.objects = append(m.objects, o)
		}
	}
	switch {
	case len(m.crds) == 0:
		return nil, errors.New("it holds no CustomResourceDefinition")
	case m.image == "":
		return nil, fmt.Errorf("it holds no Deployment %s (the controller) with an image", Controller)
	}
	return m, nil
}

var releaseVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)

// versionOf is the release the manifest is of: the release segment of its URL
// (.../download/v1.10.2/install.yaml, or a mirror laid out alike), else the controller image's tag,
// else the URL itself.
func versionOf(rawURL, image string) string {
	if u, err := url.Parse(rawURL); err == nil {
		for _, segment := range strings.Split(u.Path, "/") {
			if releaseVersion.MatchString(segment) {
				return segment
			}
		}
	}
	if tag := imageTag(image); releaseVersion.MatchString(tag) {
		return tag
	}
	return rawURL
}

// imageTag is an image reference's tag, "" without one.
func imageTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[colon+1:]
	}
	return ""
}
