package boltstore

import (
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestDeviceIndexExact checks that the token index holds exactly one entry
// per stored device after every kind of write, so no stale hash lingers in
// the file (where only the sweep would find it), and that emptied user
// buckets go.
func TestDeviceIndexExact(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{Now: newFakeClock(t0).Now, SweepEvery: -1})
	ctx := t.Context()
	rotated := testDevice("alice", "a1")
	rotated.TokenHash = testDevice("alice", "rotated").TokenHash
	taken := testDevice("bob", "b1")
	taken.TokenHash = testDevice("alice", "a2").TokenHash
	steps := []struct {
		name    string
		do      func() error
		devices map[string][]string // user → device IDs in the file
	}{
		{"three saved", func() error {
			for _, d := range []string{"a1", "a2", "a3"} {
				if err := s.SaveDevice(ctx, testDevice("alice", d)); err != nil {
					return err
				}
			}
			return nil
		}, map[string][]string{"alice": {"a1", "a2", "a3"}}},
		{"one re-saved with a new hash", func() error { return s.SaveDevice(ctx, rotated) },
			map[string][]string{"alice": {"a1", "a2", "a3"}}},
		{"a hash taken by another user's device", func() error { return s.SaveDevice(ctx, taken) },
			map[string][]string{"alice": {"a1", "a3"}, "bob": {"b1"}}},
		{"one deleted", func() error { return s.DeleteDevice(ctx, "alice", "a3") },
			map[string][]string{"alice": {"a1"}, "bob": {"b1"}}},
		{"all of a user's deleted", func() error { _, err := s.DeleteDevices(ctx, "alice"); return err },
			map[string][]string{"bob": {"b1"}}},
	}
	for _, st := range steps {
		must(t, st.do())
		var users []string
		indexed := 0
		for user, ids := range st.devices {
			users = append(users, user)
			if got := rawKeys(t, s, bucketDevices, []byte(user)); !slices.Equal(got, ids) {
				t.Fatalf("%s: %s's devices = %q, want %q", st.name, user, got, ids)
			}
			indexed += len(ids)
		}
		slices.Sort(users)
		if got := rawKeys(t, s, bucketDevices); !slices.Equal(got, users) {
			t.Fatalf("%s: device buckets = %q, want %q", st.name, got, users)
		}
		if n := len(rawKeys(t, s, bucketDeviceTokens)); n != indexed {
			t.Fatalf("%s: %d token index entries, want %d", st.name, n, indexed)
		}
		checkIndexResolves(t, s)
	}
}

// checkIndexResolves fails if any token index entry finds no device.
func checkIndexResolves(t *testing.T, s *Store) {
	t.Helper()
	must(t, s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDeviceTokens).ForEach(func(hash, _ []byte) error {
			if _, ok, err := loadDeviceByToken(tx, hash); err != nil || !ok {
				t.Errorf("index entry %x finds no device (%v)", hash, err)
			}
			return nil
		})
	}))
}
