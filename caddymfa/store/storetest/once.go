package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

func testUseOnce(t *testing.T, h Harness) {
	t0 := wallClock()
	future, past := t0.Add(time.Hour), t0.Add(-time.Millisecond)

	t.Run("Sequence", func(t *testing.T) {
		s := h.Open(t)
		steps := []struct {
			name    string
			key     string
			expires time.Time
			want    error
		}{
			{"first use", "k1", future, nil},
			{"second use", "k1", future, store.ErrReplay},
			{"second use, other expiry", "k1", t0.Add(48 * time.Hour), store.ErrReplay},
			{"second use, expiry past", "k1", past, store.ErrReplay},
			{"other key", "k2", future, nil},
			{"expiry past leaves nothing", "k3", past, nil},
			{"again past", "k3", past, nil},
			{"then a real use", "k3", future, nil},
			{"then a replay", "k3", future, store.ErrReplay},
		}
		for _, st := range steps {
			wantIs(t, s.UseOnce(t.Context(), st.key, st.expires), st.want, st.name)
		}
	})

	t.Run("OnceUsed", func(t *testing.T) {
		s := h.Open(t)
		used := func(key string, want bool, what string) {
			t.Helper()
			got, err := s.OnceUsed(t.Context(), key)
			mustOK(t, err, "OnceUsed: "+what)
			if got != want {
				t.Errorf("OnceUsed(%q) after %s = %v, want %v", key, what, got, want)
			}
		}
		used("k1", false, "nothing")
		mustOK(t, s.UseOnce(t.Context(), "k1", future), "UseOnce")
		used("k1", true, "UseOnce")
		used("k2", false, "a use of another key")
		mustOK(t, s.UseOnce(t.Context(), "k3", past), "UseOnce, expiry past")
		used("k3", false, "a use whose expiry was past")
		// Asking spends nothing.
		mustOK(t, s.UseOnce(t.Context(), "k2", future), "UseOnce of a key asked about")
		_, err := s.OnceUsed(t.Context(), "")
		wantIs(t, err, store.ErrInvalid, "OnceUsed of an empty key")
	})

	t.Run("ZeroExpiryInvalid", func(t *testing.T) {
		wantIs(t, h.Open(t).UseOnce(t.Context(), "k", time.Time{}), store.ErrInvalid, "UseOnce without expiry")
	})
}

func testFirstSeen(t *testing.T, h Harness) {
	t0 := wallClock()
	s := h.Open(t)
	steps := []struct {
		user     string
		now      time.Time
		wantTime time.Time
	}{
		{"alice", t0, t0},
		{"alice", t0.Add(time.Hour), t0},
		{"alice", t0.Add(-time.Hour), t0}, // the first call wins, not the earliest time
		{"bob", t0.Add(time.Minute), t0.Add(time.Minute)},
		{"alice", t0.Add(2 * time.Hour), t0},
	}
	for i, st := range steps {
		got, err := s.FirstSeen(t.Context(), st.user, st.now)
		mustOK(t, err, "FirstSeen")
		if !got.Equal(st.wantTime) {
			t.Fatalf("step %d: FirstSeen(%s) = %v, want %v", i, st.user, got, st.wantTime)
		}
	}
}

func testStartSession(t *testing.T, h Harness) {
	t0 := wallClock()
	future := t0.Add(time.Hour)
	ctx := t.Context()
	sess := func(id string) store.Session {
		return store.Session{ID: id, User: "alice", CreatedAt: t0, ExpiresAt: future, AMR: []string{"pwd", "otp", "mfa"}}
	}
	ids := func(t *testing.T, s store.Store) []string {
		t.Helper()
		list, err := s.Sessions(ctx, "alice", t0)
		mustOK(t, err, "Sessions")
		var out []string
		for _, x := range list {
			out = append(out, x.ID)
		}
		return out
	}
	failures := func(t *testing.T, s store.Store, key string) int {
		t.Helper()
		a, err := s.Attempts(ctx, key, t0)
		mustOK(t, err, "Attempts")
		return a.Failures
	}

	// savedNothing checks that refused StartSessions left no session and
	// the one counted failure of mfa:alice.
	savedNothing := func(t *testing.T, s store.Store, what string) {
		t.Helper()
		if got := ids(t, s); len(got) != 0 {
			t.Fatalf("%s saved sessions %v", what, got)
		}
		if failures(t, s, "mfa:alice") != 1 {
			t.Fatalf("%s cleared a counter", what)
		}
	}

	// oneSessionStarted checks that of racing StartSessions exactly one
	// succeeded, the rest were refused with refusal, and one session was
	// saved.
	oneSessionStarted := func(t *testing.T, s store.Store, errs []error, refusal error, what string) {
		t.Helper()
		if ok, _ := tally(t, errs, refusal); ok != 1 {
			t.Fatalf("%d racing StartSessions with %s succeeded, want 1", ok, what)
		}
		if got := ids(t, s); len(got) != 1 {
			t.Fatalf("racing StartSessions with %s saved %v, want one session", what, got)
		}
	}

	t.Run("AllThree", func(t *testing.T) {
		s := h.Open(t)
		for range 3 {
			_, err := s.CountAttempt(ctx, "mfa:alice", t0, defaultPolicy)
			mustOK(t, err, "CountAttempt")
		}
		_, err := s.CountAttempt(ctx, "mfa30:alice", t0, defaultPolicy)
		mustOK(t, err, "CountAttempt")
		_, err = s.CountAttempt(ctx, "pwd:alice", t0, defaultPolicy)
		mustOK(t, err, "CountAttempt")
		err = s.StartSession(ctx, store.SessionStart{
			Session: sess("s1"), OnceKey: "mfa_token:t1", OnceExpiresAt: future,
			ResetAttempts: []string{"mfa:alice", "mfa30:alice"},
		})
		mustOK(t, err, "StartSession")
		if got := ids(t, s); len(got) != 1 || got[0] != "s1" {
			t.Fatalf("sessions after StartSession = %v, want [s1]", got)
		}
		if failures(t, s, "mfa:alice") != 0 || failures(t, s, "mfa30:alice") != 0 {
			t.Fatal("StartSession left the named counters")
		}
		if failures(t, s, "pwd:alice") != 1 {
			t.Fatal("StartSession cleared a counter it was not given")
		}
		wantIs(t, s.UseOnce(ctx, "mfa_token:t1", future), store.ErrReplay, "UseOnce of the key StartSession spent")
	})

	t.Run("ReplayWritesNothing", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.UseOnce(ctx, "mfa_token:t2", future), "UseOnce")
		_, err := s.CountAttempt(ctx, "mfa:alice", t0, defaultPolicy)
		mustOK(t, err, "CountAttempt")
		err = s.StartSession(ctx, store.SessionStart{
			Session: sess("s2"), OnceKey: "mfa_token:t2", OnceExpiresAt: future,
			ResetAttempts: []string{"mfa:alice"},
		})
		wantIs(t, err, store.ErrReplay, "StartSession with a spent key")
		savedNothing(t, s, "a replayed StartSession")
	})

	t.Run("NoOnceKey", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.StartSession(ctx, store.SessionStart{Session: sess("s3")}), "StartSession without a key")
		mustOK(t, s.StartSession(ctx, store.SessionStart{Session: sess("s4")}), "StartSession without a key, again")
		if got := ids(t, s); len(got) != 2 {
			t.Fatalf("sessions = %v, want s3 and s4", got)
		}
	})

	t.Run("RacersOneWins", func(t *testing.T) {
		s := h.Open(t)
		errs := race(20, func(i int) error {
			return s.StartSession(ctx, store.SessionStart{
				Session: sess(fmt.Sprintf("r%02d", i)), OnceKey: "mfa_token:race", OnceExpiresAt: future,
			})
		})
		oneSessionStarted(t, s, errs, store.ErrReplay, "one key")
	})

	t.Run("StepSpentWithSession", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.SaveFactor(ctx, "alice", factor("f1", t0)), "SaveFactor")
		err := s.StartSession(ctx, store.SessionStart{
			Session: sess("s6"), OnceKey: "mfa_token:t6", OnceExpiresAt: future,
			Step: store.StepUse{FactorID: "f1", Step: 100},
		})
		mustOK(t, err, "StartSession with a step")
		if got := ids(t, s); len(got) != 1 || got[0] != "s6" {
			t.Fatalf("sessions = %v, want [s6]", got)
		}
		wantIs(t, s.UseStep(ctx, "alice", "f1", 100), store.ErrStepUsed, "UseStep of the step StartSession spent")
		mustOK(t, s.UseStep(ctx, "alice", "f1", 101), "UseStep of the next step")
	})

	t.Run("StepReplaySavesNothing", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.SaveFactor(ctx, "alice", factor("f1", t0)), "SaveFactor")
		mustOK(t, s.UseStep(ctx, "alice", "f1", 100), "UseStep")
		_, err := s.CountAttempt(ctx, "mfa:alice", t0, defaultPolicy)
		mustOK(t, err, "CountAttempt")
		for _, step := range []int64{99, 100} {
			err = s.StartSession(ctx, store.SessionStart{
				Session: sess("s7"), OnceKey: fmt.Sprintf("mfa_token:t7-%d", step), OnceExpiresAt: future,
				Step: store.StepUse{FactorID: "f1", Step: step}, ResetAttempts: []string{"mfa:alice"},
			})
			wantIs(t, err, store.ErrStepUsed, fmt.Sprintf("StartSession with step %d after step 100", step))
		}
		mustOK(t, s.UseOnce(ctx, "mfa_token:spent", future), "UseOnce")
		err = s.StartSession(ctx, store.SessionStart{
			Session: sess("s7"), OnceKey: "mfa_token:spent", OnceExpiresAt: future,
			Step: store.StepUse{FactorID: "f1", Step: 150}, ResetAttempts: []string{"mfa:alice"},
		})
		wantIs(t, err, store.ErrReplay, "StartSession with a spent key and a new step")
		if errors.Is(err, store.ErrStepUsed) {
			t.Fatalf("StartSession with a spent key and a new step blamed the step: %v", err)
		}
		wantIs(t, s.StartSession(ctx, store.SessionStart{
			Session: sess("s7"), Step: store.StepUse{FactorID: "gone", Step: 200},
		}), store.ErrNotFound, "StartSession with the step of a missing factor")
		savedNothing(t, s, "a refused StartSession")
	})

	t.Run("RacersOnOneStepOneWins", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.SaveFactor(ctx, "alice", factor("f1", t0)), "SaveFactor")
		errs := race(20, func(i int) error {
			return s.StartSession(ctx, store.SessionStart{
				Session: sess(fmt.Sprintf("q%02d", i)), OnceKey: fmt.Sprintf("mfa_token:q%02d", i), OnceExpiresAt: future,
				Step: store.StepUse{FactorID: "f1", Step: 7},
			})
		})
		oneSessionStarted(t, s, errs, store.ErrStepUsed, "one step")
	})

	t.Run("BadArgumentsSpendNothing", func(t *testing.T) {
		s := h.Open(t)
		bad := sess("s5")
		bad.ExpiresAt = time.Time{}
		err := s.StartSession(ctx, store.SessionStart{Session: bad, OnceKey: "mfa_token:t5", OnceExpiresAt: future})
		wantIs(t, err, store.ErrInvalid, "StartSession of a session without expiry")
		mustOK(t, s.UseOnce(ctx, "mfa_token:t5", future), "UseOnce of the key a refused StartSession named")

		mustOK(t, s.SaveFactor(ctx, "alice", factor("f1", t0)), "SaveFactor")
		err = s.StartSession(ctx, store.SessionStart{
			Session: sess("s8"), OnceKey: "mfa_token:t8", OnceExpiresAt: future,
			Step: store.StepUse{FactorID: "f1", Step: 5}, ResetAttempts: []string{""},
		})
		wantIs(t, err, store.ErrInvalid, "StartSession with an empty counter key")
		mustOK(t, s.UseStep(ctx, "alice", "f1", 5), "UseStep of the step a refused StartSession named")
		mustOK(t, s.UseOnce(ctx, "mfa_token:t8", future), "UseOnce of the key a refused StartSession named")
	})
}
