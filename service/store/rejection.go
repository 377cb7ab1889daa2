package store

import (
	"net/url"
	"strconv"
	"strings"
)

// rejection says why the driver refused a connection string without quoting any of it. The
// driver's messages quote the offending piece (an option value, the bad escape in a password or
// session token), so redacting them cannot be made safe: what is shown is only one of the
// driver's own fixed wordings below, matched as a prefix, and an option name from the driver's
// own list, never text taken from the message or the string.
func rejection(err error, uri string) string {
	msg := err.Error()
	for _, wrapper := range []string{"error parsing uri: ", "error validating uri: "} {
		msg = strings.TrimPrefix(msg, wrapper)
	}
	problem := ""
	for _, p := range driverProblems {
		if strings.HasPrefix(msg, p) && len(p) > len(problem) {
			problem = p
		}
	}
	if problem == "" {
		return "the MongoDB driver rejects it"
	}
	option := ""
	switch problem {
	case "invalid value for":
		if q, err := strconv.QuotedPrefix(strings.TrimPrefix(msg, problem+" ")); err == nil {
			key, _ := strconv.Unquote(q)
			option = knownOptions[strings.ToLower(key)]
		}
	case "invalid option key", "invalid option value", "invalid authMechanism property":
		option = badOption(problem, splitURI(uri).query)
	}
	switch {
	case option == "":
		return problem
	case problem == "invalid value for":
		return problem + " option " + option
	default:
		return problem + " (option " + option + ")"
	}
}

// badOption finds the option a query-level complaint is about, by the driver's own tests.
func badOption(problem, query string) string {
	for _, q := range queryPairs(query) {
		_, valueErr := url.QueryUnescape(q.value)
		switch {
		case problem == "invalid option key" && !q.keyDecodes,
			problem == "invalid option value" && valueErr != nil,
			problem == "invalid authMechanism property" && q.key == "authmechanismproperties":
			// An undecodable key is never named: it is not an option name, it may be anything.
			return knownOptions[q.key]
		}
	}
	return ""
}

// driverProblems are the fixed beginnings of the driver's connection string errors
// (x/mongo/driver/connstring and mongo/options in v1.17); what follows them may quote the string.
var driverProblems = []string{
	`scheme must be "mongodb" or "mongodb+srv"`,
	"unescaped slash in username",
	"invalid username",
	"unescaped colon in password",
	"unescaped slash in password",
	"invalid password",
	"unescaped @ sign in user info",
	"must have a / before the query ?",
	"invalid host",
	"port must be",
	"must have a / separator between hosts and path",
	"invalid database",
	"must have a ? separator between path and query",
	"must have at least 1 host",
	"invalid option",
	"invalid option key",
	"invalid option value",
	"invalid value for",
	"invalid authMechanism property",
	"must have at least 1 compressor",
	"invalid 'connect' value",
	"invalid 'directConnection' value",
	"options connect",
	"cannot specify srvMaxHosts on non-SRV URI",
	"cannot specify srvServiceName on non-SRV URI",
	"srvServiceName value must be between 1 and 62 characters",
	"tls and ssl options, when both specified, must be equivalent",
	"authSource must be non-empty when supplied in a URI",
	"auth source must be $external",
	"invalid auth mechanism",
	"invalid auth property",
	"username required",
	"password required",
	"password cannot be specified",
	"username without password is invalid",
	"password without username is invalid",
	"token without username and password is invalid",
	"a direct connection cannot be made",
	"loadBalanced cannot be set to true",
	"srvMaxHosts cannot be a positive value",
	"minPoolSize must be less than or equal to maxPoolSize",
	"invalid server monitoring mode",
	"the specified CA file does not contain any valid certificates",
	"no password provided to decrypt private key",
	"failed to find CERTIFICATE",
	"failed to find PRIVATE KEY",
}

// knownOptions maps the driver's lower-case option keys to their documented spelling.
var knownOptions = func() map[string]string {
	m := map[string]string{}
	for _, name := range []string{
		"appName", "authMechanism", "authMechanismProperties", "authSource", "compressors", "connect",
		"directConnection", "connectTimeoutMS", "heartbeatFrequencyMS", "heartbeatIntervalMS", "journal",
		"loadBalanced", "localThresholdMS", "maxIdleTimeMS", "maxPoolSize", "minPoolSize", "maxConnecting",
		"readConcernLevel", "readPreference", "readPreferenceTags", "maxStaleness", "maxStalenessSeconds",
		"replicaSet", "retryWrites", "retryReads", "serverMonitoringMode", "serverSelectionTimeoutMS",
		"socketTimeoutMS", "srvMaxHosts", "srvServiceName", "ssl", "tls", "sslClientCertificateKeyFile",
		"tlsCertificateKeyFile", "sslClientCertificateKeyPassword", "tlsCertificateKeyFilePassword",
		"tlsCertificateFile", "tlsPrivateKeyFile", "sslInsecure", "tlsInsecure",
		"sslCertificateAuthorityFile", "tlsCAFile", "timeoutMS", "tlsDisableOCSPEndpointCheck",
		"tlsAllowInvalidCertificates", "tlsAllowInvalidHostnames", "w", "wTimeoutMS", "wtimeout",
		"zlibCompressionLevel", "zstdCompressionLevel",
	} {
		m[strings.ToLower(name)] = name
	}
	return m
}()
