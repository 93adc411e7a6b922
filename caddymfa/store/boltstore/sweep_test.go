package boltstore

import (
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

func TestSweep(t *testing.T) {
	clock := newFakeClock(t0)
	s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{Now: clock.Now, SweepEvery: -1})
	ctx := t.Context()
	later := deadline.Add(time.Hour)
	pending := func(id string) store.FactorRecord {
		return store.FactorRecord{ID: id, Type: "totp", Pending: true, PendingUntil: deadline, CreatedAt: t0}
	}
	must(t, s.UseOnce(ctx, "dies", deadline))
	must(t, s.UseOnce(ctx, "lives", later))
	_, err := s.CountAttempt(ctx, "dies", t0, store.LockPolicy{Forget: time.Hour})
	must(t, err)
	_, err = s.CountAttempt(ctx, "lives", t0, store.LockPolicy{})
	must(t, err)
	for _, sess := range []store.Session{
		{ID: "a-dies", User: "alice", CreatedAt: t0, ExpiresAt: deadline},
		{ID: "a-lives", User: "alice", CreatedAt: t0, ExpiresAt: later},
		{ID: "b-dies", User: "bob", CreatedAt: t0, ExpiresAt: deadline},
	} {
		must(t, s.SaveSession(ctx, sess))
	}
	must(t, s.Revoke(ctx, store.Revocation{SessionID: "x", ExpiresAt: deadline}))
	must(t, s.Revoke(ctx, store.Revocation{User: "dave", NotBefore: t0, ExpiresAt: later}))
	must(t, s.SaveFactor(ctx, "alice", pending("a-pending")))
	must(t, s.SaveFactor(ctx, "alice", store.FactorRecord{ID: "a-totp", Type: "totp", CreatedAt: t0}))
	must(t, s.SaveFactor(ctx, "carol", pending("c-pending")))
	must(t, s.ReplaceRecoveryCodes(ctx, "alice", [][]byte{[]byte("h")}))
	_, err = s.FirstSeen(ctx, "alice", t0)
	must(t, err)

	clock.Set(deadline.Add(-time.Nanosecond))
	if n, err := s.sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before the deadline: %d, %v; want nothing deleted", n, err)
	}

	clock.Set(deadline)
	// once, attempts, revocations, sessions: one each, but two sessions;
	// index: alice's and bob's entries and bob's bucket; factors: alice's
	// and carol's pending ones and carol's bucket.
	if n, err := s.sweep(ctx); err != nil || n != 1+1+1+2+3+3 {
		t.Fatalf("sweep at the deadline: %d, %v; want 11 deleted", n, err)
	}
	want := []struct {
		path []string
		keys []string
	}{
		{[]string{"once"}, []string{"lives"}},
		{[]string{"attempts"}, []string{"lives"}},
		{[]string{"revocations"}, []string{"u\x00dave"}},
		{[]string{"sessions"}, []string{"a-lives"}},
		{[]string{"user_sessions"}, []string{"alice"}},
		{[]string{"user_sessions", "alice"}, []string{"a-lives"}},
		{[]string{"factors"}, []string{"alice"}},
		{[]string{"factors", "alice"}, []string{"a-totp"}},
		{[]string{"recovery_codes"}, []string{"alice"}},
		{[]string{"first_seen"}, []string{"alice"}},
	}
	for _, w := range want {
		path := make([][]byte, len(w.path))
		for i, p := range w.path {
			path[i] = []byte(p)
		}
		if got := rawKeys(t, s, path...); !slices.Equal(got, w.keys) {
			t.Errorf("%q after sweep = %q, want %q", w.path, got, w.keys)
		}
	}
	if n, err := s.sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v; want nothing left to delete", n, err)
	}
}

// TestSweeperRunsUntilClose drives the background sweep with synctest's
// fake time. synctest.Test also fails if the goroutine outlives Close.
func TestSweeperRunsUntilClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mfa.db")
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(path, Options{SweepEvery: time.Minute})
		must(t, err)
		must(t, s.UseOnce(t.Context(), "k", time.Now().Add(30*time.Second)))
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if keys := rawKeys(t, s, bucketOnce); len(keys) != 1 {
			t.Fatalf("before the first sweep: %q, want the marker", keys)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if keys := rawKeys(t, s, bucketOnce); len(keys) != 0 {
			t.Fatalf("after the first sweep: %q, want nothing", keys)
		}
		must(t, s.Close())
	})
}

// TestSweepDevicesAndParked checks that the sweep deletes expired devices
// with their token index entries and emptied user buckets, and expired
// parked requests, and keeps the rest.
func TestSweepDevicesAndParked(t *testing.T) {
	clock := newFakeClock(t0)
	s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{Now: clock.Now, SweepEvery: -1})
	ctx := t.Context()
	lives := testDevice("alice", "a-lives")
	lives.ExpiresAt = deadline.Add(time.Hour)
	for _, d := range []store.Device{testDevice("alice", "a-dies"), lives, testDevice("bob", "b-dies")} {
		must(t, s.SaveDevice(ctx, d))
	}
	must(t, s.ParkRequest(ctx, "dies", []byte("sealed"), deadline))
	must(t, s.ParkRequest(ctx, "lives", []byte("sealed"), deadline.Add(time.Hour)))

	clock.Set(deadline.Add(-time.Nanosecond))
	if n, err := s.sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before the deadline: %d, %v; want nothing deleted", n, err)
	}

	clock.Set(deadline)
	// devices: alice's and bob's and bob's bucket; their two index
	// entries; one parked request.
	if n, err := s.sweep(ctx); err != nil || n != 3+2+1 {
		t.Fatalf("sweep at the deadline: %d, %v; want 6 deleted", n, err)
	}
	if got := rawKeys(t, s, bucketDevices); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("device buckets after sweep = %q, want alice's", got)
	}
	if got := rawKeys(t, s, bucketDevices, []byte("alice")); !slices.Equal(got, []string{"a-lives"}) {
		t.Errorf("alice's devices after sweep = %q, want [a-lives]", got)
	}
	if got := rawKeys(t, s, bucketDeviceTokens); !slices.Equal(got, []string{string(lives.TokenHash)}) {
		t.Errorf("token index after sweep = %x, want a-lives's hash only", got)
	}
	if got := rawKeys(t, s, bucketParked); !slices.Equal(got, []string{"lives"}) {
		t.Errorf("parked requests after sweep = %q, want [lives]", got)
	}
	if _, err := s.DeviceByToken(ctx, lives.TokenHash, deadline); err != nil {
		t.Errorf("the surviving device is lost: %v", err)
	}
	if n, err := s.sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v; want nothing left to delete", n, err)
	}
}

// TestSweepDropsStaleIndexEntries checks that an index entry whose device
// is gone is swept: no write leaves one, but a damaged file might.
func TestSweepDropsStaleIndexEntries(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{Now: newFakeClock(t0).Now, SweepEvery: -1})
	d := testDevice("alice", "d1")
	must(t, s.SaveDevice(t.Context(), d))
	must(t, s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketDeviceTokens), []byte("orphan"), deviceRef{User: "alice", ID: "gone"})
	}))
	if n, err := s.sweep(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want the orphan deleted", n, err)
	}
	if got := rawKeys(t, s, bucketDeviceTokens); !slices.Equal(got, []string{string(d.TokenHash)}) {
		t.Errorf("token index after sweep = %x, want d1's hash only", got)
	}
}
