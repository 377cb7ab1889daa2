package store_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/cryptotracker/ctmd/service/internal/testdb"
	"github.com/cryptotracker/ctmd/service/marketdata"
	"github.com/cryptotracker/ctmd/service/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func openStore(t *testing.T, db string) *store.Store {
	t.Helper()
	return openStoreWith(t, store.Config{Database: db})
}

// openStoreWith opens cfg on the shared test server (its URI unless cfg has one).
func openStoreWith(t *testing.T, cfg store.Config) *store.Store {
	t.Helper()
	if cfg.URI == "" {
		cfg.URI = testdb.URI()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = testdb.Timeout
	}
	s, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func TestMigrateWritesTheOriginalSchema(t *testing.T) {
	ctx := context.Background()
	db := testdb.Database(t)
	s := openStore(t, db)
	s.Check(ctx)
	if !s.Ready() {
		t.Fatal("store not ready after a check against a running database")
	}
	raw := testdb.Raw(t, db)

	var docs []bson.M
	cur, err := raw.Collection("Currencies").Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "Symbol", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"BTC": "Bitcoin", "LTC": "Litecoin", "ETH": "Ethereum", "XRP": "Ripple", "XMR": "Monero"}
	if len(docs) != len(want) {
		t.Fatalf("got %d currency documents, want %d: %v", len(docs), len(want), docs)
	}
	for _, d := range docs {
		if len(d) != 3 {
			t.Errorf("document %v: want exactly _id, Symbol, Name", d)
		}
		if _, ok := d["_id"].(interface{ Hex() string }); !ok {
			t.Errorf("document %v: _id is %T, want an ObjectId", d, d["_id"])
		}
		if sym, _ := d["Symbol"].(string); want[sym] != d["Name"] {
			t.Errorf("document %v: unexpected Symbol/Name", d)
		}
	}

	var setting bson.M
	if err := raw.Collection("Settings").FindOne(ctx, bson.D{{Key: "name", Value: "schemaVersion"}}).Decode(&setting); err != nil {
		t.Fatal(err)
	}
	if v, ok := setting["value"].(int32); !ok || v != 1 {
		t.Errorf("schemaVersion document %v: want value int32 1", setting)
	}

	assertUniqueIndex(t, raw.Collection("Currencies"), "idx_currency_symbol", "Symbol")
	assertUniqueIndex(t, raw.Collection("Settings"), "idx_setting_name", "name")
}

func assertUniqueIndex(t *testing.T, c *mongo.Collection, name, field string) {
	t.Helper()
	cur, err := c.Indexes().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var idx []bson.M
	if err := cur.All(context.Background(), &idx); err != nil {
		t.Fatal(err)
	}
	for _, i := range idx {
		if i["name"] != name {
			continue
		}
		key, _ := i["key"].(bson.M)
		if len(key) != 1 || key[field] == nil || i["unique"] != true {
			t.Errorf("index %s = %v, want unique on %s ascending", name, i, field)
		}
		return
	}
	t.Errorf("%s: no index named %s in %v", c.Name(), name, idx)
}

func TestCurrenciesSortedBySymbol(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, testdb.Database(t))
	s.Check(ctx)
	got, err := s.Currencies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []marketdata.Currency{{Symbol: "BTC", Name: "Bitcoin"}, {Symbol: "ETH", Name: "Ethereum"}, {Symbol: "LTC", Name: "Litecoin"}, {Symbol: "XMR", Name: "Monero"}, {Symbol: "XRP", Name: "Ripple"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db := testdb.Database(t)
	s := openStore(t, db)
	s.Check(ctx)
	for range 3 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	assertSeededOnce(t, testdb.Raw(t, db))
}

func assertSeededOnce(t *testing.T, raw *mongo.Database) {
	t.Helper()
	ctx := context.Background()
	for _, c := range marketdata.SeedCurrencies {
		n, err := raw.Collection("Currencies").CountDocuments(ctx, bson.D{{Key: "Symbol", Value: c.Symbol}})
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d documents for %s, want 1", n, c.Symbol)
		}
	}
	if n, _ := raw.Collection("Currencies").CountDocuments(ctx, bson.D{}); n != int64(len(marketdata.SeedCurrencies)) {
		t.Errorf("%d currency documents, want %d", n, len(marketdata.SeedCurrencies))
	}
	if n, _ := raw.Collection("Settings").CountDocuments(ctx, bson.D{}); n != 1 {
		t.Errorf("%d settings documents, want 1", n)
	}
}

// Replicas are separate clients (FerretDB needs one connection per client), all migrating one
// fresh database at the same moment.
func TestConcurrentMigratorsDoNotDuplicate(t *testing.T) {
	ctx := context.Background()
	db := testdb.Database(t)
	const replicas = 6
	stores := make([]*store.Store, replicas)
	for i := range stores {
		stores[i] = openStore(t, db)
	}
	start := make(chan struct{})
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(ctx)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	assertSeededOnce(t, testdb.Raw(t, db))
}

// A database the original service already migrated is taken over as is: its data is not re-seeded.
func TestExistingDatabaseIsNotReseeded(t *testing.T) {
	ctx := context.Background()
	db := testdb.Database(t)
	raw := testdb.Raw(t, db)
	if _, err := raw.Collection("Settings").InsertOne(ctx, bson.D{{Key: "name", Value: "schemaVersion"}, {Key: "value", Value: float64(1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Collection("Currencies").InsertOne(ctx, bson.D{{Key: "Symbol", Value: "DOGE"}, {Key: "Name", Value: "Dogecoin"}}); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, db)
	s.Check(ctx)
	got, err := s.Currencies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (marketdata.Currency{Symbol: "DOGE", Name: "Dogecoin"}) {
		t.Errorf("got %v, want only the existing DOGE", got)
	}
}

func TestNonNumericSchemaVersionIsAnError(t *testing.T) {
	ctx := context.Background()
	db := testdb.Database(t)
	if _, err := testdb.Raw(t, db).Collection("Settings").InsertOne(ctx, bson.D{{Key: "name", Value: "schemaVersion"}, {Key: "value", Value: "one"}}); err != nil {
		t.Fatal(err)
	}
	var dbErrors []string
	s := openStoreWith(t, store.Config{Database: db, OnDBError: func(op, class string) { dbErrors = append(dbErrors, op+" "+class) }})
	err := s.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "schemaVersion value has BSON type string") {
		t.Fatalf("Migrate = %v, want an error naming the bad schemaVersion type", err)
	}
	s.Check(ctx)
	if s.Ready() {
		t.Error("ready although the schema cannot be migrated")
	}
	if len(dbErrors) != 1 || dbErrors[0] != "migrate data" {
		t.Errorf("db errors counted = %v, want [migrate data]: a bad document, not an outage", dbErrors)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestUnreachableDatabaseIsNotReadyAndRedacted(t *testing.T) {
	ctx := context.Background()
	var dbErrors []string
	uri := "mongodb://marketuser:s3cr3tP4ss@" + closedPort(t) + "/admin"
	s, err := store.Open(store.Config{URI: uri, Timeout: 200 * time.Millisecond, OnDBError: func(op, class string) { dbErrors = append(dbErrors, op+" "+class) }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close(ctx) }()
	s.Check(ctx)
	if s.Ready() {
		t.Fatal("ready with nothing listening")
	}
	if len(dbErrors) != 1 || dbErrors[0] != "ping outage" {
		t.Errorf("db errors counted = %v, want [ping outage]", dbErrors)
	}
	_, err = s.Currencies(ctx)
	if !errors.Is(err, marketdata.ErrUnavailable) {
		t.Errorf("Currencies = %v, want ErrUnavailable", err)
	}
	if s.Hosts() != strings.TrimPrefix(strings.TrimSuffix(uri, "/admin"), "mongodb://marketuser:s3cr3tP4ss@") {
		t.Errorf("Hosts() = %q", s.Hosts())
	}
}

func TestOpenRejectsBadConnectionStringsWithoutEchoingThem(t *testing.T) {
	for _, uri := range []string{
		"",
		"http://marketuser:s3cr3tP4ss@db:27017",
		"mongodb://marketuser:s3cr3tP4ss@db:27017/?maxPoolSize=s3cr3tP4ss",
		"mongodb://marketuser:s3cr3tP4ss@db:notaport/",
		"mongodb://marketuser:s3cr3t%P4ss@db/",
		"mongodb://marketuser:s3cr3tP4ss@db/?authMechanism=BOGUS",
	} {
		_, err := store.Open(store.Config{URI: uri})
		if err == nil {
			t.Errorf("Open(%q) succeeded", uri)
			continue
		}
		for _, secret := range []string{"s3cr3t", "marketuser"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Open(%q) error %q leaks %q", uri, err, secret)
			}
		}
	}
}

// An SRV seed list that cannot be resolved (DNS down, or not yet propagated) is an outage, not a
// configuration error: the store opens not ready and keeps retrying, and the error is redacted.
func TestUnresolvableSRVIsAnOutage(t *testing.T) {
	ctx := context.Background()
	var logs strings.Builder
	s, err := store.Open(store.Config{
		URI:     "mongodb+srv://marketuser:s3cr3tP4ss@cluster0.ctmd-test.invalid/?retryWrites=true",
		Timeout: 200 * time.Millisecond,
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatalf("Open = %v, want a store that is not ready yet", err)
	}
	defer func() { _ = s.Close(ctx) }()
	s.Check(ctx)
	if s.Ready() {
		t.Fatal("ready without a resolvable seed list")
	}
	if !strings.Contains(logs.String(), "database unavailable") || !strings.Contains(logs.String(), "cluster0.ctmd-test.invalid") {
		t.Errorf("the outage is not logged with the host:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "s3cr3t") || strings.Contains(logs.String(), "marketuser") {
		t.Errorf("credentials in the log:\n%s", logs.String())
	}
}

// A Name that is missing or null is told apart from an empty one: the original answers null.
func TestMissingAndNullNames(t *testing.T) {
	ctx := context.Background()
	db := testdb.Database(t)
	s := openStore(t, db)
	s.Check(ctx)
	docs := []any{bson.D{{Key: "Symbol", Value: "MIS"}}, bson.D{{Key: "Symbol", Value: "NUL"}, {Key: "Name", Value: nil}}, bson.D{{Key: "Symbol", Value: "EMP"}, {Key: "Name", Value: ""}}}
	if _, err := testdb.Raw(t, db).Collection("Currencies").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Currencies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]marketdata.Currency{"MIS": {Symbol: "MIS", NoName: true}, "NUL": {Symbol: "NUL", NoName: true}, "EMP": {Symbol: "EMP"}, "BTC": {Symbol: "BTC", Name: "Bitcoin"}}
	for _, c := range got {
		if w, ok := want[c.Symbol]; ok && c != w {
			t.Errorf("got %+v, want %+v", c, w)
		}
	}
}
