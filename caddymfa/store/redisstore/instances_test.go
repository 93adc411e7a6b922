package redisstore

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// Two stores on separate clients stand for two gateway instances: what
// must happen once happens once however the calls are split between them.
func TestAtomicAcrossInstances(t *testing.T) {
	addr := testenv.Redis(t)
	t0 := wallClock()
	const n = 50
	cases := []struct {
		name  string
		setup func(t *testing.T, s *Store)
		call  func(t *testing.T, s *Store) error
		lost  error // what the losers get
	}{
		{"recovery code", func(t *testing.T, s *Store) {
			must(t, s.ReplaceRecoveryCodes(t.Context(), "alice", [][]byte{[]byte("a"), []byte("b"), []byte("c")}))
		}, func(t *testing.T, s *Store) error {
			_, err := s.ConsumeRecoveryCode(t.Context(), "alice", [][]byte{[]byte("other-key"), []byte("b")})
			return err
		}, store.ErrNotFound},
		{"TOTP step", func(t *testing.T, s *Store) {
			must(t, s.SaveFactor(t.Context(), "alice", store.FactorRecord{ID: "f", Type: "totp", CreatedAt: t0}))
		}, func(t *testing.T, s *Store) error {
			return s.UseStep(t.Context(), "alice", "f", 58_000_000)
		}, store.ErrReplay},
		{"mfa_token", func(*testing.T, *Store) {}, func(t *testing.T, s *Store) error {
			return s.UseOnce(t.Context(), "mfa_token:x", t0.Add(time.Minute))
		}, store.ErrReplay},
		{"parked request", func(t *testing.T, s *Store) {
			must(t, s.ParkRequest(t.Context(), "req", []byte("POST /form"), t0.Add(time.Minute)))
		}, func(t *testing.T, s *Store) error {
			_, err := s.TakeParkedRequest(t.Context(), "req", t0)
			return err
		}, store.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := uniquePrefix()
			a, b := openStore(t, addr, prefix, Options{}), openStore(t, addr, prefix, Options{})
			tc.setup(t, a)
			errs := race(n, func(i int) error {
				if i%2 == 0 {
					return tc.call(t, a)
				}
				return tc.call(t, b)
			})
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, tc.lost):
					t.Errorf("unexpected error: %v", err)
				}
			}
			if won != 1 {
				t.Fatalf("%d of %d racing calls on two instances succeeded, want 1", won, n)
			}
		})
	}
}

// Failure counters are global: attempts counted on either instance add
// up, and a lock set through one holds on the other.
func TestCountersAcrossInstances(t *testing.T) {
	addr := testenv.Redis(t)
	prefix := uniquePrefix()
	a, b := openStore(t, addr, prefix, Options{}), openStore(t, addr, prefix, Options{})
	t0 := wallClock()
	p := store.LockPolicy{Threshold: 5, Locks: []time.Duration{5 * time.Minute}, HardCap: 100}
	errs := race(100, func(i int) error {
		s := a
		if i%2 == 1 {
			s = b
		}
		_, err := s.CountAttempt(t.Context(), "mfa:alice", t0, p)
		return err
	})
	for _, err := range errs {
		must(t, err)
	}
	for name, s := range map[string]*Store{"a": a, "b": b} {
		got, err := s.Attempts(t.Context(), "mfa:alice", t0)
		must(t, err)
		if got.Failures != 100 || !got.Locked(t0.Add(time.Minute)) {
			t.Errorf("instance %s sees %+v, want 100 failures and a lock", name, got)
		}
	}
}

// Two gateways with different prefixes share a server and nothing else.
func TestPrefixIsolation(t *testing.T) {
	addr := testenv.Redis(t)
	pa, pb := uniquePrefix(), uniquePrefix()
	a, b := openStore(t, addr, pa, Options{}), openStore(t, addr, pb, Options{})
	ctx := t.Context()
	t0 := wallClock()
	later := t0.Add(time.Hour)

	heard := make(chan store.Revocation, 10)
	must(t, b.WatchRevocations(ctx, func(r store.Revocation) { heard <- r }, func() {}))

	must(t, a.SaveFactor(ctx, "alice", store.FactorRecord{ID: "f", Type: "totp", CreatedAt: t0}))
	must(t, a.ReplaceRecoveryCodes(ctx, "alice", [][]byte{[]byte("h")}))
	_, err := a.FirstSeen(ctx, "alice", t0)
	must(t, err)
	must(t, a.SaveSession(ctx, store.Session{ID: "s1", User: "alice", CreatedAt: t0, ExpiresAt: later}))
	must(t, a.Revoke(ctx, store.Revocation{User: "bob", NotBefore: t0, ExpiresAt: later}))
	must(t, a.UseOnce(ctx, "once", later))
	_, err = a.CountAttempt(ctx, "k", t0, store.LockPolicy{Threshold: 1, Locks: []time.Duration{time.Hour}})
	must(t, err)
	must(t, a.SaveDevice(ctx, store.Device{ID: "d", User: "alice", TokenHash: []byte("tok"), CreatedAt: t0, ExpiresAt: later}))
	must(t, a.ParkRequest(ctx, "req", []byte("x"), later))

	checks := []struct {
		name string
		see  func() (bool, error) // whether b sees a's record
	}{
		{"factors", func() (bool, error) { fs, err := b.Factors(ctx, "alice"); return len(fs) > 0, err }},
		{"recovery codes", func() (bool, error) { n, err := b.RecoveryCodesLeft(ctx, "alice"); return n > 0, err }},
		{"first seen", func() (bool, error) {
			at, err := b.FirstSeen(ctx, "alice", later)
			return at.Equal(t0), err
		}},
		{"sessions", func() (bool, error) { ss, err := b.Sessions(ctx, "alice", t0); return len(ss) > 0, err }},
		{"revocations", func() (bool, error) { rs, err := b.Revocations(ctx, t0); return len(rs) > 0, err }},
		{"once marker", func() (bool, error) {
			err := b.UseOnce(ctx, "once", later)
			return errors.Is(err, store.ErrReplay), ignore(err, store.ErrReplay)
		}},
		{"counter", func() (bool, error) { st, err := b.Attempts(ctx, "k", t0); return st.Failures > 0, err }},
		{"device", func() (bool, error) {
			_, err := b.DeviceByToken(ctx, []byte("tok"), t0)
			return err == nil, ignore(err, store.ErrNotFound)
		}},
		{"parked request", func() (bool, error) {
			_, err := b.TakeParkedRequest(ctx, "req", t0)
			return err == nil, ignore(err, store.ErrNotFound)
		}},
	}
	for _, c := range checks {
		seen, err := c.see()
		must(t, err)
		if seen {
			t.Errorf("%s: a store under another prefix sees it", c.name)
		}
	}
	c := newClient(t, addr)
	for _, k := range prefixKeys(t, c, pb) {
		if k != b.keys.user("alice") && k != b.keys.once("once") { // b's own writes above
			t.Errorf("a's writes left %q under b's prefix", k)
		}
	}
	select {
	case r := <-heard:
		t.Errorf("b's feed heard a's revocation %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	if keys := prefixKeys(t, c, pa); !slices.Contains(keys, a.keys.revocations()) {
		t.Errorf("a's keys %q lack its revocations", keys)
	}
}

// ignore turns an expected outcome into no error.
func ignore(err, expected error) error {
	if errors.Is(err, expected) {
		return nil
	}
	return err
}
