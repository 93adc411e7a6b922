package boltstore

import (
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// A fixed instant, not the wall clock: these tests run on the injected
// clock only.
var (
	t0       = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	deadline = t0.Add(time.Hour)
)

// openAt opens a store closed at the end of the test.
func openAt(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rawKeys lists the keys of a bucket, following a path of nested buckets;
// a missing bucket has none.
func rawKeys(t *testing.T, s *Store, path ...[]byte) []string {
	t.Helper()
	var keys []string
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(path[0])
		for _, name := range path[1:] {
			if b == nil {
				return nil
			}
			b = b.Bucket(name)
		}
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	must(t, err)
	return keys
}

// testDevice is user's device id, trusted from t0 until deadline, with a
// token hash derived from both.
func testDevice(user, id string) store.Device {
	h := sha256.Sum256([]byte(user + "/" + id))
	return store.Device{ID: id, User: user, TokenHash: h[:], Label: "browser " + id, CreatedAt: t0, ExpiresAt: deadline}
}
