package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// Environment variables. The first three keep the original ASP.NET service's names so existing
// deployments and secrets work unchanged.
const (
	envConnectionString = "MongoDB__ConnectionString"
	envDatabase         = "MongoDB__Database"
	envEnvironment      = "ASPNETCORE_ENVIRONMENT"
	envDotnetEnv        = "DOTNET_ENVIRONMENT"
	envAddr             = "MARKETDATA_ADDR"
	envPort             = "PORT"
	envDataDir          = "MARKETDATA_DATA_DIR"
	envDBTimeout        = "MARKETDATA_DB_TIMEOUT"
	envHealthInterval   = "MARKETDATA_HEALTH_INTERVAL"
	envCacheTTL         = "MARKETDATA_CACHE_TTL"
	envShutdownDelay    = "MARKETDATA_SHUTDOWN_DELAY"
	envShutdownTimeout  = "MARKETDATA_SHUTDOWN_TIMEOUT"
)

type config struct {
	addr            string
	connString      string
	database        string
	environment     string
	dataDir         string
	dbTimeout       time.Duration
	healthInterval  time.Duration
	cacheTTL        time.Duration
	shutdownDelay   time.Duration
	shutdownTimeout time.Duration
}

// loadConfig reads the environment; the flags -addr and -data-dir override it for local runs.
// Every bad value is an error naming the variable, never a silent default.
func loadConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	cfg := config{
		addr:        ":8080",
		connString:  getenv(envConnectionString),
		database:    getenv(envDatabase),
		environment: firstNonEmpty(getenv(envEnvironment), getenv(envDotnetEnv), "Production"),
		dataDir:     firstNonEmpty(getenv(envDataDir), "data"),
	}
	if port := getenv(envPort); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return cfg, fmt.Errorf("%s=%q is not a TCP port number", envPort, port)
		}
		cfg.addr = ":" + port
	}
	if addr := getenv(envAddr); addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return cfg, fmt.Errorf("%s=%q is not host:port: %w", envAddr, addr, err)
		}
		cfg.addr = addr
	}
	durations := []struct {
		env string
		dst *time.Duration
		def time.Duration
	}{
		{envDBTimeout, &cfg.dbTimeout, 5 * time.Second},
		{envHealthInterval, &cfg.healthInterval, time.Second},
		{envCacheTTL, &cfg.cacheTTL, 2 * time.Second},
		// Long enough for the endpoints controller and Istio to stop routing to a pod that
		// reported not ready, before its listener closes; delay plus timeout stays under
		// Kubernetes' default 30 s grace period.
		{envShutdownDelay, &cfg.shutdownDelay, 5 * time.Second},
		{envShutdownTimeout, &cfg.shutdownTimeout, 20 * time.Second},
	}
	for _, d := range durations {
		*d.dst = d.def
		v := getenv(d.env)
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed < 0 {
			return cfg, fmt.Errorf("%s=%q is not a duration such as 500ms or 5s", d.env, v)
		}
		*d.dst = parsed
	}
	fs := flag.NewFlagSet("marketdata", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&cfg.addr, "addr", cfg.addr, "listen address (env "+envAddr+" or "+envPort+")")
	fs.StringVar(&cfg.dataDir, "data-dir", cfg.dataDir, "embedded store directory when "+envConnectionString+" is unset (env "+envDataDir+")")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return cfg, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
