// Package marketdata holds the domain types of the CryptoTracker marketdata API: currencies, the
// currencies every database starts with, and the errors the adapters (store, api) agree on.
package marketdata

import (
	"context"
	"errors"
)

// Currency is one tradable currency. Symbols are stored upper-case, as the original service seeds them.
type Currency struct {
	Symbol string
	Name   string
	// NoName is true when the stored document's Name is missing or null, which the original
	// service answers as "name": null (an empty Name stays "").
	NoName bool
}

// SeedCurrencies are the currencies the original service's first migration inserted; schema
// version 1 means they exist.
var SeedCurrencies = []Currency{
	{Symbol: "BTC", Name: "Bitcoin"},
	{Symbol: "LTC", Name: "Litecoin"},
	{Symbol: "ETH", Name: "Ethereum"},
	{Symbol: "XRP", Name: "Ripple"},
	{Symbol: "XMR", Name: "Monero"},
}

// SchemaVersion is the version the start-up migration brings a database to.
const SchemaVersion = 1

// ErrUnavailable means the database cannot be reached or is not migrated yet: callers answer 503 and
// retry later rather than treating it as a bug.
var ErrUnavailable = errors.New("currency store unavailable")

// ErrUnreadable means the database answered but the service cannot use the answer: a document it
// cannot decode, or a read the server refused (permissions). Retrying changes nothing until
// someone fixes the data or the grants: callers answer 500, and the store logs the cause.
var ErrUnreadable = errors.New("currency store unreadable")

// CurrencyStore reads currencies from wherever they are persisted.
type CurrencyStore interface {
	// Currencies returns every currency sorted by symbol ascending.
	Currencies(ctx context.Context) ([]Currency, error)
	// Ready reports whether the store is reachable and migrated; it must not block.
	Ready() bool
	// Generation changes whenever the store (re)becomes ready, so caches can drop what they read before.
	Generation() uint64
}

// MaxSymbolLen bounds the symbol path parameter; real tickers are 2 to 6 characters.
const MaxSymbolLen = 10

// ValidSymbol reports whether s is 1 to MaxSymbolLen ASCII letters or digits.
func ValidSymbol(s string) bool {
	if len(s) == 0 || len(s) > MaxSymbolLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letterOrDigit := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !letterOrDigit {
			return false
		}
	}
	return true
}
