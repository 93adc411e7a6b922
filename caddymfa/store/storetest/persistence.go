package storetest

import (
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

func testPersistence(t *testing.T, h Harness) {
	t0 := wallClock()
	s := h.Open(t)
	ctx := t.Context()

	pending := factor("p", t0.Add(time.Second))
	pending.Pending, pending.PendingUntil = true, t0.Add(time.Hour)
	mustOK(t, s.SaveFactor(ctx, "alice", factor("a", t0)), "SaveFactor")
	mustOK(t, s.SaveFactor(ctx, "alice", pending), "SaveFactor")
	mustOK(t, s.UseStep(ctx, "alice", "a", 500), "UseStep")
	mustOK(t, s.ReplaceRecoveryCodes(ctx, "alice", hashes("r1", "r2", "r3")), "ReplaceRecoveryCodes")
	_, err := s.ConsumeRecoveryCode(ctx, "alice", hashes("r1"))
	mustOK(t, err, "ConsumeRecoveryCode")
	for range 5 {
		count(t, s, "k", t0, defaultPolicy)
	}
	saveSessions(t, s, session("s1", "alice", t0, t0.Add(time.Hour)), session("s2", "alice", t0, t0.Add(time.Hour)))
	mustOK(t, s.Revoke(ctx, store.Revocation{SessionID: "s2", ExpiresAt: t0.Add(time.Hour)}), "Revoke session")
	mustOK(t, s.Revoke(ctx, store.Revocation{User: "bob", NotBefore: t0, ExpiresAt: t0.Add(time.Hour)}), "Revoke user")
	mustOK(t, s.UseOnce(ctx, "once", t0.Add(time.Hour)), "UseOnce")
	_, err = s.FirstSeen(ctx, "alice", t0)
	mustOK(t, err, "FirstSeen")
	used := device("alice", "d1", t0, t0.Add(time.Hour))
	used.LastUsedAt = t0.Add(time.Second)
	saveDevices(t, s, used, device("alice", "d2", t0, t0.Add(time.Hour)), device("bob", "d1", t0, t0.Add(time.Hour)))
	mustOK(t, s.DeleteDevice(ctx, "alice", "d2"), "DeleteDevice")
	parked := body(64<<10, 5)
	mustOK(t, s.ParkRequest(ctx, "kept", parked, t0.Add(time.Hour)), "ParkRequest")
	mustOK(t, s.ParkRequest(ctx, "taken", parked, t0.Add(time.Hour)), "ParkRequest")
	take(t, s, "taken", t0, parked, nil)

	s = h.Reopen(t, s)

	fs := listFactors(t, s, "alice")
	if len(fs) != 2 || fs[0].ID != "a" || fs[0].LastStep != 500 || !fs[1].Pending {
		t.Errorf("factors after reopen = %+v", fs)
	}
	wantIs(t, s.UseStep(ctx, "alice", "a", 500), store.ErrReplay, "UseStep replay after reopen")
	if n := codesLeft(t, s, "alice"); n != 2 {
		t.Errorf("recovery codes after reopen = %d, want 2", n)
	}
	_, err = s.ConsumeRecoveryCode(ctx, "alice", hashes("r1"))
	wantIs(t, err, store.ErrNotFound, "consumed code after reopen")
	if a := readAttempts(t, s, "k", t0); a.Failures != 5 || !a.LockedUntil.Equal(t0.Add(m5)) || !a.LastAt.Equal(t0) {
		t.Errorf("attempts after reopen = %+v", a)
	}
	if a := count(t, s, "k", t0.Add(time.Minute), defaultPolicy); a.Allowed {
		t.Errorf("lock lost on reopen: %+v", a)
	}
	wantSessions(t, s, "alice", t0, "s1")
	revs := listRevocations(t, s, t0)
	if !covered(revs, "s2", "alice", t0) || !covered(revs, "any", "bob", t0.Add(-time.Second)) {
		t.Errorf("revocations after reopen = %+v", revs)
	}
	wantIs(t, s.UseOnce(ctx, "once", t0.Add(time.Hour)), store.ErrReplay, "UseOnce after reopen")
	if got, err := s.FirstSeen(ctx, "alice", t0.Add(time.Hour)); err != nil || !got.Equal(t0) {
		t.Errorf("FirstSeen after reopen = %v, %v; want %v", got, err, t0)
	}
	if ds := listDevices(t, s, "alice", t0); len(ds) != 1 {
		t.Errorf("devices after reopen = %v, want [d1]", deviceIDs(ds))
	} else {
		checkDevice(t, ds[0], used)
	}
	wantToken(t, s, used.TokenHash, t0, "alice/d1")
	wantToken(t, s, tokenHash("bob/d1"), t0, "bob/d1")
	wantToken(t, s, tokenHash("alice/d2"), t0, "")
	take(t, s, "kept", t0, parked, nil)
	take(t, s, "taken", t0, nil, store.ErrNotFound)
}
