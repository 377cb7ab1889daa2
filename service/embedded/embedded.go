// Package embedded runs FerretDB in process (SQLite files in a directory) so the service and its
// tests speak the real MongoDB wire protocol with no database installed. Only non-image builds and
// tests import it: the container image must not fall back to a throwaway local store.
package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Server is a running FerretDB instance.
type Server struct {
	uri    string
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

// Start serves the SQLite databases in dir on addr ("127.0.0.1:0" picks a free port). Logs go to
// logger at Error level only: FerretDB logs every failed command at Warn.
func Start(dir, addr string, logger *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded store data directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded store data directory: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: addr},
		Handler:  "sqlite",
		// File mode, never ?mode=memory: updates deadlock in memory mode.
		SQLiteURL: (&url.URL{Scheme: "file", Opaque: abs + "/"}).String(),
		Logger:    slog.New(errorsOnly{logger.Handler()}),
	})
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = f.Run(ctx) // always nil; it returns when ctx is cancelled
	}()
	// MongoDBURI blocks until Run has bound the listener.
	u, err := url.Parse(f.MongoDBURI())
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("embedded store address: %w", err)
	}
	s.addr = u.Host
	// One connection per client: FerretDB loses concurrent updates to a document otherwise.
	u.RawQuery = "maxPoolSize=1"
	s.uri = u.String()
	return s, nil
}

// URI is a mongodb:// connection string for this server, with maxPoolSize=1.
func (s *Server) URI() string { return s.uri }

// Addr is the host:port the server listens on, so a test can restart it at the same place.
func (s *Server) Addr() string { return s.addr }

// Stop closes the listener and every connection, and waits until the databases are closed.
func (s *Server) Stop() {
	s.cancel()
	<-s.done
}

// errorsOnly drops records below Error.
type errorsOnly struct{ slog.Handler }

func (h errorsOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError && h.Handler.Enabled(ctx, l)
}

func (h errorsOnly) WithAttrs(as []slog.Attr) slog.Handler {
	return errorsOnly{h.Handler.WithAttrs(as)}
}
func (h errorsOnly) WithGroup(g string) slog.Handler { return errorsOnly{h.Handler.WithGroup(g)} }
