package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/cryptotracker/ctmd/service/internal/testdb"
	"github.com/cryptotracker/ctmd/service/store"
)

const (
	dbUser     = "marketuser"
	dbPassword = "s3cr3tP4ss"
)

// A database that answers with something the service cannot use answers 500 JSON, not 503:
// readiness stays 200, the cause is logged once however many requests and reads meet it, with
// nothing of the connection string, and every failed read is counted under its class.
func TestUnreadableCurrenciesAnswer500AndLogOnce(t *testing.T) {
	for _, tc := range []struct {
		name, class, cause string
		spoil              func(t *testing.T, f *fixture)
		fix                func(t *testing.T, f *fixture) // nil: nothing short of restoring the data fixes it
	}{
		{"Name is a number", "data", "field Name", insertDoc(bson.D{{Key: "Symbol", Value: "NUM"}, {Key: "Name", Value: 42}}), deleteDoc(bson.D{{Key: "Symbol", Value: "NUM"}})},
		{"Symbol is missing", "data", "field Symbol", insertDoc(bson.D{{Key: "Name", Value: "Nameless"}}), deleteDoc(bson.D{{Key: "Name", Value: "Nameless"}})},
		{"find is refused", "refused", "code 1 (InternalError)", func(t *testing.T, f *fixture) {
			testdb.RefuseFinds(t, f.db, store.CurrenciesCollection)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			uri := testdb.CredentialedURI(t, dbUser, dbPassword)
			f := newFixtureAt(t, time.Hour, uri)
			if r := f.do(t, "GET", "/api/v1/currencies"); r.Status != 200 {
				t.Fatalf("before: %d %s", r.Status, r.Body)
			}
			tc.spoil(t, f)
			// Each round is a new store generation, which makes the cache read again at once:
			// several reads meet the cause, not only the one a remembered failure would share.
			const rounds = 4
			for range rounds {
				f.store.gen.Add(1)
				for _, path := range []string{"/api/v1/currencies", "/api/v1/currencies/btc", "/api/v1/currencies"} {
					r := f.do(t, "GET", path)
					assertJSONError(t, r, 500, "internal_error")
					if strings.Contains(r.Body, tc.cause) || strings.Contains(r.Body, "InternalError") || strings.Contains(r.Body, "decod") {
						t.Errorf("GET %s: the driver's error reaches the client: %s", path, r.Body)
					}
				}
			}
			if r := f.do(t, "GET", "/readyz"); r.Status != 200 {
				t.Errorf("readyz = %d %s: bad data or a refused read is not an outage", r.Status, r.Body)
			}

			logged := logLines(t, f.logs.String(), "currencies unreadable")
			if len(logged) != 1 {
				t.Fatalf("%d \"currencies unreadable\" lines after %d requests, want 1:\n%s", len(logged), 3*rounds, f.logs)
			}
			line := logged[0]
			var fields map[string]any
			if err := json.Unmarshal([]byte(line), &fields); err != nil {
				t.Fatal(err)
			}
			if fields["level"] != "ERROR" || fields["class"] != tc.class || fields["cause"] != tc.cause || fields["database"] != f.db {
				t.Errorf("log line %s: want level ERROR, class %q, cause %q, database %q", line, tc.class, tc.cause, f.db)
			}
			for _, part := range connectionStringParts(t, uri) {
				if strings.Contains(line, part) {
					t.Errorf("log line quotes %q of the connection string: %s", part, line)
				}
			}
			if n := len(logLines(t, f.logs.String(), "reading currencies")); n != 0 {
				t.Errorf("the handler logged %d lines of its own, one per request", n)
			}

			reads := f.store.reads.Load() - 1 // the first one succeeded
			if reads < rounds {
				t.Fatalf("%d failed store reads, want at least one per round (%d)", reads, rounds)
			}
			metric := `marketdata_db_errors_total{class="` + tc.class + `",op="find_currencies"} ` + strconv.FormatInt(reads, 10) + "\n"
			if body := f.do(t, "GET", "/metrics").Body; !strings.Contains(body, metric) {
				t.Errorf("/metrics lacks %s(one count per failed read):\n%s", metric, metricLines(body, "marketdata_db_errors_total"))
			}

			if tc.fix == nil {
				return
			}
			// Fixed in the database: the list answers again once the remembered failure expires,
			// with no restart.
			tc.fix(t, f)
			deadline := time.Now().Add(10 * time.Second) // bounds a broken run only
			for r := f.do(t, "GET", "/api/v1/currencies"); r.Status != 200; r = f.do(t, "GET", "/api/v1/currencies") {
				if time.Now().After(deadline) {
					t.Fatalf("after the fix: %d %s", r.Status, r.Body)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

func insertDoc(doc bson.D) func(*testing.T, *fixture) {
	return func(t *testing.T, f *fixture) {
		if _, err := testdb.Raw(t, f.db).Collection(store.CurrenciesCollection).InsertOne(context.Background(), doc); err != nil {
			t.Fatal(err)
		}
	}
}

func deleteDoc(filter bson.D) func(*testing.T, *fixture) {
	return func(t *testing.T, f *fixture) {
		if _, err := testdb.Raw(t, f.db).Collection(store.CurrenciesCollection).DeleteOne(context.Background(), filter); err != nil {
			t.Fatal(err)
		}
	}
}

// connectionStringParts are the pieces of uri a log line must not contain: the credentials, the
// host and port, the options and the whole string.
func connectionStringParts(t *testing.T, uri string) []string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()
	return []string{uri, u.User.Username(), pass, u.Host, u.RawQuery}
}

// logLines returns the JSON log lines whose msg is msg.
func logLines(t *testing.T, logs, msg string) []string {
	t.Helper()
	var out []string
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var m struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if m.Msg == msg {
			out = append(out, line)
		}
	}
	return out
}

// metricLines are the lines of a Prometheus exposition about name.
func metricLines(body, name string) string {
	var out []string
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, name) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
