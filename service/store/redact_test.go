package store

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactor(t *testing.T) {
	for _, tc := range []struct {
		uri     string
		secrets []string
	}{
		{"mongodb://app:s3cr3t@h1:27017,h2:27017/admin?replicaSet=rs", []string{"app:s3cr3t", "s3cr3t", "app"}},
		{"mongodb+srv://app:p%40ss%2Fw0rd@cluster0.abcde.mongodb.net/?retryWrites=true", []string{"p%40ss%2Fw0rd", "p@ss/w0rd"}},
		{"mongodb://app:pa@ss@host/", []string{"pa@ss", "pa"}},
		{"mongodb://host/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok3n", []string{"AWS_SESSION_TOKEN:tok3n", "tok3n"}},
		// Not valid URL encoding: url.ParseQuery gives up on the whole query, the redactor must not.
		{"mongodb://host/?authMechanismProperties=AWS_SESSION_TOKEN:t%zzk3n&x=%", []string{"t%zzk3n"}},
		{"mongodb://app:pa?ss@host/", []string{"pa?ss", "app"}},
		{`mongodb://app:q"uo\te@host/`, []string{`q"uo\te`, `q\"uo\\te`}},
	} {
		r := newRedactor(tc.uri)
		for _, secret := range tc.secrets {
			msg := "error: " + secret + " in " + tc.uri
			if got := r.String(msg); strings.Contains(got, secret) || !strings.Contains(got, redacted) {
				t.Errorf("%s: %q redacted to %q still holds %q", tc.uri, msg, got, secret)
			}
		}
	}
	if got := newRedactor("mongodb://h1:27017/").String("dial h1:27017 failed"); got != "dial h1:27017 failed" {
		t.Errorf("a URI without credentials changed a message: %q", got)
	}
}

func TestHostsForLog(t *testing.T) {
	for uri, want := range map[string]string{
		"mongodb://u:p@a:1,b:2/db?x=1":            "a:1,b:2",
		"mongodb+srv://cluster0.example.net":      "cluster0.example.net",
		"mongodb://[::1]:27017/?replicaSet=rs":    "[::1]:27017",
		"mongodb://user:pa?ss@host:27017/db":      "host:27017", // the driver's cut: the first "@"
		"mongodb://user:pa?ss/x@host:27017/db":    "",           // the driver rejects a "/" in the password
		"mongodb://app:pa@ss@host/":               "",           // and a second "@"
		"mongodb://%2Ftmp%2Fmongodb-27017.sock":   "",           // not a host name: not logged
		"mongodb://alice:pw@alice.example.net/":   "",           // the user name is part of the host
		"mongodb://h1:1,h 2:2/":                   "",
		"mongodb://host/?authMechanism=PLAIN&x=@": "",
	} {
		if got := hostsForLog(uri, newRedactor(uri)); got != want {
			t.Errorf("hostsForLog(%q) = %q, want %q", uri, got, want)
		}
	}
}

func TestRejectionNamesTheProblemNotTheString(t *testing.T) {
	for uri, want := range map[string]string{
		"mongodb://h:1/?maxPoolSize=lots": "invalid value for option maxPoolSize",
		"mongodb://h:1/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:ab%zzSECRET": "invalid option value (option authMechanismProperties)",
		"mongodb://u:pa%zzSECRET@h:1/":                  "invalid password",
		"mongodb://u:pa:SECRET@h:1/":                    "unescaped colon in password",
		"mongodb://h:1/?SECRET%zz=1":                    "invalid option key",
		"mongodb://h:1/?authMechanismProperties=SECRET": "invalid authMechanism property (option authMechanismProperties)",
	} {
		_, err := Open(Config{URI: uri})
		var rejected rejectedError
		if !errors.As(err, &rejected) || rejected.problem != want {
			t.Errorf("Open(%q) = %v, want the problem %q", uri, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "zz")) {
			t.Errorf("Open(%q) quotes the string: %v", uri, err)
		}
	}
	if got := rejection(errors.New("something new: "+"SECRET"), ""); strings.Contains(got, "SECRET") {
		t.Errorf("an unknown driver message is quoted: %q", got)
	}
}
