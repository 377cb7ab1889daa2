package store

import (
	"net/url"
	"slices"
	"strings"
)

// redactor removes every spelling of a connection string's credentials from text. It works on the
// raw string, not on the driver's parse result, so it also covers URIs the driver rejects (whose
// error messages may quote pieces of them).
type redactor struct {
	secrets []string
}

const redacted = "[REDACTED]"

func newRedactor(uri string) redactor {
	var r redactor
	add := func(s string) {
		if s == "" {
			return
		}
		r.secrets = append(r.secrets, s)
		if dec, err := url.PathUnescape(s); err == nil && dec != s {
			r.secrets = append(r.secrets, dec)
		}
		if dec, err := url.QueryUnescape(s); err == nil && dec != s {
			r.secrets = append(r.secrets, dec)
		}
	}
	add(uri)
	if userinfo, _, ok := splitAuthority(uri); ok {
		add(userinfo)
		user, pass, _ := strings.Cut(userinfo, ":")
		add(pass)
		add(user)
	}
	// The password query option (e.g. for some auth mechanisms) is a credential too.
	if _, query, ok := strings.Cut(uri, "?"); ok {
		if q, err := url.ParseQuery(query); err == nil {
			for k, vs := range q {
				if strings.Contains(strings.ToLower(k), "password") || strings.EqualFold(k, "authMechanismProperties") {
					for _, v := range vs {
						add(v)
					}
				}
			}
		}
	}
	// Longest first, so that a password inside the userinfo is not half-replaced.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	return r
}

// String returns s with every credential replaced by [REDACTED].
func (r redactor) String(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

// splitAuthority returns the userinfo and host list of a mongodb:// or mongodb+srv:// URI without
// resolving anything (the driver's own parser does DNS look-ups for SRV URIs).
func splitAuthority(uri string) (userinfo, hosts string, hasUserinfo bool) {
	rest := uri
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return "", rest, false
	}
	return rest[:at], rest[at+1:], true
}
