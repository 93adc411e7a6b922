package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// DefaultPrefix starts every key (and the revocation channel) unless
// Options.Prefix says otherwise.
const DefaultPrefix = "mfa:"

// Options tune New; the zero value is ready to use.
type Options struct {
	// Prefix namespaces every key and the revocation channel, so several
	// gateways can share one Redis. Default DefaultPrefix.
	Prefix string
	// Now is the clock for methods that take no now. Default time.Now.
	Now func() time.Time
	// OwnClient makes Close close the client as well. Leave it false when
	// the client is shared with other code, which then closes it itself.
	OwnClient bool
}

// Store is a store.Store on Redis (standalone, Sentinel or Cluster).
type Store struct {
	client    redis.UniversalClient
	now       func() time.Time
	ownClient bool
	keys      keyspace

	closed   atomic.Bool
	stop     context.Context // cancelled by Close; ends the watchers
	cancel   context.CancelFunc
	watchers sync.WaitGroup
	feedUp   atomic.Int32 // watchers currently subscribed and resynced
	// pingEvery is how long a quiet subscription waits before it pings;
	// tests shorten it.
	pingEvery time.Duration

	closeOnce sync.Once
	closeErr  error
}

var (
	_ store.Store          = (*Store)(nil)
	_ store.RevocationFeed = (*Store)(nil)
)

// New returns a store on client. The client's pool is used as it is;
// nothing is sent to Redis until the first call.
func New(client redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{client: client, now: opts.Now, ownClient: opts.OwnClient, keys: keyspace{prefix: opts.Prefix}, pingEvery: pingEvery}
	s.stop, s.cancel = context.WithCancel(context.Background())
	return s
}

// Close ends the revocation watchers and, with Options.OwnClient, closes
// the client. Every later call fails with store.ErrUnavailable. Calling it
// again is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.watchers.Wait()
		if s.ownClient {
			if err := s.client.Close(); err != nil {
				s.closeErr = fmt.Errorf("redisstore: close: %w", err)
			}
		}
	})
	return s.closeErr
}

// errClosed is the cause of every call after Close.
var errClosed = errors.New("store closed")

// usable refuses calls after Close.
func (s *Store) usable(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrUnavailable, errClosed)
	}
	return nil
}

// failed wraps a Redis failure. Anything but the caller's own cancellation
// means the store cannot serve, which callers answer with 503. go-redis
// errors name the server address at most, never a key or a password.
func failed(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrUnavailable, err)
}

// invalid wraps an argument error found before any command was sent.
func invalid(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// outcome wraps an answer the caller branches on (ErrNotFound, ErrReplay).
func outcome(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// checkKeys runs store.CheckKey over name/value pairs.
func checkKeys(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := store.CheckKey(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// needExpiry refuses a zero expiry, which no record may have.
func needExpiry(what string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("%w: %s without expiry", store.ErrInvalid, what)
	}
	return nil
}

// ms is t in Unix milliseconds, the precision the store keeps; the zero
// time is 0, which Lua scripts read as "never".
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// msUp is ms rounded up: a revocation's NotBefore kept to the
// millisecond must still cover a session started in that millisecond
// before it (widening a revocation is safe, narrowing it is not).
func msUp(t time.Time) int64 {
	m := ms(t)
	if !t.IsZero() && t.After(time.UnixMilli(m)) {
		m++
	}
	return m
}

// fromMS inverts ms.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// expired reports whether a deadline is set and reached at now.
func expired(at, now time.Time) bool {
	return !at.IsZero() && !now.Before(at)
}
