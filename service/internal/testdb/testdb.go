// Package testdb gives integration tests a MongoDB-wire server: a real MongoDB when
// MONGODB_TEST_URI is set, otherwise an embedded FerretDB started once per test binary.
package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	_ "modernc.org/sqlite" // the SQLite driver FerretDB itself uses, to reach under the embedded server

	"github.com/cryptotracker/ctmd/service/embedded"
)

// SeededList is GET /api/v1/currencies of a freshly migrated database, byte for byte as the
// original ASP.NET service answers it.
const SeededList = `[{"symbol":"BTC","name":"Bitcoin"},{"symbol":"ETH","name":"Ethereum"},{"symbol":"LTC","name":"Litecoin"},{"symbol":"XMR","name":"Monero"},{"symbol":"XRP","name":"Ripple"}]`

// EnvURI names the variable that points the tests at a real MongoDB.
const EnvURI = "MONGODB_TEST_URI"

// Timeout is the store timeout of tests that do not test timeouts. Under -race, on a cold CI
// machine compiling other packages beside it, the embedded server once took more than the
// service's 5 s default to answer a find, and a test about bad documents saw an outage.
const Timeout = time.Minute

var (
	uri     string
	dataDir string // the embedded server's SQLite files; "" with a real MongoDB
)

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
		uri, dataDir = srv.URI(), dir
	}
	return m.Run()
}

// URI is the connection string of the shared server.
func URI() string { return uri }

// CredentialedURI is URI with user and password in it, so tests can check that nothing quotes
// them. The embedded server takes PLAIN credentials without checking them (FerretDB v1 checks
// none without its test-only authentication); a real MongoDB needs real ones: the test is skipped.
func CredentialedURI(t testing.TB, user, password string) string {
	t.Helper()
	if dataDir == "" {
		t.Skip("CredentialedURI works under the embedded server only, not " + EnvURI)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, password)
	q := u.Query()
	q.Set("authMechanism", "PLAIN")
	q.Set("authSource", "$external") // the driver's rule for PLAIN
	u.RawQuery = q.Encode()
	return u.String()
}

var seq atomic.Int64

// Raw is database db through a client of its own, as an operator's: for writing what the store
// must cope with and looking at what it wrote.
func Raw(t testing.TB, db string) *mongo.Database {
	t.Helper()
	c, err := mongo.Connect(context.Background(), options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c.Database(db)
}

// Database returns a database name no other test uses, and drops that database when t ends, so
// tests can run against one real MongoDB without seeing each other's data.
func Database(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", seq.Add(1), regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
	if len(name) > 60 {
		name = name[:60]
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
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

// RefuseFinds makes the server refuse every find on collection coll of database db with a server
// error, as a server refuses a user without the find privilege. FerretDB v1.24 has nothing to
// revoke (its authentication is a test flag that the embedded API does not expose, and it has no
// roles), so the SQLite table holding the collection is dropped behind its back: FerretDB then
// answers the find with InternalError (code 1), as it does on PostgreSQL when SELECT on the
// table is revoked, and the driver returns a mongo.CommandError that is neither a network error
// nor a timeout. A real MongoDB (MONGODB_TEST_URI) has no such table: the test is skipped there.
func RefuseFinds(t testing.TB, db, coll string) {
	t.Helper()
	if dataDir == "" {
		t.Skip("RefuseFinds works under the embedded server only, not " + EnvURI)
	}
	file := (&url.URL{Scheme: "file", Opaque: filepath.Join(dataDir, db+".sqlite"), RawQuery: "_pragma=busy_timeout(10000)"}).String()
	sqlDB, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sqlDB.Close() }()
	// FerretDB's own catalogue of the collections in a database and the tables that hold them.
	var table string
	if err := sqlDB.QueryRow("SELECT table_name FROM _ferretdb_collections WHERE name = ?", coll).Scan(&table); err != nil {
		t.Fatalf("the SQLite table of %s.%s: %v", db, coll, err)
	}
	if _, err := sqlDB.Exec(fmt.Sprintf("DROP TABLE %q", table)); err != nil {
		t.Fatalf("dropping the SQLite table of %s.%s: %v", db, coll, err)
	}
}
