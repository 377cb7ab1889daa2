package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// configDigest is what the pod template carries to roll the pods when the connection string
// changes. It is an HMAC keyed per stack rather than a plain hash, so that a reader of the
// Deployment (who may have no access to Secrets) cannot match it against a precomputed table of
// hashed guesses, and it stays a Pulumi secret, so the state holds it only encrypted.
func configDigest(ctx *pulumi.Context, connectionString pulumi.StringOutput) pulumi.StringOutput {
	key := []byte("ctmd config digest/" + ctx.Project() + "/" + ctx.Stack())
	return pulumi.ToSecret(connectionString.ApplyT(func(v string) string {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(v)) // a hash's Write never fails
		return hex.EncodeToString(mac.Sum(nil))
	})).(pulumi.StringOutput)
}
