// Package storetest is the conformance suite every store.Store passes, so
// that the gateway behaves alike on every backend:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{Open: openTestStore, Reopen: reopenTestStore})
//	}
//
// The suite reads only the wall clock, since a shared backend such as Redis
// keeps its own time: expiry is tested with deadlines already past, never by
// waiting. Times are whole milliseconds, the finest any store needs to keep,
// but for one case that holds a store's rounding to widening revocations.
// Subtests run one after another, each on a fresh store.
package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// Harness gives the suite stores to test.
type Harness struct {
	// Open returns a fresh, empty store and registers its own cleanup with
	// t. The cleanup must tolerate a store the test already closed.
	Open func(t *testing.T) store.Store
	// Reopen closes old and opens the same backend again, as a restart
	// would. Nil: persistence is not tested.
	Reopen func(t *testing.T, old store.Store) store.Store
}

// Run runs the whole suite against h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("storetest: Harness.Open is nil")
	}
	groups := []struct {
		name string
		test func(*testing.T, Harness)
	}{
		{"Factors", testFactors},
		{"UseStep", testUseStep},
		{"RecoveryCodes", testRecoveryCodes},
		{"Attempts", testAttempts},
		{"Sessions", testSessions},
		{"Revocations", testRevocations},
		{"UseOnce", testUseOnce},
		{"StartSession", testStartSession},
		{"CountAndStart", testCountAndStart},
		{"FirstSeen", testFirstSeen},
		{"Devices", testDevices},
		{"TouchDevice", testTouchDevice},
		{"ParkedRequests", testParked},
		{"Keys", testKeys},
		{"Closed", testClosed},
		{"Concurrency", testConcurrency},
	}
	if h.Reopen != nil {
		groups = append(groups, struct {
			name string
			test func(*testing.T, Harness)
		}{"Persistence", testPersistence})
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.test(t, h) })
	}
}

// wallClock is the current time in whole milliseconds.
func wallClock() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func mustOK(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if target == nil {
		mustOK(t, err, what)
		return
	}
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want one wrapping %v", what, err, target)
	}
}

// race runs fn n times at once, released together to maximise contention,
// and returns each call's error.
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

// tally counts nil errors and errors wrapping want, failing on any other.
func tally(t *testing.T, errs []error, want error) (ok, refused int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, want):
			refused++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok, refused
}

func hashes(names ...string) [][]byte {
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = []byte("hash:" + n)
	}
	return out
}
