package stack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

// configDigest is the annotation value expected for a connection string on the mock stack
// "test" of project "ctmd", computed independently of the program.
func configDigest(value string) string {
	mac := hmac.New(sha256.New, []byte("ctmd config digest/ctmd/test"))
	mac.Write([]byte(value))
	return hex.EncodeToString(mac.Sum(nil))
}

// A new connection string changes the pod template (so the Deployment rolls and the pods read
// the new Secret) through a keyed digest that is a secret: never the value, never a plain hash.
func TestConnectionStringChangeRollsPods(t *testing.T) {
	const rotated = "mongodb+srv://marketdata:N3w-s3cret@cluster0.abcde.mongodb.net/admin"
	annotation := func(uri string) string {
		values := existingConfig(nil)
		values["ctmd:mongoConnectionString"] = uri
		s := mustDeploy(t, values)
		dep := s.Find(t, "kubernetes:apps/v1:Deployment", "marketdata")
		got, _ := mockstack.Get(mockstack.Plain(dep.Inputs), "spec.template.metadata.annotations.ctmd/config-digest").(string)
		if got == "" {
			t.Fatal("the pod template carries no ctmd/config-digest annotation")
		}
		if hits := find(s.Stack, got); !slices.Equal(hits, []hit{{
			Where: "kubernetes:apps/v1:Deployment marketdata.spec.template.metadata.annotations.ctmd/config-digest", Secret: true,
		}}) {
			t.Errorf("digest %q must appear only in the pod template, as a secret: %+v", got, hits)
		}
		return got
	}
	before, after := annotation(mongoURI), annotation(rotated)
	if before != configDigest(mongoURI) || after != configDigest(rotated) {
		t.Errorf("digests %s, %s: want the stack-keyed HMAC-SHA256 of each connection string", before, after)
	}
	if before == after {
		t.Error("rotating the connection string leaves the pod template unchanged: the pods keep the old value")
	}
	plain := sha256.Sum256([]byte(mongoURI))
	if before == hex.EncodeToString(plain[:]) {
		t.Error("the digest is an unkeyed SHA-256 of the connection string")
	}
}
