package main

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// listenAddr is one address to listen on and how serverUrls names it.
type listenAddr struct {
	addr string // for net.Listen
	host string // for serverUrls: "+" or "*" for all interfaces, else the configured host
}

// listenOn reads a MARKETDATA_ADDR or -addr value, host:port.
func listenOn(name, addr string) (listenAddr, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return listenAddr{}, fmt.Errorf("%s=%q is not host:port: %w", name, addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "+"
	}
	return listenAddr{addr: addr, host: host}, nil
}

// parseURLs reads ASPNETCORE_URLS as Kestrel does: URLs separated by ";", the host "*" or "+"
// (or any name other than localhost) meaning every interface, port 80 when none is given. What
// this process cannot serve is refused rather than silently changed: https (TLS ends at the
// gateway) and a path (Kestrel's path base, which the routes here do not have).
func parseURLs(v string) ([]listenAddr, error) {
	var out []listenAddr
	for raw := range strings.SplitSeq(v, ";") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("%s=%q: %q %s", envURLs, v, raw, why) }
		u, err := url.Parse(raw)
		switch {
		case err != nil || u.Host == "":
			return nil, bad("is not a URL such as http://+:8080")
		case strings.EqualFold(u.Scheme, "https"):
			return nil, bad("asks for https, which this service does not serve (TLS ends at the gateway); use http://")
		case !strings.EqualFold(u.Scheme, "http"):
			return nil, bad("is not an http:// URL")
		case u.Path != "" && u.Path != "/":
			return nil, bad("has a path; the routes have no path base, give scheme, host and port only")
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			return nil, bad("has user info, a query or a fragment")
		}
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = "80"
		}
		if n, err := strconv.Atoi(port); err != nil || n > 65535 {
			return nil, bad("has no valid port")
		}
		bind := host
		if host != "localhost" && net.ParseIP(host) == nil {
			bind = "" // "*", "+" or a name: every interface, as in Kestrel
		}
		out = append(out, listenAddr{addr: net.JoinHostPort(bind, port), host: host})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s=%q holds no URL", envURLs, v)
	}
	return out, nil
}

// serverURLs renders what systeminfo reports as serverUrls, in ASPNETCORE_URLS's form, with the
// port actually bound (which differs from the configured one for port 0).
func serverURLs(listen []listenAddr, bound []net.Addr) string {
	urls := make([]string, len(listen))
	for i, l := range listen {
		_, port, _ := net.SplitHostPort(bound[i].String())
		urls[i] = "http://" + net.JoinHostPort(l.host, port)
	}
	return strings.Join(urls, ";")
}
