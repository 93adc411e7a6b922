package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

func session(id, user string, created, expires time.Time) store.Session {
	return store.Session{
		ID:        id,
		User:      user,
		CreatedAt: created,
		ExpiresAt: expires,
		AMR:       []string{"pwd", "otp", "mfa"},
		ClientIP:  "192.0.2.7",
		UserAgent: "agent/" + id,
	}
}

func sessionIDs(ss []store.Session) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

func listSessions(t *testing.T, s store.Store, user string, at time.Time) []string {
	t.Helper()
	ss, err := s.Sessions(t.Context(), user, at)
	mustOK(t, err, "Sessions")
	return sessionIDs(ss)
}

func saveSessions(t *testing.T, s store.Store, ss ...store.Session) {
	t.Helper()
	for _, sess := range ss {
		mustOK(t, s.SaveSession(t.Context(), sess), "SaveSession")
	}
}

func wantSessions(t *testing.T, s store.Store, user string, at time.Time, want ...string) {
	t.Helper()
	if got := listSessions(t, s, user, at); !slices.Equal(got, want) {
		t.Fatalf("Sessions(%s) = %v, want %v", user, got, want)
	}
}

func testSessions(t *testing.T, h Harness) {
	t0 := wallClock()
	a1 := session("a1", "alice", t0.Add(-2*time.Hour), t0.Add(time.Hour))
	a2 := session("a2", "alice", t0.Add(-time.Hour), t0.Add(2*time.Hour))
	a3 := session("a3", "alice", t0, t0.Add(3*time.Hour))
	b1 := session("b1", "bob", t0.Add(-time.Hour), t0.Add(time.Hour))

	t.Run("ListsTheUsersUnexpired", func(t *testing.T) {
		s := h.Open(t)
		expired := session("a0", "alice", t0.Add(-3*time.Hour), t0.Add(-time.Millisecond))
		saveSessions(t, s, a2, b1, expired, a1)
		ss, err := s.Sessions(t.Context(), "alice", t0)
		mustOK(t, err, "Sessions")
		if !slices.Equal(sessionIDs(ss), []string{"a1", "a2"}) {
			t.Fatalf("Sessions = %v, want [a1 a2]", sessionIDs(ss))
		}
		got := ss[0]
		if got.User != a1.User || !got.CreatedAt.Equal(a1.CreatedAt) || !got.ExpiresAt.Equal(a1.ExpiresAt) ||
			!slices.Equal(got.AMR, a1.AMR) || got.ClientIP != a1.ClientIP || got.UserAgent != a1.UserAgent {
			t.Errorf("session = %+v, want %+v", got, a1)
		}
		wantSessions(t, s, "alice", a1.ExpiresAt, "a2")
		wantSessions(t, s, "bob", t0, "b1")
		wantSessions(t, s, "carol", t0)
	})

	t.Run("SameCreatedAtOrderedByID", func(t *testing.T) {
		s := h.Open(t)
		saveSessions(t, s, session("y", "alice", t0, t0.Add(time.Hour)), session("x", "alice", t0, t0.Add(time.Hour)))
		wantSessions(t, s, "alice", t0, "x", "y")
	})

	t.Run("ReplaceByID", func(t *testing.T) {
		s := h.Open(t)
		saveSessions(t, s, a1)
		renewed := a1
		renewed.AMR = []string{"pwd", "hwk"}
		saveSessions(t, s, renewed)
		ss, err := s.Sessions(t.Context(), "alice", t0)
		mustOK(t, err, "Sessions")
		if len(ss) != 1 || !slices.Equal(ss[0].AMR, renewed.AMR) {
			t.Fatalf("Sessions = %+v, want the replaced a1 only", ss)
		}
		moved := a1
		moved.User = "bob"
		saveSessions(t, s, moved)
		wantSessions(t, s, "alice", t0)
		wantSessions(t, s, "bob", t0, "a1")
	})

	t.Run("RevokeSession", func(t *testing.T) {
		s := h.Open(t)
		saveSessions(t, s, a1, a2, b1)
		r := store.Revocation{SessionID: "a1", User: "alice", ExpiresAt: a1.ExpiresAt}
		mustOK(t, s.Revoke(t.Context(), r), "Revoke")
		wantSessions(t, s, "alice", t0, "a2")
		mustOK(t, s.Revoke(t.Context(), r), "Revoke twice")
		wantSessions(t, s, "alice", t0, "a2")
		wantSessions(t, s, "bob", t0, "b1")
	})

	t.Run("RevokeUser", func(t *testing.T) {
		s := h.Open(t)
		saveSessions(t, s, a1, a2, a3, b1)
		// a2 was issued exactly at NotBefore: not before it, so it lives.
		mustOK(t, s.Revoke(t.Context(), store.Revocation{User: "alice", NotBefore: a2.CreatedAt, ExpiresAt: t0.Add(3 * time.Hour)}), "Revoke")
		wantSessions(t, s, "alice", t0, "a2", "a3")
		wantSessions(t, s, "bob", t0, "b1")
	})

	t.Run("RevokeUserWithinAMillisecond", func(t *testing.T) {
		// The gateway passes times finer than a store keeps: a store that
		// keeps milliseconds must round a revocation toward covering more,
		// never miss a session started 0.2 ms before it.
		s := h.Open(t)
		c1 := session("c1", "carol", t0.Add(300*time.Microsecond), t0.Add(time.Hour))
		saveSessions(t, s, c1)
		mustOK(t, s.Revoke(t.Context(), store.Revocation{User: "carol", NotBefore: t0.Add(500 * time.Microsecond), ExpiresAt: t0.Add(time.Hour)}), "Revoke")
		wantSessions(t, s, "carol", t0)
	})

	t.Run("SavedAfterItsRevocation", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.Revoke(t.Context(), store.Revocation{User: "alice", NotBefore: t0, ExpiresAt: t0.Add(time.Hour)}), "Revoke user")
		mustOK(t, s.Revoke(t.Context(), store.Revocation{SessionID: "a3", ExpiresAt: t0.Add(time.Hour)}), "Revoke session")
		late := session("a4", "alice", t0.Add(time.Second), t0.Add(time.Hour))
		saveSessions(t, s, a1, a3, late)
		wantSessions(t, s, "alice", t0, "a4")
	})
}

// covered reports whether some revocation in revs kills the session.
func covered(revs []store.Revocation, sid, user string, issuedAt time.Time) bool {
	return slices.ContainsFunc(revs, func(r store.Revocation) bool { return r.Covers(sid, user, issuedAt) })
}

func listRevocations(t *testing.T, s store.Store, at time.Time) []store.Revocation {
	t.Helper()
	revs, err := s.Revocations(t.Context(), at)
	mustOK(t, err, "Revocations")
	return revs
}

func testRevocations(t *testing.T, h Harness) {
	t0 := wallClock()

	t.Run("InForceOnly", func(t *testing.T) {
		s := h.Open(t)
		for _, r := range []store.Revocation{
			{SessionID: "s1", User: "alice", ExpiresAt: t0.Add(time.Hour)},
			{User: "bob", NotBefore: t0, ExpiresAt: t0.Add(2 * time.Hour)},
			{SessionID: "s-old", ExpiresAt: t0.Add(-time.Millisecond)},
		} {
			mustOK(t, s.Revoke(t.Context(), r), "Revoke")
		}
		cases := []struct {
			name      string
			at        time.Time
			sid, user string
			issued    time.Time
			want      bool
		}{
			{"session", t0, "s1", "alice", t0, true},
			{"user, issued before NotBefore", t0, "any", "bob", t0.Add(-time.Millisecond), true},
			{"user, issued at NotBefore", t0, "any", "bob", t0, false},
			{"already expired when revoked", t0, "s-old", "alice", t0, false},
			{"session revocation at its expiry", t0.Add(time.Hour), "s1", "alice", t0, false},
			{"user revocation still in force", t0.Add(time.Hour), "any", "bob", t0.Add(-time.Hour), true},
			{"other user", t0, "any", "carol", t0.Add(-time.Hour), false},
		}
		for _, c := range cases {
			if got := covered(listRevocations(t, s, c.at), c.sid, c.user, c.issued); got != c.want {
				t.Errorf("%s: covered = %v, want %v", c.name, got, c.want)
			}
		}
		for _, r := range listRevocations(t, s, t0) {
			if r.SessionID == "s1" && (r.User != "alice" || !r.ExpiresAt.Equal(t0.Add(time.Hour))) {
				t.Errorf("revocation = %+v, want user alice and its expiry", r)
			}
		}
	})

	t.Run("RepeatedNeverNarrows", func(t *testing.T) {
		s := h.Open(t)
		revs := []store.Revocation{
			{User: "alice", NotBefore: t0, ExpiresAt: t0.Add(2 * time.Hour)},
			{User: "alice", NotBefore: t0.Add(-time.Hour), ExpiresAt: t0.Add(time.Hour)},
			{SessionID: "s1", ExpiresAt: t0.Add(2 * time.Hour)},
			{SessionID: "s1", ExpiresAt: t0.Add(time.Hour)},
		}
		for _, r := range revs {
			mustOK(t, s.Revoke(t.Context(), r), "Revoke")
		}
		at := t0.Add(time.Hour) // past the later, narrower revocations
		got := listRevocations(t, s, at)
		if !covered(got, "any", "alice", t0.Add(-time.Millisecond)) {
			t.Errorf("a session issued before the first NotBefore is no longer revoked")
		}
		if !covered(got, "s1", "", t0) {
			t.Errorf("session s1 is no longer revoked")
		}
	})

	t.Run("SessionAndUserApart", func(t *testing.T) {
		s := h.Open(t)
		saveSessions(t, s, session("alice", "bob", t0.Add(-time.Hour), t0.Add(time.Hour)), session("s1", "alice", t0.Add(-time.Hour), t0.Add(time.Hour)))
		mustOK(t, s.Revoke(t.Context(), store.Revocation{SessionID: "alice", ExpiresAt: t0.Add(time.Hour)}), "Revoke")
		wantSessions(t, s, "alice", t0, "s1")
		wantSessions(t, s, "bob", t0)
	})

	t.Run("Invalid", func(t *testing.T) {
		s := h.Open(t)
		for name, r := range map[string]store.Revocation{
			"names nothing": {ExpiresAt: t0.Add(time.Hour)},
			"no expiry":     {SessionID: "s1"},
		} {
			wantIs(t, s.Revoke(t.Context(), r), store.ErrInvalid, name)
		}
	})
}
