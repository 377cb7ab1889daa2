package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cryptotracker/ctmd/service/marketdata"
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
	body, err := marshalJSON(v)
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

// currencyJSON is the original service's wire shape: camelCase, no _id, a missing name is null.
type currencyJSON struct {
	Symbol string  `json:"symbol"`
	Name   *string `json:"name"`
}

func newCurrencyJSON(c marketdata.Currency) currencyJSON {
	j := currencyJSON{Symbol: c.Symbol}
	if !c.NoName {
		j.Name = &c.Name
	}
	return j
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
//
// Concurrent misses share one read of the store and its result, error included, and a failed
// read is remembered for failureTTL: a stalled database costs each request at most one read
// timeout, and the store one read per interval, however many requests arrive. Requests wait for
// the shared read only as long as their own context allows.
type currencyCache struct {
	store marketdata.CurrencyStore
	ttl   time.Duration
	// readTimeout bounds the shared read, which no request's context governs.
	readTimeout time.Duration
	cur         atomic.Pointer[snapshot]

	mu       sync.Mutex
	inflight *read // nil when no read is running
	failed   *read // the last failed read, until its expiry
}

// failureTTL is how long a failed read answers for the store: long enough that a stalled
// database is not read once per request, short enough that recovery shows at once.
const failureTTL = time.Second

// read is one shared read of the store; done is closed once snap or err (or panicked) is set.
type read struct {
	generation uint64
	done       chan struct{}
	snap       *snapshot
	err        error
	panicked   any
	expires    time.Time // of a failure
}

func (c *currencyCache) fresh(s *snapshot) bool {
	return s != nil && s.generation == c.store.Generation() && time.Now().Before(s.expires)
}

func (c *currencyCache) get(ctx context.Context) (*snapshot, error) {
	if s := c.cur.Load(); c.fresh(s) {
		return s, nil
	}
	r := c.join()
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.panicked != nil {
		panic(r.panicked) // a bug in the store: every waiter's handler answers 500, as before
	}
	return r.snap, r.err
}

// join returns the read whose result answers this request: a remembered failure, the one in
// flight, or a new one.
func (c *currencyCache) join() *read {
	c.mu.Lock()
	defer c.mu.Unlock()
	generation := c.store.Generation()
	if s := c.cur.Load(); c.fresh(s) {
		return &read{done: closedChan, snap: s}
	}
	if f := c.failed; f != nil && f.generation == generation && time.Now().Before(f.expires) {
		return f
	}
	if c.inflight == nil {
		c.inflight = &read{generation: generation, done: make(chan struct{})}
		go c.load(c.inflight)
	}
	return c.inflight
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *currencyCache) load(r *read) {
	defer func() {
		r.panicked = recover()
		c.mu.Lock()
		c.inflight = nil
		if r.err != nil {
			r.expires = time.Now().Add(failureTTL)
			c.failed = r
		}
		c.mu.Unlock()
		close(r.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), c.readTimeout)
	defer cancel()
	r.snap, r.err = c.build(ctx, r.generation)
	if r.err == nil {
		c.cur.Store(r.snap)
	}
}

func (c *currencyCache) build(ctx context.Context, generation uint64) (*snapshot, error) {
	currencies, err := c.store.Currencies(ctx)
	if err != nil {
		return nil, err
	}
	s := &snapshot{generation: generation, expires: time.Now().Add(c.ttl), bySymbol: make(map[string]representation, len(currencies))}
	list := make([]currencyJSON, len(currencies))
	for i, cur := range currencies {
		list[i] = newCurrencyJSON(cur)
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
	return s, nil
}
