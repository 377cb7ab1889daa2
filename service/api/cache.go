package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	marketdata "github.com/cryptotracker/ctmd/service"
)

// representation is a response body encoded once, with its ETag, so that serving it is only a write.
// The header value slices are shared by every response and must never be modified.
type representation struct {
	body          []byte
	etag          string
	etagHeader    []string
	contentLength []string
}

func newRepresentation(v any) (representation, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return representation{}, err
	}
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	return representation{
		body:          body,
		etag:          etag,
		etagHeader:    []string{etag},
		contentLength: []string{strconv.Itoa(len(body))},
	}, nil
}

// currencyJSON is the original service's wire shape: camelCase, no _id.
type currencyJSON struct {
	Symbol string `json:"symbol"`
	Name   string `json:"name"`
}

// snapshot is every currency response, built from one read of the store.
type snapshot struct {
	generation uint64
	expires    time.Time
	list       representation
	bySymbol   map[string]representation // keyed by upper-case symbol
}

// currencyCache keeps the currency responses in memory for a short TTL, so the list endpoint does
// not cost a database round trip per request. A store that becomes ready again (after an outage
// or a migration) bumps its generation, which invalidates the snapshot at once.
type currencyCache struct {
	store marketdata.CurrencyStore
	ttl   time.Duration
	cur   atomic.Pointer[snapshot]
	// refresh lets one request reload while the others wait for its result instead of all
	// querying the database when the snapshot expires under load.
	refresh sync.Mutex
}

func (c *currencyCache) fresh(s *snapshot) bool {
	return s != nil && s.generation == c.store.Generation() && time.Now().Before(s.expires)
}

func (c *currencyCache) get(ctx context.Context) (*snapshot, error) {
	if s := c.cur.Load(); c.fresh(s) {
		return s, nil
	}
	c.refresh.Lock()
	defer c.refresh.Unlock()
	if s := c.cur.Load(); c.fresh(s) {
		return s, nil
	}
	generation := c.store.Generation()
	currencies, err := c.store.Currencies(ctx)
	if err != nil {
		return nil, err
	}
	s := &snapshot{generation: generation, expires: time.Now().Add(c.ttl), bySymbol: make(map[string]representation, len(currencies))}
	list := make([]currencyJSON, len(currencies))
	for i, cur := range currencies {
		list[i] = currencyJSON{Symbol: cur.Symbol, Name: cur.Name}
		key := strings.ToUpper(cur.Symbol)
		if _, dup := s.bySymbol[key]; dup {
			continue // symbols differing only in case: the first in sort order wins, as a lookup would
		}
		if s.bySymbol[key], err = newRepresentation(list[i]); err != nil {
			return nil, err
		}
	}
	if s.list, err = newRepresentation(list); err != nil {
		return nil, err
	}
	c.cur.Store(s)
	return s, nil
}
