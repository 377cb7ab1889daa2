package store

import (
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
		{"mongodb://app:pa@ss@host/", []string{"pa@ss"}},
		{"mongodb://host/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok3n", []string{"AWS_SESSION_TOKEN:tok3n"}},
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

func TestSplitAuthority(t *testing.T) {
	userinfo, hosts, ok := splitAuthority("mongodb://u:p@a:1,b:2/db?x=1")
	if userinfo != "u:p" || hosts != "a:1,b:2" || !ok {
		t.Errorf("got %q %q %v", userinfo, hosts, ok)
	}
	if _, hosts, ok := splitAuthority("mongodb+srv://cluster0.example.net"); hosts != "cluster0.example.net" || ok {
		t.Errorf("got %q %v", hosts, ok)
	}
}
