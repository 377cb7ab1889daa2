package main

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := loadConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if addrs(cfg) != ":8080 +" || cfg.environment != "Production" || cfg.dataDir != "data" || cfg.database != "" {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, _ = loadConfig(nil, env(map[string]string{envPort: "9090", envDotnetEnv: "Staging"}), io.Discard)
	if addrs(cfg) != ":9090 +" || cfg.environment != "Staging" {
		t.Errorf("PORT/DOTNET_ENVIRONMENT: %+v", cfg)
	}
	cfg, _ = loadConfig([]string{"-data-dir", "/tmp/x"}, env(map[string]string{envPort: "9090", envAddr: "127.0.0.1:7000"}), io.Discard)
	if addrs(cfg) != "127.0.0.1:7000 127.0.0.1" || cfg.dataDir != "/tmp/x" {
		t.Errorf("%s must win over %s, -data-dir over the default: %+v", envAddr, envPort, cfg)
	}
	for name, bad := range map[string]map[string]string{
		envPort:            {envPort: "http"},
		envAddr:            {envAddr: "8080"},
		envDBTimeout:       {envDBTimeout: "5"},
		envShutdownTimeout: {envShutdownTimeout: "-1s"},
		envCacheTTL:        {envCacheTTL: "soon"},
	} {
		if _, err := loadConfig(nil, env(bad), io.Discard); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: error %v does not name %s", bad, err, name)
		}
	}
	if _, err := loadConfig([]string{"extra"}, env(nil), io.Discard); err == nil {
		t.Error("stray arguments accepted")
	}
	var usage strings.Builder
	if err := run(context.Background(), []string{"-h"}, env(nil), &usage); err != nil || !strings.Contains(usage.String(), "-data-dir") {
		t.Errorf("run -h = %v, printed %q; want nil and the usage", err, usage.String())
	}
}

// addrs renders the listen addresses as "addr host" pairs joined by ";".
func addrs(cfg config) string {
	var out []string
	for _, l := range cfg.listen {
		out = append(out, l.addr+" "+l.host)
	}
	return strings.Join(out, ";")
}

// ASPNETCORE_URLS is how the original's deployments set the address; it is honoured, ranked
// between MARKETDATA_ADDR and PORT, and what cannot be served is refused naming the variable.
func TestASPNETCoreURLs(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for urls, want := range map[string]string{
		"http://*:8080":                         ":8080 *",
		"http://+:5000":                         ":5000 +",
		"HTTP://localhost":                      "localhost:80 localhost",
		"http://127.0.0.1:5001/":                "127.0.0.1:5001 127.0.0.1",
		"http://[::1]:5002":                     "[::1]:5002 ::1",
		"http://example.internal:81":            ":81 example.internal",
		"http://+:5000; http://127.0.0.1:5001;": ":5000 +;127.0.0.1:5001 127.0.0.1",
	} {
		cfg, err := loadConfig(nil, env(map[string]string{envURLs: urls, envPort: "9999"}), io.Discard)
		if err != nil || addrs(cfg) != want {
			t.Errorf("%s=%q (and PORT) = %q, %v; want %q", envURLs, urls, addrs(cfg), err, want)
		}
	}
	cfg, _ := loadConfig(nil, env(map[string]string{envURLs: "http://+:5000", envAddr: "127.0.0.1:7000"}), io.Discard)
	if addrs(cfg) != "127.0.0.1:7000 127.0.0.1" {
		t.Errorf("%s must win over %s: %q", envAddr, envURLs, addrs(cfg))
	}
	cfg, _ = loadConfig([]string{"-addr", "127.0.0.1:7001"}, env(map[string]string{envURLs: "http://+:5000"}), io.Discard)
	if addrs(cfg) != "127.0.0.1:7001 127.0.0.1" {
		t.Errorf("-addr must win over %s: %q", envURLs, addrs(cfg))
	}
	for urls, why := range map[string]string{
		"https://+:443":             "https",
		"http://+:80;https://+:443": "https",
		"http://+:8080/api":         "path",
		"http://+:http":             "URL",
		"http://+:70000":            "port",
		"ftp://+:21":                "http://",
		"+:8080":                    "URL",
		" ; ":                       "no URL",
		"http://user:pw@+:8080":     "user info",
	} {
		_, err := loadConfig(nil, env(map[string]string{envURLs: urls}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), envURLs) || !strings.Contains(err.Error(), why) {
			t.Errorf("%s=%q: error %v, want one naming the variable and %q", envURLs, urls, err, why)
		}
	}
}

func TestServerURLs(t *testing.T) {
	bound := []net.Addr{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}}
	for configured, want := range map[string]string{":8080": "http://+:8080", "0.0.0.0:0": "http://+:8080", "127.0.0.1:0": "http://127.0.0.1:8080"} {
		l, err := listenOn(envAddr, configured)
		if err != nil {
			t.Fatal(err)
		}
		if got := serverURLs([]listenAddr{l}, bound); got != want {
			t.Errorf("serverURLs(%q) = %q, want %q", configured, got, want)
		}
	}
}
