package storetest

import (
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

const (
	m5  = 5 * time.Minute
	m15 = 15 * time.Minute
	m60 = 60 * time.Minute
)

// defaultPolicy is the second-factor policy of the security checklist.
var defaultPolicy = store.LockPolicy{Threshold: 5, Locks: []time.Duration{m5, m15, m60}, HardCap: 100}

func count(t *testing.T, s store.Store, key string, at time.Time, p store.LockPolicy) store.Attempt {
	t.Helper()
	a, err := s.CountAttempt(t.Context(), key, at, p)
	mustOK(t, err, "CountAttempt")
	return a
}

func readAttempts(t *testing.T, s store.Store, key string, at time.Time) store.Attempt {
	t.Helper()
	a, err := s.Attempts(t.Context(), key, at)
	mustOK(t, err, "Attempts")
	return a
}

// lockedFor is LockedUntil as an offset from t0, 0 when never locked.
func lockedFor(a store.Attempt, t0 time.Time) time.Duration {
	if a.LockedUntil.IsZero() {
		return 0
	}
	return a.LockedUntil.Sub(t0)
}

func testAttempts(t *testing.T, h Harness) {
	t.Run("Escalation", func(t *testing.T) {
		s := h.Open(t)
		t0 := wallClock()
		script := []struct {
			name     string
			at       time.Duration // from t0
			n        int           // attempts counted at that time
			allowed  bool          // for each of them
			failures int           // after the last
			locked   time.Duration // LockedUntil after the last, from t0
		}{
			{"below the threshold", 0, 4, true, 4, 0},
			{"threshold locks 5m", 0, 1, true, 5, m5},
			{"refused while locked, still counted", time.Minute, 1, false, 6, m5},
			{"lock over at its end", m5, 3, true, 9, m5},
			{"second lock 15m", m5, 1, true, 10, m5 + m15},
			{"refused until the last instant", m5 + m15 - time.Millisecond, 1, false, 11, m5 + m15},
			{"third lock 60m", m5 + m15, 4, true, 15, m5 + m15 + m60},
			{"last lock repeats", m5 + m15 + m60, 5, true, 20, m5 + m15 + 2*m60},
		}
		for _, st := range script {
			at := t0.Add(st.at)
			var a store.Attempt
			for range st.n {
				a = count(t, s, "k", at, defaultPolicy)
				if a.Allowed != st.allowed || a.HardLocked {
					t.Fatalf("%s: attempt %d: Allowed=%v HardLocked=%v, want Allowed=%v", st.name, a.Failures, a.Allowed, a.HardLocked, st.allowed)
				}
			}
			if a.Failures != st.failures || lockedFor(a, t0) != st.locked {
				t.Fatalf("%s: Failures=%d locked for %v, want %d and %v", st.name, a.Failures, lockedFor(a, t0), st.failures, st.locked)
			}
			r := readAttempts(t, s, "k", at)
			if r.Failures != st.failures || lockedFor(r, t0) != st.locked || !r.LastAt.Equal(at) {
				t.Fatalf("%s: Attempts = %+v, want Failures %d, locked for %v, LastAt %v", st.name, r, st.failures, st.locked, at)
			}
		}
	})

	t.Run("LockNeverShortened", func(t *testing.T) {
		s := h.Open(t)
		t0 := wallClock()
		p := store.LockPolicy{Threshold: 5, Locks: []time.Duration{m60, m5}}
		for range 5 {
			count(t, s, "k", t0, p)
		}
		for range 5 {
			if a := count(t, s, "k", t0.Add(time.Minute), p); a.Allowed {
				t.Fatalf("attempt %d allowed during a lock", a.Failures)
			}
		}
		if a := readAttempts(t, s, "k", t0.Add(time.Minute)); !a.LockedUntil.Equal(t0.Add(m60)) || !a.Locked(t0.Add(m60-time.Millisecond)) {
			t.Fatalf("LockedUntil = %v, want the first lock's end %v", a.LockedUntil, t0.Add(m60))
		}
	})

	t.Run("HardCap", func(t *testing.T) {
		s := h.Open(t)
		t0 := wallClock()
		p := store.LockPolicy{HardCap: 3}
		for i, wantHard := range []bool{false, false, false, true, true} {
			if a := count(t, s, "k", t0, p); a.HardLocked != wantHard || a.Failures != i+1 {
				t.Fatalf("attempt %d: HardLocked=%v Failures=%d, want %v", i+1, a.HardLocked, a.Failures, wantHard)
			}
		}
		mustOK(t, s.ResetAttempts(t.Context(), "k"), "ResetAttempts")
		if a := count(t, s, "k", t0, p); a.HardLocked || a.Failures != 1 {
			t.Fatalf("after reset: %+v, want one failure and no hard lock", a)
		}
	})

	t.Run("Reset", func(t *testing.T) {
		s := h.Open(t)
		t0 := wallClock()
		for range 7 {
			count(t, s, "k", t0, defaultPolicy)
		}
		mustOK(t, s.ResetAttempts(t.Context(), "k"), "ResetAttempts")
		if a := readAttempts(t, s, "k", t0); a.Failures != 0 || !a.LockedUntil.IsZero() {
			t.Fatalf("after reset: %+v, want the zero state", a)
		}
		if a := count(t, s, "k", t0, defaultPolicy); !a.Allowed || a.Failures != 1 {
			t.Fatalf("first attempt after reset: %+v, want allowed, 1 failure", a)
		}
		mustOK(t, s.ResetAttempts(t.Context(), "never-counted"), "ResetAttempts of an unknown key")
	})

	t.Run("ReadDoesNotCount", func(t *testing.T) {
		s := h.Open(t)
		t0 := wallClock()
		if a := readAttempts(t, s, "k", t0); a != (store.Attempt{}) {
			t.Fatalf("unknown key: %+v, want the zero state", a)
		}
		for range 3 {
			count(t, s, "k", t0, defaultPolicy)
		}
		for range 3 {
			if a := readAttempts(t, s, "k", t0); a.Failures != 3 {
				t.Fatalf("Failures = %d, want 3", a.Failures)
			}
		}
	})

	t.Run("KeysApart", func(t *testing.T) {
		s := h.Open(t)
		t0 := wallClock()
		for range 5 {
			count(t, s, "user:alice", t0, defaultPolicy)
		}
		if a := count(t, s, "user:bob", t0, defaultPolicy); !a.Allowed || a.Failures != 1 {
			t.Fatalf("bob: %+v, want allowed, 1 failure", a)
		}
	})

	t.Run("NoThresholdNeverLocks", func(t *testing.T) {
		s := h.Open(t)
		t0 := wallClock()
		for range 30 {
			if a := count(t, s, "k", t0, store.LockPolicy{}); !a.Allowed || !a.LockedUntil.IsZero() {
				t.Fatalf("attempt %d: %+v, want allowed and never locked", a.Failures, a)
			}
		}
	})

	t.Run("Forget", func(t *testing.T) {
		t0 := wallClock()
		p := store.LockPolicy{Threshold: 5, Locks: []time.Duration{m5}, Forget: 10 * time.Minute}
		cases := []struct {
			name     string
			next     time.Duration // when the next attempt comes, from the last
			failures int           // after it
		}{
			{"just before Forget", 10*time.Minute - time.Millisecond, 4},
			{"at Forget", 10 * time.Minute, 1},
			{"long after", 48 * time.Hour, 1},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := h.Open(t)
				for range 3 {
					count(t, s, "k", t0, p)
				}
				if a := count(t, s, "k", t0.Add(c.next), p); a.Failures != c.failures {
					t.Fatalf("Failures = %d, want %d", a.Failures, c.failures)
				}
			})
		}
		t.Run("read at Forget", func(t *testing.T) {
			s := h.Open(t)
			count(t, s, "k", t0, p)
			if a := readAttempts(t, s, "k", t0.Add(10*time.Minute)); a.Failures != 0 {
				t.Fatalf("Attempts = %+v, want forgotten", a)
			}
		})
	})

	t.Run("ForgetWaitsForTheLock", func(t *testing.T) {
		s := h.Open(t)
		t0 := wallClock()
		p := store.LockPolicy{Threshold: 2, Locks: []time.Duration{30 * time.Minute}, Forget: time.Minute}
		count(t, s, "k", t0, p)
		count(t, s, "k", t0, p)
		if a := count(t, s, "k", t0.Add(10*time.Minute), p); a.Allowed || a.Failures != 3 {
			t.Fatalf("during the lock, past Forget: %+v, want refused, 3 failures", a)
		}
		if a := readAttempts(t, s, "k", t0.Add(31*time.Minute-time.Millisecond)); a.Failures != 3 {
			t.Fatalf("Forget after the lock not yet passed: %+v, want 3 failures", a)
		}
		if a := count(t, s, "k", t0.Add(31*time.Minute), p); !a.Allowed || a.Failures != 1 {
			t.Fatalf("Forget after the lock passed: %+v, want allowed, 1 failure", a)
		}
	})
}
