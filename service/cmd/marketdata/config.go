package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Environment variables. The first three and ASPNETCORE_URLS keep the original ASP.NET service's names so existing
// deployments and secrets work unchanged.
const (
	envConnectionString = "MongoDB__ConnectionString"
	envDatabase         = "MongoDB__Database"
	envEnvironment      = "ASPNETCORE_ENVIRONMENT"
	envDotnetEnv        = "DOTNET_ENVIRONMENT"
	envAddr             = "MARKETDATA_ADDR"
	envURLs             = "ASPNETCORE_URLS"
	envPort             = "PORT"
	envDataDir          = "MARKETDATA_DATA_DIR"
	envDBTimeout        = "MARKETDATA_DB_TIMEOUT"
	envHealthInterval   = "MARKETDATA_HEALTH_INTERVAL"
	envCacheTTL         = "MARKETDATA_CACHE_TTL"
	envShutdownDelay    = "MARKETDATA_SHUTDOWN_DELAY"
	envShutdownTimeout  = "MARKETDATA_SHUTDOWN_TIMEOUT"
)

type config struct {
	listen          []listenAddr
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
// Every bad value is an error naming the variable, never a silent default. The listen address,
// most specific first: -addr, MARKETDATA_ADDR, ASPNETCORE_URLS (as the original's deployments
// set it, so it beats a platform's PORT as it did there), PORT, :8080.
func loadConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	cfg := config{
		listen:      []listenAddr{{addr: ":8080", host: "+"}},
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
		cfg.listen = []listenAddr{{addr: ":" + port, host: "+"}}
	}
	if urls := getenv(envURLs); urls != "" {
		listen, err := parseURLs(urls)
		if err != nil {
			return cfg, err
		}
		cfg.listen = listen
	}
	if addr := getenv(envAddr); addr != "" {
		l, err := listenOn(envAddr, addr)
		if err != nil {
			return cfg, err
		}
		cfg.listen = []listenAddr{l}
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
	addr := fs.String("addr", "", "listen address host:port (default: env "+envAddr+", "+envURLs+", "+envPort+", then :8080)")
	fs.StringVar(&cfg.dataDir, "data-dir", cfg.dataDir, "embedded store directory when "+envConnectionString+" is unset (env "+envDataDir+")")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *addr != "" {
		l, err := listenOn("-addr", *addr)
		if err != nil {
			return cfg, err
		}
		cfg.listen = []listenAddr{l}
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
