package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cryptotracker/ctmd/internal/testlog"
	"github.com/cryptotracker/ctmd/service/api"
	"github.com/cryptotracker/ctmd/service/store"
)

// fuzzSecret is one credential as the fuzzer builds it: its value and how the URI spells it.
type fuzzSecret struct {
	value, written string
}

// newFuzzSecret turns arbitrary bytes into printable ASCII (so every punctuation character is
// reachable), wraps them in letters no log line contains by chance, and writes each character
// raw or percent-encoded as the bits of encode say.
func newFuzzSecret(prefix, body, suffix string, encode uint64) fuzzSecret {
	var value, written strings.Builder
	value.WriteString(prefix)
	written.WriteString(prefix)
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c < '!' || c > '~' {
			c = c%94 + '!'
		}
		value.WriteByte(c)
		if encode>>(i%64)&1 == 1 {
			fmt.Fprintf(&written, "%%%02X", c)
		} else {
			written.WriteByte(c)
		}
	}
	value.WriteString(suffix)
	written.WriteString(suffix)
	return fuzzSecret{value.String(), written.String()}
}

// spellings are the forms a leak could take: the value, the text in the URI, and that text
// decoded the two ways the driver decodes (path escaping for user info, query escaping for options).
func (s fuzzSecret) spellings() []string {
	out := []string{s.value, s.written}
	if d, err := url.PathUnescape(s.written); err == nil {
		out = append(out, d)
	}
	if d, err := url.QueryUnescape(s.written); err == nil {
		out = append(out, d)
	}
	return out
}

// FuzzCredentialsNeverLeak builds connection strings from arbitrary users, passwords and values
// of credential options, and runs each through Open, the start-up log line, a failed health
// check and the API's answers: no log line, error or HTTP body may hold any of them. The seed
// corpus (testdata/fuzz) covers every ASCII punctuation character raw and percent-encoded, and
// the two leaks of issue 13 (an unescaped "?" in the password, a bad "%" in a session token).
func FuzzCredentialsNeverLeak(f *testing.F) {
	f.Fuzz(func(t *testing.T, userBody, passBody, tokenBody string, encode uint64, template uint8) {
		user := newFuzzSecret("Usr", userBody, "Kq", encode)
		pass := newFuzzSecret("Pwd", passBody, "Zx", encode>>21|encode<<43)
		token := newFuzzSecret("Tok", tokenBody, "Vj", encode>>42|encode<<22)
		var uri string
		switch template % 3 {
		case 0:
			uri = "mongodb://" + user.written + ":" + pass.written + "@127.0.0.1:1/admin?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:" + token.written
		case 1:
			uri = "mongodb://" + user.written + ":" + pass.written + "@127.0.0.1:1,127.0.0.1:2/?replicaSet=rs&tlsCertificateKeyFilePassword=" + token.written + "&appName=fuzz"
		default:
			uri = "mongodb://" + user.written + ":" + pass.written + "@127.0.0.1:1/?authSource=admin&authMechanismProperties=SERVICE_NAME:" + token.written + "&maxPoolSize=1"
		}

		logs := &testlog.Buffer{}
		logger := slog.New(slog.NewJSONHandler(logs, nil))
		var seen strings.Builder
		st, err := store.Open(store.Config{URI: uri, Database: "fuzz", Timeout: 30 * time.Millisecond, Logger: logger})
		if err != nil {
			seen.WriteString(err.Error())
		} else {
			st.LogStart()
			st.Check(context.Background())
			h, err := api.NewServer(api.Config{Store: st, Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/api/v1/currencies", "/api/v1/currencies/BTC", "/readyz"} {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				seen.WriteString(rec.Body.String())
			}
			_ = st.Close(context.Background())
		}
		seen.WriteString(logs.String())
		for what, s := range map[string]fuzzSecret{"user": user, "password": pass, "token": token} {
			for _, spelling := range s.spellings() {
				if strings.Contains(seen.String(), spelling) {
					t.Fatalf("the %s %q (as %q) leaks from %s:\n%s", what, s.value, spelling, uri, seen.String())
				}
			}
		}
	})
}
