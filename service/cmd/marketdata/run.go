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

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
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
			Version:         buildVersion(),
			ServerURLs:      serverURL(cfg.addr, ln.Addr()),
		},
	})
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "version", buildVersion(), "environment", cfg.environment)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	draining.Store(true)
	logger.Info("shutting down", "delay", cfg.shutdownDelay.String(), "timeout", cfg.shutdownTimeout.String())
	select {
	case err := <-served:
		return err
	case <-time.After(cfg.shutdownDelay):
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		return fmt.Errorf("drain: in-flight requests still running after %s: %w", cfg.shutdownTimeout, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// serverURL renders the listen address the way ASP.NET's ASPNETCORE_URLS does, "http://+:8080"
// for all interfaces, with the port actually bound (which differs from the configured one for :0).
func serverURL(configured string, bound net.Addr) string {
	host, _, _ := net.SplitHostPort(configured)
	_, port, _ := net.SplitHostPort(bound.String())
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "+"
	}
	return "http://" + net.JoinHostPort(host, port)
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
