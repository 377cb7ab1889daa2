package store

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// uriParts is a connection string cut the way the driver cuts it (connstring's parser in
// mongo-driver v1.17): the user info ends at the FIRST "@" anywhere after the scheme, even one
// past a "?", and the host list ends at the next "/", "?" or "@". Cutting it any other way (say
// at the first "?") turns a password with an unescaped "?" into a "host".
type uriParts struct {
	afterScheme string
	userinfo    string
	hasUserinfo bool
	hosts       string
	// hostsEnd is the byte that ended the host list (0 at the end of the string); the driver
	// rejects "@" there (an unescaped "@" in the user info).
	hostsEnd byte
	query    string
}

func splitURI(uri string) uriParts {
	var p uriParts
	rest := uri
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	p.afterScheme = rest
	if i := strings.Index(rest, "@"); i >= 0 {
		p.userinfo, p.hasUserinfo, rest = rest[:i], true, rest[i+1:]
	}
	p.hosts = rest
	if i := strings.IndexAny(rest, "/?@"); i >= 0 {
		p.hosts, p.hostsEnd = rest[:i], rest[i]
	}
	if i := strings.Index(rest, "?"); i >= 0 {
		p.query = rest[i+1:]
	}
	return p
}

// queryPairs splits options as the driver does (on "&" and ";"), keys decoded when possible.
func queryPairs(query string) []queryPair {
	var out []queryPair
	for _, pair := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		out = append(out, queryPair{key: strings.ToLower(key), rawKey: k, value: v, keyDecodes: err == nil})
	}
	return out
}

type queryPair struct {
	key, rawKey, value string
	keyDecodes         bool
}

// credentialOption reports whether an option's value is a secret: passwords (for example
// tlsCertificateKeyFilePassword) and authMechanismProperties (AWS_SESSION_TOKEN). A key that is
// not even valid URL encoding counts too: nobody can tell what it is.
func (q queryPair) credentialOption() bool {
	return !q.keyDecodes || strings.Contains(q.key, "password") || q.key == "authmechanismproperties"
}

// redactor removes every spelling of a connection string's credentials from text. It works on the
// raw string, not on the driver's parse result, so it also covers URIs the driver rejects.
type redactor struct {
	secrets []string
}

const redacted = "[REDACTED]"

func newRedactor(uri string) redactor {
	var r redactor
	p := splitURI(uri)
	r.add(uri)
	// Every prefix ending at an "@" could be someone's idea of the user info: the driver's (the
	// first "@") and a human's (the last one before the hosts).
	for i, c := range []byte(p.afterScheme) {
		if c != '@' {
			continue
		}
		userinfo := p.afterScheme[:i]
		user, pass, _ := strings.Cut(userinfo, ":")
		r.add(userinfo)
		r.add(user)
		r.add(pass)
	}
	for _, q := range queryPairs(p.query) {
		if !q.credentialOption() {
			continue
		}
		r.add(q.value)
		// authMechanismProperties is a list of NAME:value; error messages may quote one value.
		values := []string{q.value}
		if dec, err := url.QueryUnescape(q.value); err == nil {
			values = append(values, dec)
		}
		for _, v := range values {
			for prop := range strings.SplitSeq(v, ",") {
				if _, val, ok := strings.Cut(prop, ":"); ok {
					r.add(val)
				}
			}
		}
	}
	// Longest first, so that a password inside the user info is not half-replaced.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	return r
}

// add registers s as written, as the driver decodes it (path escaping for the user info, query
// escaping for options) and as Go's %q would quote it.
func (r *redactor) add(s string) {
	if s == "" {
		return
	}
	forms := []string{s}
	if dec, err := url.PathUnescape(s); err == nil {
		forms = append(forms, dec)
	}
	if dec, err := url.QueryUnescape(s); err == nil {
		forms = append(forms, dec)
	}
	for _, f := range forms {
		if f == "" || slices.Contains(r.secrets, f) {
			continue
		}
		r.secrets = append(r.secrets, f)
		if q := strconv.Quote(f); q[1:len(q)-1] != f {
			r.secrets = append(r.secrets, q[1:len(q)-1])
		}
	}
}

// String returns s with every credential replaced by [REDACTED].
func (r redactor) String(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

// hostPattern is one host as logs may show it: a DNS name or IP literal and an optional port.
// Anything else (a Unix socket path, a percent escape, a stray character) is not logged.
var hostPattern = regexp.MustCompile(`^(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)

// hostsForLog is the host list to log, or "" whenever the text might be anything but hosts: it
// comes from the driver's own cut, every entry must look like a host, and none may contain a
// credential (a user name that happens to be a host name, say).
func hostsForLog(uri string, r redactor) string {
	p := splitURI(uri)
	// The driver rejects both an "@" after the hosts and a "/" in the user info; either means
	// the cut above is not the one it would make.
	if p.hosts == "" || p.hostsEnd == '@' || strings.Contains(p.userinfo, "/") {
		return ""
	}
	for h := range strings.SplitSeq(p.hosts, ",") {
		if !hostPattern.MatchString(h) {
			return ""
		}
	}
	if r.String(p.hosts) != p.hosts {
		return ""
	}
	return p.hosts
}
