package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/cryptotracker/ctmd/internal/testlog"
	"github.com/cryptotracker/ctmd/service/embedded"
	"github.com/cryptotracker/ctmd/service/internal/testdb"
	"github.com/cryptotracker/ctmd/service/marketdata"
	"github.com/cryptotracker/ctmd/service/store"
)

// recorder is a store's log and error count, as the service wires them.
type recorder struct {
	logs   testlog.Buffer
	errors []string // "op class", one per failed operation
}

func (r *recorder) config(db string) store.Config {
	return store.Config{
		Database:  db,
		Logger:    slog.New(slog.NewJSONHandler(&r.logs, nil)),
		OnDBError: func(op, class string) { r.errors = append(r.errors, op+" "+class) },
	}
}

// lines returns the JSON log lines whose msg is msg.
func (r *recorder) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(r.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// assertUnreadable reads the currencies n times and checks that every read fails as unreadable,
// not as an outage, that readiness is untouched, and that the cause was logged once, and counted
// each time, under class.
func assertUnreadable(t *testing.T, s *store.Store, rec *recorder, n int, class, cause string) {
	t.Helper()
	for range n {
		_, err := s.Currencies(context.Background())
		if !errors.Is(err, marketdata.ErrUnreadable) || errors.Is(err, marketdata.ErrUnavailable) {
			t.Fatalf("Currencies = %v, want ErrUnreadable and not ErrUnavailable", err)
		}
	}
	s.Check(context.Background())
	if !s.Ready() {
		t.Error("not ready: a bad document or a refused read made the store look like an outage")
	}
	logged := rec.lines(t, "currencies unreadable")
	if len(logged) != 1 {
		t.Fatalf("%d \"currencies unreadable\" lines for %d reads with one cause, want 1:\n%s", len(logged), n, rec.logs.String())
	}
	if logged[0]["class"] != class || logged[0]["cause"] != cause || logged[0]["level"] != "ERROR" || logged[0]["error"] == "" {
		t.Errorf("log line %v, want level ERROR, class %q, cause %q and the error", logged[0], class, cause)
	}
	want := strings.Repeat("find_currencies "+class+",", n)
	if got := strings.Join(rec.errors, ",") + ","; got != want {
		t.Errorf("db errors counted = %v, want %d × find_currencies %s", rec.errors, n, class)
	}
}

// A document the service cannot decode is a data error: logged once per cause (the field), not
// once per read; a successful read ends the episode, so the same cause coming back is logged again.
func TestUndecodableCurrencyIsUnreadableNotAnOutage(t *testing.T) {
	for _, tc := range []struct {
		name, cause string
		doc         bson.D
	}{
		{"Name is a number", "field Name", bson.D{{Key: "Symbol", Value: "NUM"}, {Key: "Name", Value: 42}}},
		{"Symbol is missing", "field Symbol", bson.D{{Key: "Name", Value: "Nameless"}}},
		{"Symbol is null", "field Symbol", bson.D{{Key: "Symbol", Value: nil}, {Key: "Name", Value: "Nameless"}}},
		{"Symbol is a document", "field Symbol", bson.D{{Key: "Symbol", Value: bson.D{{Key: "code", Value: "DOC"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := testdb.Database(t)
			rec := &recorder{}
			s := openStoreWith(t, rec.config(db))
			s.Check(ctx)
			currencies := testdb.Raw(t, db).Collection(store.CurrenciesCollection)
			if _, err := currencies.InsertOne(ctx, tc.doc); err != nil {
				t.Fatal(err)
			}
			assertUnreadable(t, s, rec, 3, "data", tc.cause)

			// Fixed: the list reads again, and the episode is over.
			if _, err := currencies.DeleteOne(ctx, tc.doc); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Currencies(ctx); err != nil || len(got) != len(marketdata.SeedCurrencies) {
				t.Fatalf("after removing the bad document: %v, %v", got, err)
			}
			if _, err := currencies.InsertOne(ctx, tc.doc); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Currencies(ctx); !errors.Is(err, marketdata.ErrUnreadable) {
				t.Fatalf("Currencies = %v, want ErrUnreadable", err)
			}
			if n := len(rec.lines(t, "currencies unreadable")); n != 2 {
				t.Errorf("the cause came back after a successful read: %d log lines in all, want 2", n)
			}
		})
	}
}

// A find the server refuses (testdb.RefuseFinds says how) is not an outage either: the server
// answers, with an error code that retrying does not change.
func TestRefusedFindIsUnreadableNotAnOutage(t *testing.T) {
	db := testdb.Database(t)
	rec := &recorder{}
	s := openStoreWith(t, rec.config(db))
	s.Check(context.Background())
	testdb.RefuseFinds(t, db, store.CurrenciesCollection)
	assertUnreadable(t, s, rec, 3, "refused", "code 1 (InternalError)")
}

// The other half of the line: a database that goes away while the store is ready stays an outage
// (503 upstream), counted as one and not logged as unreadable data.
func TestDatabaseGoneWhileReadyIsAnOutage(t *testing.T) {
	t.Parallel()
	srv, err := embedded.Start(t.TempDir(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cfg := rec.config("outage")
	cfg.URI, cfg.Timeout = srv.URI(), 300*time.Millisecond
	s := openStoreWith(t, cfg)
	// The short timeout is for the outage; on two busy cores a migration may need more than one check.
	for deadline := time.Now().Add(10 * time.Second); !s.Ready(); {
		if time.Now().After(deadline) {
			t.Fatal("store not ready")
		}
		s.Check(context.Background())
	}
	rec.errors = nil // of checks that ran out of time
	// A read that runs out of time (the API's shared read has its own deadline).
	expired, cancel := context.WithDeadline(context.Background(), time.Now())
	defer cancel()
	if _, err := s.Currencies(expired); !errors.Is(err, marketdata.ErrUnavailable) {
		t.Errorf("Currencies past its deadline = %v, want ErrUnavailable", err)
	}
	// The server goes away under the store's open connection. Stop gives connected clients 3 s
	// (FerretDB's grace), which t.Parallel spends beside the other tests.
	srv.Stop()
	if _, err := s.Currencies(context.Background()); !errors.Is(err, marketdata.ErrUnavailable) {
		t.Errorf("Currencies after the server stopped = %v, want ErrUnavailable", err)
	}
	if got := strings.Join(rec.errors, ","); got != "find_currencies outage,find_currencies outage" {
		t.Errorf("db errors counted = %v, want find_currencies outage twice", rec.errors)
	}
	if logged := rec.lines(t, "currencies unreadable"); len(logged) != 0 {
		t.Errorf("an outage logged as unreadable: %v", logged)
	}
}
