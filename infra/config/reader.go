package config

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// reader collects every error instead of stopping at the first, so one preview lists them all.
type reader struct {
	ctx  *pulumi.Context
	errs []error
}

func (r *reader) fail(err error) { r.errs = append(r.errs, err) }

// warn tells the user about a risky but valid setting, info which of two valid ways the stack
// takes, at every preview; failing to reach the engine is an error.
func (r *reader) warn(msg string) { r.log(r.ctx.Log.Warn, msg) }
func (r *reader) info(msg string) { r.log(r.ctx.Log.Info, msg) }

func (r *reader) log(to func(string, *pulumi.LogArgs) error, msg string) {
	if err := to(msg, nil); err != nil {
		r.fail(err)
	}
}

// get reads a key; "" counts as unset, because that is the default Pulumi.yaml declares for keys
// whose default the program derives (the engine passes it to real runs, not to mock tests).
func (r *reader) get(key string) (string, bool) {
	v, ok := r.ctx.GetConfig(Namespace + ":" + key)
	return v, ok && v != ""
}

// invalid records a bad non-secret value; fix is what follows `pulumi config set` to repair it.
func (r *reader) invalid(key, value, want, fix string) {
	r.fail(fmt.Errorf("invalid config %q value %q: must be %s; set it with pulumi config set %s", Namespace+":"+key, value, want, fix))
}

func scalarFix(key, example string) string { return Namespace + ":" + key + " " + example }

func listFix(key, example string) string {
	return fmt.Sprintf("--path '%s:%s[0]' %s", Namespace, key, example)
}

func (r *reader) oneOf(key, def string, allowed ...string) string {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, v) {
		r.invalid(key, v, "one of "+strings.Join(allowed, ", "), scalarFix(key, def))
		return def
	}
	return v
}

func (r *reader) matching(key, def string, re *regexp.Regexp, want, example string) string {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	if !re.MatchString(v) {
		r.invalid(key, v, want, scalarFix(key, example))
		return def
	}
	return v
}

// imageReference reads an image that names one build for good: a version tag (immutable in the
// stack's Artifact Registry repository) or a digest. "latest", or no tag at all (which Kubernetes
// reads as latest), moves with every push, so pods the autoscaler or a node repair starts later
// could run another build than the rest, and `pulumi up` would never see the change.
func (r *reader) imageReference(key string) string {
	const example = "<registry>/marketdata:v1.4.0"
	v, ok := r.get(key)
	if !ok {
		return ""
	}
	if !imagePattern.MatchString(v) {
		r.invalid(key, v, "an image reference <registry>/<path>:<version> or <registry>/<path>@sha256:<digest>", scalarFix(key, example))
		return ""
	}
	name, digest, _ := strings.Cut(v, "@")
	tag := ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		tag = name[i+1:]
	}
	if tag == "latest" || (tag == "" && digest == "") {
		r.invalid(key, v, "pinned to one build by a version tag or a digest (latest, or no tag, moves with every push)", scalarFix(key, example))
		return ""
	}
	return v
}

func (r *reader) integer(key string, def, minimum int) int {
	return r.integerIn(key, def, minimum, math.MaxInt, fmt.Sprintf("an integer of at least %d", minimum))
}

// percentage reads an integer from 0 to 100.
func (r *reader) percentage(key string, def int) int {
	return r.integerIn(key, def, 0, 100, "an integer from 0 to 100")
}

// integerIn reads an integer from minimum to maximum; want says which in the error.
func (r *reader) integerIn(key string, def, minimum, maximum int, want string) int {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < minimum || n > maximum {
		r.invalid(key, v, want, scalarFix(key, strconv.Itoa(def)))
		return def
	}
	return n
}

func (r *reader) boolean(key string, def bool) bool {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.invalid(key, v, "true or false", scalarFix(key, strconv.FormatBool(def)))
		return def
	}
	return b
}

// list reads a JSON array of strings, the form `pulumi config set --path 'key[0]' v` writes.
func (r *reader) list(key string, def []string, example string) ([]string, bool) {
	v, ok := r.get(key)
	if !ok {
		return def, false
	}
	var items []string
	if err := json.Unmarshal([]byte(v), &items); err != nil {
		r.invalid(key, v, "a list of strings", listFix(key, example))
		return def, false
	}
	return items, true
}

func (r *reader) cidrs(key string, def []string) []string {
	items, set := r.list(key, def, "203.0.113.0/24")
	if set && len(items) == 0 {
		r.invalid(key, "[]", "at least one CIDR (include the address pulumi up runs from)", listFix(key, "203.0.113.0/24"))
	}
	for _, item := range items {
		if _, _, err := net.ParseCIDR(item); err != nil {
			r.invalid(key, item, "a list of CIDRs such as 203.0.113.0/24", listFix(key, "203.0.113.0/24"))
		}
	}
	return items
}

// networkCIDR reads a private IPv4 /16: infra/gke carves every range of the stack out of it.
func (r *reader) networkCIDR(key string) string {
	v, ok := r.get(key)
	if !ok {
		return DefaultNetworkCIDR
	}
	ip, block, err := net.ParseCIDR(v)
	valid := err == nil && ip.To4() != nil && ip.Equal(block.IP) && ip.IsPrivate()
	if valid {
		ones, _ := block.Mask.Size()
		valid = ones == 16
	}
	if !valid {
		r.invalid(key, v, "a private IPv4 /16 such as 10.1.0.0/16, different for each stack of a project", scalarFix(key, "10.1.0.0/16"))
		return DefaultNetworkCIDR
	}
	return v
}

func (r *reader) principals(key string) []string {
	return r.listMatching(key, principalPattern, "a list of Istio principals <trust-domain>/ns/<namespace>/sa/<service-account>",
		"cluster.local/ns/istio-ingress/sa/istio-ingressgateway")
}

func (r *reader) hosts(key string) []string {
	return r.listMatching(key, hostPattern, "a list of DNS names such as *.abcde.mongodb.net", "'*.abcde.mongodb.net'")
}

// listMatching reads a list whose every item must match re; want describes the list.
func (r *reader) listMatching(key string, re *regexp.Regexp, want, example string) []string {
	items, _ := r.list(key, nil, example)
	for _, item := range items {
		if !re.MatchString(item) {
			r.invalid(key, item, want, listFix(key, example))
		}
	}
	return items
}

// secret returns a pointer to the plain value, or nil when the key is unset (an error when
// required). A value stored in plain text is refused: it would sit unencrypted in the stack file.
func (r *reader) secret(key, placeholder string, required bool) *string {
	full := Namespace + ":" + key
	v, ok := r.ctx.GetConfig(full)
	switch {
	case !ok || v == "":
		if required {
			r.fail(fmt.Errorf("missing required config %q: set it with pulumi config set --secret %s %s", full, full, placeholder))
		}
		return nil
	case !r.ctx.IsConfigSecret(full):
		r.fail(fmt.Errorf("config %q is stored in plain text: set it with pulumi config set --secret %s %s", full, full, placeholder))
		return nil
	}
	return &v
}

// chartRepository reads a Helm repository URL (http, https) or an OCI registry path (oci://). A URL
// with credentials in it is refused without echoing it: the value is plain config, kept unencrypted
// in the stack file and shown in every preview.
func (r *reader) chartRepository(key, def string) string {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	fix := scalarFix(key, def)
	u, err := url.Parse(v)
	switch {
	case err != nil || !slices.Contains([]string{"http", "https", "oci"}, u.Scheme) || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		r.invalid(key, v, "an http(s):// Helm repository or an oci:// registry path", fix)
		return def
	case u.User != nil:
		r.fail(fmt.Errorf("invalid config %q: a repository URL must not hold credentials (they would be stored in plain text); set it with pulumi config set %s", Namespace+":"+key, fix))
		return def
	}
	return strings.TrimSuffix(v, "/")
}

func (r *reader) gcpProject() string { return r.gcpProjectFor("needed when ctmd:target is gke") }

// gcpProjectFor reads gcp:project; why says what needs it.
func (r *reader) gcpProjectFor(why string) string {
	v, ok := r.ctx.GetConfig("gcp:project")
	if !ok || v == "" {
		r.fail(fmt.Errorf(`missing required config "gcp:project" (%s): set it with pulumi config set gcp:project <project-id>`, why))
		return ""
	}
	if !projectPattern.MatchString(v) {
		r.fail(fmt.Errorf(`invalid config "gcp:project" value %q: must be a GCP project id (6 to 30 lowercase letters, digits or hyphens); set it with pulumi config set gcp:project <project-id>`, v))
	}
	return v
}

func (r *reader) gcp(key, def string, re *regexp.Regexp, want string) string {
	full := "gcp:" + key
	v, ok := r.ctx.GetConfig(full)
	if !ok {
		return def
	}
	if !re.MatchString(v) {
		r.fail(fmt.Errorf("invalid config %q value %q: must be %s; set it with pulumi config set %s %s", full, v, want, full, def))
		return def
	}
	return v
}

// newerVersion tells whether version a (major.minor.patch, checked by versionPattern) is above b.
func newerVersion(a, b string) bool {
	parse := func(v string) []int {
		var n []int
		for part := range strings.SplitSeq(v, ".") {
			i, _ := strconv.Atoi(part)
			n = append(n, i)
		}
		return n
	}
	return slices.Compare(parse(a), parse(b)) > 0
}
