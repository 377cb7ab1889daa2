package config

import (
	"fmt"
	"regexp"
	"strings"
)

// SupplyChain is what the cluster lets run: only images pinned by digest from one repository, in
// the app's namespace (infra/admission), and on target gke also GKE's Binary Authorization.
type SupplyChain struct {
	// ImageAdmission is what the admission policy does with an image it refuses: deny (the
	// default), warn (admit, with a warning to the client and an audit annotation), or off (no
	// policy, and ctmd:image may then be a tag alone).
	ImageAdmission string
	// AllowedRepository is the repository the app's namespace runs images from: the stack's
	// Artifact Registry repository on target gke, ctmd:allowedImageRepository on existing.
	AllowedRepository string
	// ProxyImages are the images of the mesh's injected proxy when the cluster's Istio is not
	// the stack's (ctmd:proxyImages); with installIstio the stack knows its own (infra/mesh).
	ProxyImages []string
	// BinaryAuthorization is GKE's project policy mode on target gke: dryrun, enforce, or external
	// (written by another stack of the project).
	BinaryAuthorization string
}

// Values of the supply-chain keys.
const (
	ImageAdmissionDeny       = "deny"
	ImageAdmissionWarn       = "warn"
	ImageAdmissionOff        = "off"
	BinaryAuthorizationDry   = "dryrun"
	BinaryAuthorizationForce = "enforce"
	// BinaryAuthorizationExternal leaves the project's one policy to another stack or its owner;
	// the cluster still evaluates it.
	BinaryAuthorizationExternal = "external"
)

// A repository: registry host with optional port and a path, without tag or digest.
var repositoryPattern = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$`)

// digestPinned matches an image pinned by digest, optionally with its tag for the reader.
var digestPinned = regexp.MustCompile(`@sha256:[a-f0-9]{64}$`)

// supplyChain reads the supply-chain keys once target, project, region, repository and images are
// known, and holds ctmd:image and ctmd:canaryImage to the policy the cluster will apply: an image
// the policy refuses would leave the rollout waiting for pods that never come.
func (r *reader) supplyChain(c *Config) SupplyChain {
	s := SupplyChain{
		ImageAdmission:      r.oneOf("imageAdmission", ImageAdmissionDeny, ImageAdmissionDeny, ImageAdmissionWarn, ImageAdmissionOff),
		BinaryAuthorization: r.oneOf("binaryAuthorization", BinaryAuthorizationDry, BinaryAuthorizationDry, BinaryAuthorizationForce, BinaryAuthorizationExternal),
	}
	repo, set := r.get("allowedImageRepository")
	switch {
	case c.Target == TargetGKE && set:
		r.fail(fmt.Errorf(`config %q is only used with ctmd:target existing (on gke the stack's own repository is the allowed one): remove it with pulumi config rm %[1]s`, Namespace+":allowedImageRepository"))
	case c.Target == TargetGKE:
		s.AllowedRepository = fmt.Sprintf("%s-docker.pkg.dev/%s/%s", c.Region, c.Project, c.RepositoryID)
	case set && !repositoryPattern.MatchString(repo):
		r.invalid("allowedImageRepository", repo, "a repository <registry>/<path> without tag or digest", scalarFix("allowedImageRepository", "<registry>/<path>"))
	case set:
		s.AllowedRepository = repo
	case s.ImageAdmission != ImageAdmissionOff:
		r.fail(fmt.Errorf(`missing required config %q (needed when ctmd:target is existing and ctmd:imageAdmission is not off): the repository the app's images come from; set it with pulumi config set %[1]s <registry>/<path>`, Namespace+":allowedImageRepository"))
	}
	// The engine applies Pulumi.yaml's default to real runs, so only a changed mode can be told
	// apart from an unset one.
	if c.Target == TargetExisting && s.BinaryAuthorization != BinaryAuthorizationDry {
		{
			r.fail(fmt.Errorf(`config %q is GKE's and only used with ctmd:target gke: remove it with pulumi config rm %[1]s`, Namespace+":binaryAuthorization"))
		}
	}
	// Pulumi.yaml's default, an empty list, reaches real runs as set.
	proxies, _ := r.list("proxyImages", nil, "<registry>/proxyv2:<version>")
	set = len(proxies) > 0
	switch {
	case set && c.InstallIstio:
		r.fail(fmt.Errorf(`config %q is only used with ctmd:installIstio false (the stack admits the proxy of the Istio it installs): remove it with pulumi config rm %[1]s`, Namespace+":proxyImages"))
	case !set && !c.InstallIstio && s.ImageAdmission != ImageAdmissionOff:
		r.fail(fmt.Errorf(`missing required config %q (needed when ctmd:installIstio is false and ctmd:imageAdmission is not off): the image of the cluster's injected Istio proxy, which the app's pods run beside the app; find it with kubectl get pods -A -l istio=ingressgateway -o jsonpath='{.items[0].spec.containers[0].image}' and set it with pulumi config set --path '%[1]s[0]' <image>`, Namespace+":proxyImages"))
	}
	for _, p := range proxies {
		if imagePattern.MatchString(p) {
			s.ProxyImages = append(s.ProxyImages, p)
		} else {
			r.invalid("proxyImages", p, "an image reference <registry>/<path>:<version> or <registry>/<path>@sha256:<digest>", listFix("proxyImages", "<registry>/proxyv2:<version>"))
		}
	}
	// Binary Authorization admits the stack's repository too (infra/binauthz): with it enforced,
	// an image from elsewhere is refused on gke even without the namespace's policy.
	gate, allowed := "ctmd:imageAdmission "+s.ImageAdmission, s.AllowedRepository
	if s.ImageAdmission == ImageAdmissionOff {
		if c.Target != TargetGKE || s.BinaryAuthorization != BinaryAuthorizationForce {
			return s
		}
		// The project's policy admits its registry in the region (infra/binauthz).
		gate, allowed = "ctmd:binaryAuthorization "+s.BinaryAuthorization, fmt.Sprintf("%s-docker.pkg.dev/%s", c.Region, c.Project)
	}
	if allowed == "" {
		return s
	}
	for _, k := range []struct{ key, image string }{{"image", c.Image}, {"canaryImage", c.CanaryImage}} {
		key, image := k.key, k.image
		if image == "" {
			continue
		}
		fix := fmt.Sprintf("pulumi config set %s:%s %s/marketdata:<tag>@sha256:<digest> (make -s push prints it)", Namespace, key, s.AllowedRepository)
		switch {
		case !strings.HasPrefix(image, allowed+"/"):
			r.fail(fmt.Errorf(`invalid config %q value %q: the cluster admits only images from %s (%s); set it with %s`, Namespace+":"+key, image, allowed, gate, fix))
		case s.ImageAdmission == ImageAdmissionOff:
		// A gke stack's first up creates the repository its image is then pushed to (README,
		// "Deploy to GCP", step 4), so its image can have no digest until then: a warning there,
		// which the targeted up of the GKE layer shows and the full up after it must heed.
		case !digestPinned.MatchString(image) && key == "image" && c.Target == TargetGKE:
			r.warn(fmt.Sprintf(`ctmd:image %q is not pinned by digest: the admission policy (ctmd:imageAdmission %s) will refuse its pods, so the app's rollout fails; once the image is pushed, set it with %s`, image, s.ImageAdmission, fix))
		case !digestPinned.MatchString(image):
			r.fail(fmt.Errorf(`invalid config %q value %q: the cluster admits only images pinned by digest (ctmd:imageAdmission %s); set it with %s`, Namespace+":"+key, image, s.ImageAdmission, fix))
		}
	}
	return s
}
