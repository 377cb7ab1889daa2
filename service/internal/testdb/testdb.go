// Package testdb gives integration tests a MongoDB-wire server: a real MongoDB when
// MONGODB_TEST_URI is set, otherwise an embedded FerretDB started once per test binary.
package testdb

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/cryptotracker/ctmd/service/embedded"
)

// SeededList is GET /api/v1/currencies of a freshly migrated database, byte for byte as the
// original ASP.NET service answers it.
const SeededList = `[{"symbol":"BTC","name":"Bitcoin"},{"symbol":"ETH","name":"Ethereum"},{"symbol":"LTC","name":"Litecoin"},{"symbol":"XMR","name":"Monero"},{"symbol":"XRP","name":"Ripple"}]`

// EnvURI names the variable that points the tests at a real MongoDB.
const EnvURI = "MONGODB_TEST_URI"

var uri string

// Main runs the package's tests against the shared server; call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	uri = os.Getenv(EnvURI)
	if uri == "" {
		dir, err := os.MkdirTemp("", "ctmd-testdb-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "testdb:", err)
			return 1
		}
		defer func() { _ = os.RemoveAll(dir) }()
		srv, err := embedded.Start(dir, "127.0.0.1:0", nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testdb:", err)
			return 1
		}
		defer srv.Stop()
		uri = srv.URI()
	}
	return m.Run()
}

// URI is the connection string of the shared server.
func URI() string { return uri }

var seq atomic.Int64

// Database returns a database name no other test uses, and drops that database when t ends, so
// tests can run against one real MongoDB without seeing each other's data.
func Database(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", seq.Add(1), regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
	if len(name) > 60 {
		name = name[:60]
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := mongo.Connect(ctx, options.Client().ApplyURI(uri))
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer func() { _ = c.Disconnect(ctx) }()
		if err := c.Database(name).Drop(ctx); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}
