package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/cryptotracker/ctmd/service/api"
	"github.com/cryptotracker/ctmd/service/metrics"
	"github.com/cryptotracker/ctmd/service/store"
)

// version is set at link time (-X main.version=…) by the Makefile.
var version = "dev"

// run serves until ctx is cancelled (SIGTERM), then drains: readiness fails at once, the listener
// stays open for the shutdown delay so load balancers notice, then in-flight requests finish
// within the shutdown timeout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h printed the usage
	}
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	m := metrics.New()

	// Background work (health checks, the embedded store) must outlive the drain, so it does not
	// hang off ctx.
	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()

	uri := cfg.connString
	if uri == "" {
		var stopEmbedded func()
		if uri, stopEmbedded, err = startEmbedded(cfg.dataDir, logger); err != nil {
			return err
		}
		defer stopEmbedded()
	}
	st, err := store.Open(store.Config{URI: uri, Database: cfg.database, Timeout: cfg.dbTimeout, Logger: logger, OnDBError: m.DBError})
	if err != nil {
		return fmt.Errorf("%s: %w", envConnectionString, err)
	}
	defer func() { _ = st.Close(context.Background()) }()
	if cfg.connString != "" {
		st.LogStart()
	}
	go st.Run(bg, cfg.healthInterval)

	// ASP.NET Core's default content root, which the original reports.
	contentRoot, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("content root: %w", err)
	}
	lns, err := listenAll(cfg.listen)
	if err != nil {
		return err
	}
	bound := make([]net.Addr, len(lns))
	for i, ln := range lns {
		bound[i] = ln.Addr()
	}
	var draining atomic.Bool
	handler, err := api.NewServer(api.Config{
		Store:        st,
		Logger:       logger,
		Metrics:      m,
		CacheTTL:     cfg.cacheTTL,
		StoreTimeout: cfg.dbTimeout,
		ShuttingDown: draining.Load,
		Info: api.SystemInfo{
			ApplicationName: "marketdata",
			EnvironmentName: cfg.environment,
			ContentRootPath: contentRoot,
			ServerURLs:      serverURLs(cfg.listen, bound),
			Version:         buildVersion(),
		},
	})
	if err != nil {
		closeAll(lns)
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { served <- srv.Serve(ln) }()
		logger.Info("listening", "addr", ln.Addr().String(), "version", buildVersion(), "environment", cfg.environment)
	}

	select {
	case err := <-served:
		_ = srv.Close() // the other listeners
		return err
	case <-ctx.Done():
	}
	draining.Store(true)
	logger.Info("shutting down", "delay", cfg.shutdownDelay.String(), "timeout", cfg.shutdownTimeout.String())
	select {
	case err := <-served:
		_ = srv.Close()
		return err
	case <-time.After(cfg.shutdownDelay):
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		return fmt.Errorf("drain: in-flight requests still running after %s: %w", cfg.shutdownTimeout, err)
	}
	for range lns {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	logger.Info("stopped")
	return nil
}

func listenAll(addrs []listenAddr) ([]net.Listener, error) {
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			closeAll(lns)
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		_ = ln.Close()
	}
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
