// Package store keeps currencies in MongoDB (or anything speaking its wire protocol, such as the
// embedded FerretDB) with the original ASP.NET service's schema, migrates that schema at start-up,
// and tracks whether the database is usable so the service can report readiness without a round trip.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/cryptotracker/ctmd/service/marketdata"
)

// Names the original service created; an existing Atlas database already holds them.
const (
	DefaultDatabase       = "CryptoTracker_MarketData"
	CurrenciesCollection  = "Currencies"
	SettingsCollection    = "Settings"
	CurrencySymbolIndex   = "idx_currency_symbol"
	SettingNameIndex      = "idx_setting_name"
	schemaVersionSetting  = "schemaVersion"
	defaultTimeout        = 5 * time.Second
	defaultHealthInterval = time.Second
)

// Config says where the database is and how long to wait for it.
type Config struct {
	URI string
	// Database holds the collections; the database in the URI path is only the auth database.
	Database string
	// Timeout bounds server selection, connecting and each operation, so a dead database turns
	// into a quick 503 instead of requests hanging for the driver's 30 s default.
	Timeout time.Duration
	Logger  *slog.Logger
	// OnDBError counts failed database operations by name and class (outage, data, refused,
	// other; metrics); may be nil.
	OnDBError func(op, class string)
}

type health int32

const (
	healthUnknown health = iota
	healthReady
	healthDown
)

// Store is a MongoDB-backed marketdata.CurrencyStore.
type Store struct {
	cfg    Config
	redact redactor
	hosts  string // for logs; see hostsForLog
	// client stays nil while a mongodb+srv:// seed list cannot be resolved; the health loop retries.
	client atomic.Pointer[mongo.Client]
	health atomic.Int32
	gen    atomic.Uint64
	logged causeLog // of reads that failed for another reason than an outage
}

var _ marketdata.CurrencyStore = (*Store)(nil)

// Open validates the configuration and creates the driver client. It does not wait for the
// database: a database that is down only makes the store not ready.
func Open(cfg Config) (*Store, error) {
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, redact: newRedactor(cfg.URI)}
	s.hosts = hostsForLog(cfg.URI, s.redact)
	if !strings.HasPrefix(cfg.URI, "mongodb://") && !strings.HasPrefix(cfg.URI, "mongodb+srv://") {
		return nil, errors.New("connection string must start with mongodb:// or mongodb+srv://")
	}
	if err := s.connect(); err != nil {
		var rejected rejectedError
		if errors.As(err, &rejected) {
			return nil, rejected
		}
		s.logDown("connect", err)
	}
	return s, nil
}

// Hosts is the host list of the connection string for logs: empty when it cannot be told apart
// from credentials with certainty.
func (s *Store) Hosts() string { return s.hosts }

// LogStart logs which database the service uses, without any credential.
func (s *Store) LogStart() {
	s.cfg.Logger.Info("using MongoDB", "store", "mongodb", "hosts", s.Hosts(), "database", s.Database())
}

// Database is the name of the database holding the collections.
func (s *Store) Database() string { return s.cfg.Database }

// rejectedError is a connection string the driver refuses, described without quoting it.
type rejectedError struct{ problem string }

func (e rejectedError) Error() string {
	return "invalid connection string: " + e.problem + " (the driver's own message is withheld: it can quote the string)"
}

// connect creates the driver client; an error is either a DNS error (an outage) or a rejectedError.
func (s *Store) connect() error {
	opts := options.Client().
		SetAppName("marketdata").
		SetServerSelectionTimeout(s.cfg.Timeout).
		SetConnectTimeout(s.cfg.Timeout).
		// The URI is applied last so that options it sets explicitly win over these defaults.
		ApplyURI(s.cfg.URI)
	client, err := mongo.Connect(context.Background(), opts)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return err // an unresolvable mongodb+srv:// name is an outage, retried by the health loop
	}
	if err != nil {
		return rejectedError{rejection(err, s.cfg.URI)}
	}
	s.client.Store(client)
	return nil
}

// Close disconnects from the database.
func (s *Store) Close(ctx context.Context) error {
	if c := s.client.Load(); c != nil {
		return c.Disconnect(ctx)
	}
	return nil
}

// Ready reports whether the last health check reached the database and found it migrated.
func (s *Store) Ready() bool { return health(s.health.Load()) == healthReady }

// Generation increases every time the store becomes ready, so caches drop data read before an
// outage or a migration.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// Run checks the database every interval until ctx ends, migrating it whenever it (re)appears, so
// the service recovers from an outage without a restart.
func (s *Store) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check pings the database (migrating it when it was not ready) and updates readiness.
func (s *Store) Check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if s.client.Load() == nil {
		if err := s.connect(); err != nil {
			s.logDown("connect", err)
			return
		}
	}
	if err := s.client.Load().Ping(ctx, nil); err != nil {
		s.logDown("ping", err)
		return
	}
	if s.Ready() {
		return
	}
	if err := s.Migrate(ctx); err != nil {
		s.logDown("migrate", err)
		return
	}
	s.gen.Add(1)
	s.health.Store(int32(healthReady))
	s.cfg.Logger.Info("database ready", "hosts", s.Hosts(), "database", s.cfg.Database)
}

func (s *Store) logDown(op string, err error) {
	class, _ := classify(err)
	s.countError(op, class)
	if health(s.health.Swap(int32(healthDown))) != healthDown {
		s.cfg.Logger.Warn("database unavailable", "op", op, "hosts", s.Hosts(), "error", s.redact.String(err.Error()))
	}
}

func (s *Store) countError(op, class string) {
	if s.cfg.OnDBError != nil {
		s.cfg.OnDBError(op, class)
	}
}

// readError counts a failed read and wraps it with the credentials removed: an outage as
// marketdata.ErrUnavailable, anything else as marketdata.ErrUnreadable, logged the first time its
// cause appears since the last successful read. Readiness is left to the health loop: bad data
// or a refused read does not make the database unreachable.
func (s *Store) readError(op string, err error) error {
	class, cause := classify(err)
	s.countError(op, class)
	msg := s.redact.String(err.Error())
	if class == classOutage {
		return fmt.Errorf("%w: %s: %s", marketdata.ErrUnavailable, op, msg)
	}
	if s.logged.first(class + " " + cause) {
		// No hosts here, unlike the outage warning: nothing of the connection string is needed
		// to find a bad document or a missing grant.
		s.cfg.Logger.Error("currencies unreadable", "op", op, "class", class, "cause", cause,
			"database", s.cfg.Database, "collection", CurrenciesCollection, "error", msg)
	}
	return fmt.Errorf("%w: %s: %s", marketdata.ErrUnreadable, op, msg)
}

type currencyDoc struct {
	Symbol *string `bson:"Symbol"` // required: nil when missing or null
	Name   *string `bson:"Name"`   // nil when missing or null
}

// Currencies returns all currencies sorted by symbol, as the original list endpoint did.
func (s *Store) Currencies(ctx context.Context) ([]marketdata.Currency, error) {
	client := s.client.Load()
	if client == nil || !s.Ready() {
		return nil, marketdata.ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	cur, err := client.Database(s.cfg.Database).Collection(CurrenciesCollection).Find(ctx, bson.D{},
		options.Find().
			SetSort(bson.D{{Key: "Symbol", Value: 1}}).
			SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "Symbol", Value: 1}, {Key: "Name", Value: 1}}))
	if err != nil {
		return nil, s.readError("find_currencies", err)
	}
	var docs []currencyDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.readError("find_currencies", err)
	}
	out := make([]marketdata.Currency, len(docs))
	for i, d := range docs {
		if d.Symbol == nil {
			// A currency without a symbol cannot be listed or looked up; answering it as "" would
			// hide the bad document.
			return nil, s.readError("find_currencies", dataError{"Symbol", "is missing or null"})
		}
		out[i] = marketdata.Currency{Symbol: *d.Symbol, NoName: d.Name == nil}
		if d.Name != nil {
			out[i].Name = *d.Name
		}
	}
	s.logged.reset()
	return out, nil
}
