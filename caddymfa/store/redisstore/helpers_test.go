package redisstore

import (
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// newClient is a client of its own, as a separate instance would have,
// closed at the end of the test.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// uniquePrefix keeps tests apart on one server (MFA_TEST_REDIS may point
// several test processes at the same one).
func uniquePrefix() string { return "test:" + strings.ToLower(rand.Text()[:10]) + ":" }

// openStore returns a store on its own client under prefix, closed at
// the end of the test.
func openStore(t testing.TB, addr, prefix string, opts Options) *Store {
	t.Helper()
	opts.Prefix = prefix
	opts.OwnClient = true
	s := New(redis.NewClient(&redis.Options{Addr: addr}), opts)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// prefixKeys lists the keys under prefix.
func prefixKeys(t testing.TB, c *redis.Client, prefix string) []string {
	t.Helper()
	var out []string
	iter := c.Scan(t.Context(), 0, prefix+"*", 1000).Iterator()
	for iter.Next(t.Context()) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// race runs fn n times at once and returns each call's error.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// wallClock is now in whole milliseconds, the precision the store keeps.
func wallClock() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
