package boltstore

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

var justOver = []struct {
	name    string
	at      time.Time
	present bool
}{
	{"a nanosecond before", deadline.Add(-time.Nanosecond), true},
	{"at the deadline", deadline, false},
}

// TestExpiryBoundaries checks that each kind of record is in force until
// the nanosecond before its deadline and gone at it, by the store's clock
// or the now passed in.
func TestExpiryBoundaries(t *testing.T) {
	cases := []struct {
		name    string
		seed    func(t *testing.T, s *Store)
		present func(t *testing.T, s *Store, at time.Time) bool
	}{
		{
			"once marker",
			func(t *testing.T, s *Store) { must(t, s.UseOnce(t.Context(), "k", deadline)) },
			func(t *testing.T, s *Store, _ time.Time) bool {
				err := s.UseOnce(t.Context(), "k", deadline.Add(time.Hour))
				if err != nil && !errors.Is(err, store.ErrReplay) {
					t.Fatal(err)
				}
				return err != nil
			},
		},
		{
			"session",
			func(t *testing.T, s *Store) {
				must(t, s.SaveSession(t.Context(), store.Session{ID: "s1", User: "alice", CreatedAt: t0, ExpiresAt: deadline}))
			},
			func(t *testing.T, s *Store, at time.Time) bool {
				ss, err := s.Sessions(t.Context(), "alice", at)
				must(t, err)
				return len(ss) == 1
			},
		},
		{
			"revocation",
			func(t *testing.T, s *Store) {
				must(t, s.Revoke(t.Context(), store.Revocation{SessionID: "s1", ExpiresAt: deadline}))
			},
			func(t *testing.T, s *Store, at time.Time) bool {
				revs, err := s.Revocations(t.Context(), at)
				must(t, err)
				return len(revs) == 1
			},
		},
		{
			"pending factor",
			func(t *testing.T, s *Store) {
				f := store.FactorRecord{ID: "f1", Type: "totp", Pending: true, PendingUntil: deadline, CreatedAt: t0}
				must(t, s.SaveFactor(t.Context(), "alice", f))
			},
			func(t *testing.T, s *Store, _ time.Time) bool {
				fs, err := s.Factors(t.Context(), "alice")
				must(t, err)
				return len(fs) == 1
			},
		},
		{
			"device by token",
			func(t *testing.T, s *Store) { must(t, s.SaveDevice(t.Context(), testDevice("alice", "d1"))) },
			func(t *testing.T, s *Store, at time.Time) bool {
				_, err := s.DeviceByToken(t.Context(), testDevice("alice", "d1").TokenHash, at)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Fatal(err)
				}
				return err == nil
			},
		},
		{
			"device list",
			func(t *testing.T, s *Store) { must(t, s.SaveDevice(t.Context(), testDevice("alice", "d1"))) },
			func(t *testing.T, s *Store, at time.Time) bool {
				ds, err := s.Devices(t.Context(), "alice", at)
				must(t, err)
				return len(ds) == 1
			},
		},
		{
			"forgotten attempts",
			func(t *testing.T, s *Store) {
				_, err := s.CountAttempt(t.Context(), "k", t0, store.LockPolicy{Threshold: 5, Forget: time.Hour})
				must(t, err)
			},
			func(t *testing.T, s *Store, at time.Time) bool {
				a, err := s.Attempts(t.Context(), "k", at)
				must(t, err)
				return a.Failures == 1
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := newFakeClock(t0)
			s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{Now: clock.Now, SweepEvery: -1})
			c.seed(t, s)
			for _, p := range justOver {
				clock.Set(p.at)
				if got := c.present(t, s, p.at); got != p.present {
					t.Errorf("%s: present = %v, want %v", p.name, got, p.present)
				}
			}
		})
	}
}

// TestNotStoredWhenAlreadyExpired checks that records whose deadline has
// passed by the store's clock never reach the file.
func TestNotStoredWhenAlreadyExpired(t *testing.T) {
	clock := newFakeClock(deadline)
	s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{Now: clock.Now, SweepEvery: -1})
	ctx := t.Context()
	must(t, s.UseOnce(ctx, "k", deadline))
	must(t, s.SaveSession(ctx, store.Session{ID: "s1", User: "alice", CreatedAt: t0, ExpiresAt: deadline}))
	must(t, s.Revoke(ctx, store.Revocation{User: "bob", NotBefore: t0, ExpiresAt: deadline}))
	must(t, s.SaveDevice(ctx, testDevice("alice", "d1")))
	must(t, s.ParkRequest(ctx, "p1", []byte("sealed"), deadline))
	for _, b := range [][]byte{bucketOnce, bucketSessions, bucketUserSessions, bucketRevocations, bucketDevices, bucketDeviceTokens, bucketParked} {
		if keys := rawKeys(t, s, b); len(keys) != 0 {
			t.Errorf("bucket %s holds %q", b, keys)
		}
	}
}

// TestExpiredMarkerReusable checks that UseOnce replaces a marker expired
// by the store's clock, which a later sweep could not have removed yet.
func TestExpiredMarkerReusable(t *testing.T) {
	clock := newFakeClock(t0)
	s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{Now: clock.Now, SweepEvery: -1})
	must(t, s.UseOnce(t.Context(), "k", deadline))
	clock.Set(deadline)
	must(t, s.UseOnce(t.Context(), "k", deadline.Add(time.Hour)))
	clock.Set(deadline.Add(time.Hour - time.Nanosecond))
	if err := s.UseOnce(t.Context(), "k", deadline.Add(2*time.Hour)); !errors.Is(err, store.ErrReplay) {
		t.Fatalf("UseOnce under the renewed marker: %v, want ErrReplay", err)
	}
}

// TestRevokeDeletesCoveredSessions checks that revoked sessions leave the
// file at once rather than lingering, filtered, until they expire.
func TestRevokeDeletesCoveredSessions(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{Now: newFakeClock(t0).Now, SweepEvery: -1})
	ctx := t.Context()
	for _, sess := range []store.Session{
		{ID: "a-old", User: "alice", CreatedAt: t0.Add(-time.Minute), ExpiresAt: deadline},
		{ID: "a-new", User: "alice", CreatedAt: t0, ExpiresAt: deadline},
		{ID: "b", User: "bob", CreatedAt: t0, ExpiresAt: deadline},
	} {
		must(t, s.SaveSession(ctx, sess))
	}
	must(t, s.Revoke(ctx, store.Revocation{User: "alice", NotBefore: t0, ExpiresAt: deadline}))
	must(t, s.Revoke(ctx, store.Revocation{SessionID: "b", ExpiresAt: deadline}))
	if got := rawKeys(t, s, bucketSessions); len(got) != 1 || got[0] != "a-new" {
		t.Errorf("sessions = %q, want [a-new]", got)
	}
	if got := rawKeys(t, s, bucketUserSessions); len(got) != 1 || got[0] != "alice" {
		t.Errorf("session index = %q, want alice's only", got)
	}
}

// TestStoreClockBoundaries checks the calls that take no now, or that
// consume what they find, at the nanosecond before a deadline and at it.
func TestStoreClockBoundaries(t *testing.T) {
	cases := []struct {
		name string
		// run seeds a fresh store whose clock reads t0, sets the clock to
		// at and reports whether the record was still in force.
		run func(t *testing.T, s *Store, clock *fakeClock, at time.Time) bool
	}{
		{"parked request taken", func(t *testing.T, s *Store, clock *fakeClock, at time.Time) bool {
			must(t, s.ParkRequest(t.Context(), "p1", []byte("sealed"), deadline))
			clock.Set(at)
			data, err := s.TakeParkedRequest(t.Context(), "p1", at)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil && string(data) == "sealed"
		}},
		{"parked request stored", func(t *testing.T, s *Store, clock *fakeClock, at time.Time) bool {
			clock.Set(at)
			must(t, s.ParkRequest(t.Context(), "p1", []byte("sealed"), deadline))
			return len(rawKeys(t, s, bucketParked)) == 1
		}},
		{"device stored", func(t *testing.T, s *Store, clock *fakeClock, at time.Time) bool {
			clock.Set(at)
			must(t, s.SaveDevice(t.Context(), testDevice("alice", "d1")))
			return len(rawKeys(t, s, bucketDevices, []byte("alice"))) == 1
		}},
		{"device deleted", func(t *testing.T, s *Store, clock *fakeClock, at time.Time) bool {
			must(t, s.SaveDevice(t.Context(), testDevice("alice", "d1")))
			clock.Set(at)
			err := s.DeleteDevice(t.Context(), "alice", "d1")
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			if keys := rawKeys(t, s, bucketDevices); len(keys) != 0 {
				t.Errorf("DeleteDevice left %q behind", keys)
			}
			return err == nil
		}},
		{"devices counted", func(t *testing.T, s *Store, clock *fakeClock, at time.Time) bool {
			must(t, s.SaveDevice(t.Context(), testDevice("alice", "d1")))
			clock.Set(at)
			n, err := s.DeleteDevices(t.Context(), "alice")
			must(t, err)
			if keys := rawKeys(t, s, bucketDeviceTokens); len(keys) != 0 {
				t.Errorf("DeleteDevices left index entries behind: %q", keys)
			}
			return n == 1
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range justOver {
				clock := newFakeClock(t0)
				s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{Now: clock.Now, SweepEvery: -1})
				if got := c.run(t, s, clock, p.at); got != p.present {
					t.Errorf("%s: present = %v, want %v", p.name, got, p.present)
				}
			}
		})
	}
}
