package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// Options tune Open; the zero value is ready to use.
type Options struct {
	// Now is the clock for methods that take no now, and for sweeping.
	// Default time.Now.
	Now func() time.Time
	// SweepEvery is how often expired records are deleted in the
	// background. Default 1m; negative disables the sweep.
	SweepEvery time.Duration
	// Timeout bounds the wait for the file lock when another process holds
	// the file. Default 5s.
	Timeout time.Duration
}

// Store is a store.Store in one bbolt file.
type Store struct {
	db  *bolt.DB
	now func() time.Time

	// writers is how many writes are under way. A write that finds no
	// other commits at once; writes that meet one share a batch.
	writers atomic.Int32

	stop      chan struct{} // nil when the sweep is disabled
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var (
	_ store.Store           = (*Store)(nil)
	_ store.CountingStarter = (*Store)(nil)
)

var (
	bucketFactors      = []byte("factors")
	bucketRecovery     = []byte("recovery_codes")
	bucketAttempts     = []byte("attempts")
	bucketSessions     = []byte("sessions")
	bucketUserSessions = []byte("user_sessions")
	bucketRevocations  = []byte("revocations")
	bucketOnce         = []byte("once")
	bucketFirstSeen    = []byte("first_seen")
	bucketDevices      = []byte("devices")
	bucketDeviceTokens = []byte("device_tokens")
	bucketParked       = []byte("parked_requests")

	allBuckets = [][]byte{
		bucketFactors, bucketRecovery, bucketAttempts, bucketSessions,
		bucketUserSessions, bucketRevocations, bucketOnce, bucketFirstSeen,
		bucketDevices, bucketDeviceTokens, bucketParked,
	}
)

// batchDelay is how long a writer that meets others under way waits for
// more to share its transaction (and its fsync). A writer alone commits at
// once: a sign-in makes several writes in a row, and a wait per write
// would dominate its latency on a quiet server.
const batchDelay = 2 * time.Millisecond

// Open opens or creates the store at path. Missing parent directories are
// created 0700 and a new file 0600, since the file holds sealed secrets and
// session records.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("boltstore: open: %w: empty path", store.ErrInvalid)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SweepEvery == 0 {
		opts.SweepEvery = time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: locked by another process for %v: %w", path, opts.Timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: create buckets: %w", path, err)
	}
	s := &Store{db: db, now: opts.Now}
	if opts.SweepEvery > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.sweepLoop(opts.SweepEvery)
	}
	return s, nil
}

// Close stops the sweep and closes the file. Calling it again is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("boltstore: close: %w", err)
		}
	})
	return s.closeErr
}

// txFunc is the body of one operation. Its outcome is the caller's answer
// (ErrReplay, ErrNotFound, …) and leaves the transaction to commit; its
// error aborts the transaction.
type txFunc func(tx *bolt.Tx) (outcome, err error)

// write runs fn in one read-write transaction, possibly batched with
// concurrent writers. bbolt may run fn more than once, so fn derives
// everything from tx; an outcome rather than an error keeps one caller's
// "no" from rolling back the callers batched with it.
func (s *Store) write(ctx context.Context, op string, fn txFunc) error {
	if err := ctx.Err(); err != nil {
		return failed(op, err)
	}
	var outcome error
	run := func(tx *bolt.Tx) error {
		var err error
		outcome, err = fn(tx)
		return err
	}
	var err error
	if s.writers.Add(1) == 1 {
		err = s.db.Update(run)
	} else {
		err = s.db.Batch(run)
	}
	s.writers.Add(-1)
	return answer(op, outcome, err)
}

// read runs fn in one read-only transaction.
func (s *Store) read(ctx context.Context, op string, fn txFunc) error {
	if err := ctx.Err(); err != nil {
		return failed(op, err)
	}
	var outcome error
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		outcome, err = fn(tx)
		return err
	})
	return answer(op, outcome, err)
}

func answer(op string, outcome, err error) error {
	switch {
	case err != nil:
		return failed(op, err)
	case outcome != nil:
		return fmt.Errorf("boltstore: %s: %w", op, outcome)
	}
	return nil
}

// failed wraps a backend failure. Anything but the caller's own
// cancellation means the store cannot serve, which callers answer with 503.
func failed(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return fmt.Errorf("boltstore: %s: %w: %w", op, store.ErrUnavailable, err)
}

// invalid wraps an argument error found before any transaction.
func invalid(op string, err error) error {
	return fmt.Errorf("boltstore: %s: %w", op, err)
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

// getJSON decodes the record at key into v and reports whether it exists.
// The error never names the key: keys may be derived from secrets.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode record: %w", err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	return b.Put(key, raw)
}

// expired reports whether a deadline is set and reached; a zero deadline
// never expires.
func expired(at, now time.Time) bool {
	return !at.IsZero() && !now.Before(at)
}

// isEmpty reports whether b holds no key.
func isEmpty(b *bolt.Bucket) bool {
	k, _ := b.Cursor().First()
	return k == nil
}
