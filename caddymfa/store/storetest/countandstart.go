package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// testCountAndStart holds store.CountAndStart (a store's own, in one
// write, or CountAttempt then StartSession) to its contract: the count
// always stays, the start only when check asks for it and it is not
// refused.
func testCountAndStart(t *testing.T, h Harness) {
	t0 := wallClock()
	future := t0.Add(time.Hour)
	ctx := t.Context()
	open := func(t *testing.T) (store.Store, countingStarter) {
		t.Helper()
		s := h.Open(t)
		mustOK(t, s.SaveFactor(ctx, "alice", factor("f1", t0)), "SaveFactor")
		return s, countingStarter{s}
	}
	start := func(id string, step int64) *store.SessionStart {
		return &store.SessionStart{
			Session: store.Session{ID: id, User: "alice", CreatedAt: t0, ExpiresAt: future, AMR: []string{"pwd", "otp", "mfa"}},
			OnceKey: "mfa_token:" + id, OnceExpiresAt: future,
			Step:          store.StepUse{FactorID: "f1", Step: step},
			ResetAttempts: []string{"mfa:alice"},
		}
	}
	failures := func(t *testing.T, s store.Store) int {
		t.Helper()
		a, err := s.Attempts(ctx, "mfa:alice", t0)
		mustOK(t, err, "Attempts")
		return a.Failures
	}
	sessions := func(t *testing.T, s store.Store) int {
		t.Helper()
		list, err := s.Sessions(ctx, "alice", t0)
		mustOK(t, err, "Sessions")
		return len(list)
	}
	// unspent checks that a start refused or never asked for spent
	// neither its key nor its step.
	unspent := func(t *testing.T, s store.Store, st *store.SessionStart, what string) {
		t.Helper()
		if n := sessions(t, s); n != 0 {
			t.Fatalf("%s saved %d sessions", what, n)
		}
		mustOK(t, s.UseOnce(ctx, st.OnceKey, future), what+": UseOnce of its key")
		mustOK(t, s.UseStep(ctx, "alice", "f1", st.Step.Step), what+": UseStep of its step")
	}

	t.Run("RefusedCheckStillCounts", func(t *testing.T) {
		s, cs := open(t)
		errWrong := errors.New("wrong code")
		st := start("s1", 100)
		a, err := cs.CountAndStart(ctx, "mfa:alice", t0, defaultPolicy, func(a store.Attempt) (*store.SessionStart, error) {
			if a.Failures != 1 || !a.Allowed {
				t.Errorf("check saw %+v, want the first counted attempt, allowed", a)
			}
			return st, errWrong
		})
		if err != errWrong {
			t.Fatalf("CountAndStart = %v, want check's error as it is", err)
		}
		if a.Failures != 1 {
			t.Fatalf("counted state = %+v, want 1 failure", a)
		}
		if n := failures(t, s); n != 1 {
			t.Fatalf("stored failures = %d, want 1", n)
		}
		unspent(t, s, st, "a refused check")
	})

	t.Run("NoStartOnlyCounts", func(t *testing.T) {
		s, cs := open(t)
		_, err := cs.CountAndStart(ctx, "mfa:alice", t0, defaultPolicy, func(store.Attempt) (*store.SessionStart, error) {
			return nil, nil
		})
		mustOK(t, err, "CountAndStart without a start")
		if n := failures(t, s); n != 1 {
			t.Fatalf("stored failures = %d, want 1", n)
		}
		unspent(t, s, start("s2", 100), "no start")
	})

	t.Run("CheckSeesTheLock", func(t *testing.T) {
		_, cs := open(t)
		var seen []bool
		for range defaultPolicy.Threshold + 1 {
			_, err := cs.CountAndStart(ctx, "mfa:alice", t0, defaultPolicy, func(a store.Attempt) (*store.SessionStart, error) {
				seen = append(seen, a.Allowed)
				return nil, nil
			})
			mustOK(t, err, "CountAndStart")
		}
		want := fmt.Sprint([]bool{true, true, true, true, true, false})
		if got := fmt.Sprint(seen); got != want {
			t.Fatalf("check saw Allowed %s over six attempts, want %s", got, want)
		}
	})

	t.Run("StartWrittenWithTheCount", func(t *testing.T) {
		s, cs := open(t)
		count(t, s, "mfa:alice", t0, defaultPolicy)
		st := start("s3", 100)
		a, err := cs.CountAndStart(ctx, "mfa:alice", t0, defaultPolicy, func(store.Attempt) (*store.SessionStart, error) {
			return st, nil
		})
		mustOK(t, err, "CountAndStart")
		if a.Failures != 2 {
			t.Fatalf("counted state = %+v, want 2 failures", a)
		}
		if n := failures(t, s); n != 0 {
			t.Fatalf("stored failures = %d after a start that clears them", n)
		}
		if n := sessions(t, s); n != 1 {
			t.Fatalf("%d sessions saved, want 1", n)
		}
		wantIs(t, s.UseOnce(ctx, st.OnceKey, future), store.ErrReplay, "UseOnce of the key spent")
		wantIs(t, s.UseStep(ctx, "alice", "f1", 100), store.ErrStepUsed, "UseStep of the step spent")
	})

	t.Run("RefusedStartStillCounts", func(t *testing.T) {
		// prepare makes the store or the start refusable, and says which
		// of the start's key and step it spent itself.
		cases := []struct {
			name    string
			prepare func(t *testing.T, s store.Store, st *store.SessionStart) (keySpent, stepSpent bool)
			want    error
		}{
			{"spent key", func(t *testing.T, s store.Store, st *store.SessionStart) (bool, bool) {
				mustOK(t, s.UseOnce(ctx, st.OnceKey, future), "UseOnce")
				return true, false
			}, store.ErrReplay},
			{"spent step", func(t *testing.T, s store.Store, st *store.SessionStart) (bool, bool) {
				mustOK(t, s.UseStep(ctx, "alice", "f1", st.Step.Step), "UseStep")
				return false, true
			}, store.ErrStepUsed},
			{"missing factor", func(t *testing.T, s store.Store, st *store.SessionStart) (bool, bool) {
				st.Step.FactorID = "gone"
				return false, true
			}, store.ErrNotFound},
			{"session without expiry", func(t *testing.T, s store.Store, st *store.SessionStart) (bool, bool) {
				st.Session.ExpiresAt = time.Time{}
				return false, false
			}, store.ErrInvalid},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s, cs := open(t)
				st := start("s4", 100)
				keySpent, stepSpent := c.prepare(t, s, st)
				_, err := cs.CountAndStart(ctx, "mfa:alice", t0, defaultPolicy, func(store.Attempt) (*store.SessionStart, error) {
					return st, nil
				})
				wantIs(t, err, c.want, "CountAndStart of a refused start")
				if n := failures(t, s); n != 1 {
					t.Fatalf("stored failures = %d, want the attempt counted", n)
				}
				if n := sessions(t, s); n != 0 {
					t.Fatalf("a refused start saved %d sessions", n)
				}
				// Only a start in one write is sure to leave the rest
				// unspent (see StartSession).
				if _, ok := s.(store.CountingStarter); !ok {
					return
				}
				if !keySpent {
					mustOK(t, s.UseOnce(ctx, st.OnceKey, future), "UseOnce of the key of a refused start")
				}
				if !stepSpent {
					mustOK(t, s.UseStep(ctx, "alice", "f1", st.Step.Step), "UseStep of the step of a refused start")
				}
			})
		}
	})

	t.Run("RacersEvaluateAtMostThreshold", func(t *testing.T) {
		s, cs := open(t)
		// The last answer of each caller's check counts: a store may run
		// it more than once.
		allowed := make([]atomic.Bool, 100)
		errWrong := errors.New("wrong code")
		errs := race(len(allowed), func(i int) error {
			_, err := cs.CountAndStart(ctx, "mfa:alice", t0, defaultPolicy, func(a store.Attempt) (*store.SessionStart, error) {
				allowed[i].Store(a.Allowed && !a.HardLocked)
				return nil, errWrong
			})
			return err
		})
		evaluated := 0
		for i, err := range errs {
			if err != errWrong {
				t.Fatalf("racer %d: CountAndStart = %v, want check's error", i, err)
			}
			if allowed[i].Load() {
				evaluated++
			}
		}
		if evaluated > defaultPolicy.Threshold {
			t.Fatalf("%d of 100 racing attempts were allowed, want at most %d", evaluated, defaultPolicy.Threshold)
		}
		if n := failures(t, s); n != 100 {
			t.Fatalf("stored failures = %d after 100 racing attempts, want 100", n)
		}
	})

	t.Run("RacersOnOneStepOneWins", func(t *testing.T) {
		s, cs := open(t)
		errs := race(20, func(i int) error {
			_, err := cs.CountAndStart(ctx, "mfa:alice", t0, defaultPolicy, func(store.Attempt) (*store.SessionStart, error) {
				return start(fmt.Sprintf("q%02d", i), 7), nil
			})
			return err
		})
		if ok, _ := tally(t, errs, store.ErrStepUsed); ok != 1 {
			t.Fatalf("%d racing starts with one step succeeded, want 1", ok)
		}
		if n := sessions(t, s); n != 1 {
			t.Fatalf("racing starts with one step saved %d sessions, want 1", n)
		}
	})
}

// countingStarter calls store.CountAndStart on its store.
type countingStarter struct{ s store.Store }

func (c countingStarter) CountAndStart(ctx context.Context, key string, now time.Time, policy store.LockPolicy,
	check func(store.Attempt) (*store.SessionStart, error)) (store.Attempt, error) {
	return store.CountAndStart(ctx, c.s, key, now, policy, check)
}
