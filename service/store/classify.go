package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/bson/bsoncodec"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/mongo/driver"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"
)

// Classes of database errors (the class label of marketdata_db_errors_total), told apart by what
// waiting does about them. An outage passes on its own: reads answer marketdata.ErrUnavailable
// (503) and the health loop tracks readiness. The others mean the database answered and the
// answer cannot be used; nothing changes until someone fixes the data or the grants, so reads
// answer marketdata.ErrUnreadable (500) and each cause is logged.
const (
	classOutage  = "outage"  // network, timeout, no selectable server, a server stepping down or shutting down
	classData    = "data"    // a document the service cannot decode
	classRefused = "refused" // the server refused the command (permissions, a broken collection)
	classOther   = "other"   // none of the above; handled like data and refused, never as an outage
)

// classify returns err's class and, unless it is an outage, its cause: what identifies the
// problem without quoting any data (the document field, the server's error code), so that one
// cause stays one cause however often it recurs and whatever the messages carry.
func classify(err error) (class, cause string) {
	if isOutage(err) {
		return classOutage, ""
	}
	var bad dataError
	if errors.As(err, &bad) {
		return classData, "field " + bad.field
	}
	var decode *bsoncodec.DecodeError
	if errors.As(err, &decode) {
		return classData, "field " + strings.Join(decode.Keys(), ".")
	}
	var cmd mongo.CommandError
	if errors.As(err, &cmd) {
		if cmd.Name == "" {
			return classRefused, fmt.Sprintf("code %d", cmd.Code)
		}
		return classRefused, fmt.Sprintf("code %d (%s)", cmd.Code, cmd.Name)
	}
	return classOther, fmt.Sprintf("%T", err)
}

// isOutage applies the driver's own classification: its network and timeout tests (which cover
// a server selection timeout and maxTimeMS), server selection errors, and the server errors it
// retries a read on.
func isOutage(err error) bool {
	var selection topology.ServerSelectionError
	var netErr net.Error
	var cmd mongo.CommandError
	switch {
	case mongo.IsNetworkError(err), mongo.IsTimeout(err), errors.As(err, &selection),
		errors.As(err, &netErr), // a DNS failure of a mongodb+srv:// seed list, a refused dial
		// Reads and checks are cancelled, and the client disconnected, only when the process stops.
		errors.Is(err, context.Canceled), errors.Is(err, mongo.ErrClientDisconnected):
		return true
	case errors.As(err, &cmd):
		// The mongo package copies these fields from the driver's x/mongo/driver.Error, whose own
		// tests then say whether the server is shutting down, stepping down, not primary or
		// recovering, or a mongos lost its shard (HostUnreachable, ExceededTimeLimit, ...).
		de := driver.Error{Code: cmd.Code, Message: cmd.Message, Labels: cmd.Labels}
		return de.RetryableRead() || de.NotPrimary() || de.NodeIsRecovering()
	}
	return false
}

// dataError is a document the store itself finds unusable (the decoder accepts it).
type dataError struct{ field, problem string }

func (e dataError) Error() string { return e.field + " " + e.problem }

// causeLog remembers the causes already logged since the last successful read: a bad document
// read once per cache interval under load is one log line, and the same cause coming back after
// a fix is logged again. Causes are bounded by construction (currencyDoc's fields, the server's
// error codes, the Go types of errors), so the set needs no limit.
type causeLog struct {
	mu   sync.Mutex
	seen map[string]bool
}

// first reports whether key is new since the last reset, and remembers it.
func (l *causeLog) first(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[key] {
		return false
	}
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[key] = true
	return true
}

func (l *causeLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.seen)
}
