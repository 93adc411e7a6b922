package storetest

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// tokenHash is the SHA-256 of a made-up device token, as the gateway
// stores it: raw bytes, not text.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func device(user, id string, created, expires time.Time) store.Device {
	return store.Device{
		ID:        id,
		User:      user,
		TokenHash: tokenHash(user + "/" + id),
		Label:     "Firefox on " + id,
		CreatedAt: created,
		ExpiresAt: expires,
	}
}

func deviceIDs(ds []store.Device) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func checkDevice(t *testing.T, got, want store.Device) {
	t.Helper()
	if got.ID != want.ID || got.User != want.User || !bytes.Equal(got.TokenHash, want.TokenHash) ||
		got.Label != want.Label || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.LastUsedAt.Equal(want.LastUsedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("device = %+v, want %+v", got, want)
	}
}

func saveDevices(t *testing.T, s store.Store, ds ...store.Device) {
	t.Helper()
	for _, d := range ds {
		mustOK(t, s.SaveDevice(t.Context(), d), "SaveDevice "+d.User+"/"+d.ID)
	}
}

func listDevices(t *testing.T, s store.Store, user string, at time.Time) []store.Device {
	t.Helper()
	ds, err := s.Devices(t.Context(), user, at)
	mustOK(t, err, "Devices")
	return ds
}

func wantDevices(t *testing.T, s store.Store, user string, at time.Time, want ...string) {
	t.Helper()
	if got := deviceIDs(listDevices(t, s, user, at)); !slices.Equal(got, want) {
		t.Fatalf("Devices(%s) = %v, want %v", user, got, want)
	}
}

// wantToken checks which device, if any, hash finds at now: "user/id", or
// "" for none.
func wantToken(t *testing.T, s store.Store, hash []byte, at time.Time, want string) {
	t.Helper()
	d, err := s.DeviceByToken(t.Context(), hash, at)
	if want == "" {
		wantIs(t, err, store.ErrNotFound, "DeviceByToken of a hash that should find nothing")
		return
	}
	mustOK(t, err, "DeviceByToken")
	if got := d.User + "/" + d.ID; got != want {
		t.Fatalf("DeviceByToken = %s, want %s", got, want)
	}
}

func testDevices(t *testing.T, h Harness) {
	t0 := wallClock()
	later := t0.Add(30 * 24 * time.Hour)

	t.Run("NoneIsNotAnError", func(t *testing.T) {
		s := h.Open(t)
		wantDevices(t, s, "alice", t0)
		wantToken(t, s, tokenHash("never issued"), t0, "")
	})

	t.Run("RoundTripOldestFirst", func(t *testing.T) {
		s := h.Open(t)
		used := device("alice", "a", t0.Add(-2*time.Hour), later)
		used.LastUsedAt = t0.Add(-time.Minute)
		want := []store.Device{
			device("alice", "c", t0.Add(-3*time.Hour), later),
			used,
			device("alice", "b", t0, t0.Add(time.Hour)),
		}
		saveDevices(t, s, want[2], want[0], want[1]) // out of order
		got := listDevices(t, s, "alice", t0)
		if !slices.Equal(deviceIDs(got), deviceIDs(want)) {
			t.Fatalf("order = %v, want %v", deviceIDs(got), deviceIDs(want))
		}
		for i := range want {
			checkDevice(t, got[i], want[i])
			found, err := s.DeviceByToken(t.Context(), want[i].TokenHash, t0)
			mustOK(t, err, "DeviceByToken")
			checkDevice(t, found, want[i])
		}
	})

	t.Run("SameCreatedAtOrderedByID", func(t *testing.T) {
		s := h.Open(t)
		saveDevices(t, s, device("alice", "y", t0, later), device("alice", "x", t0, later), device("alice", "z", t0, later))
		wantDevices(t, s, "alice", t0, "x", "y", "z")
	})

	t.Run("ReplaceByID", func(t *testing.T) {
		s := h.Open(t)
		old := device("alice", "d", t0, later)
		saveDevices(t, s, old)
		renewed := old
		renewed.TokenHash = tokenHash("rotated")
		renewed.Label = "renamed"
		renewed.LastUsedAt = t0.Add(time.Minute)
		saveDevices(t, s, renewed)
		wantToken(t, s, old.TokenHash, t0, "")
		wantToken(t, s, renewed.TokenHash, t0, "alice/d")
		got := listDevices(t, s, "alice", t0)
		if len(got) != 1 {
			t.Fatalf("Devices = %v, want [d]", deviceIDs(got))
		}
		checkDevice(t, got[0], renewed)
	})

	t.Run("TokenHashFindsOneDevice", func(t *testing.T) {
		s := h.Open(t)
		first := device("alice", "a", t0, later)
		saveDevices(t, s, first, device("alice", "keep", t0, later))
		second := device("bob", "b", t0, later)
		second.TokenHash = first.TokenHash
		saveDevices(t, s, second)
		wantToken(t, s, first.TokenHash, t0, "bob/b")
		wantDevices(t, s, "alice", t0, "keep")
		wantDevices(t, s, "bob", t0, "b")
	})

	t.Run("PerUser", func(t *testing.T) {
		s := h.Open(t)
		saveDevices(t, s, device("alice", "d", t0, later), device("alice", "a-only", t0, later), device("bob", "d", t0, later))
		wantIs(t, s.DeleteDevice(t.Context(), "bob", "a-only"), store.ErrNotFound, "DeleteDevice of another user's device")
		wantDevices(t, s, "alice", t0, "a-only", "d")
		wantDevices(t, s, "bob", t0, "d")
		mustOK(t, s.DeleteDevice(t.Context(), "bob", "d"), "DeleteDevice")
		wantDevices(t, s, "alice", t0, "a-only", "d")
		wantToken(t, s, tokenHash("alice/d"), t0, "alice/d")
		wantToken(t, s, tokenHash("bob/d"), t0, "")
	})

	t.Run("Delete", func(t *testing.T) {
		s := h.Open(t)
		saveDevices(t, s, device("alice", "a", t0, later), device("alice", "b", t0, later))
		steps := []struct {
			user, id string
			want     error
			left     []string
		}{
			{"alice", "a", nil, []string{"b"}},
			{"alice", "a", store.ErrNotFound, []string{"b"}},
			{"alice", "unknown", store.ErrNotFound, []string{"b"}},
			{"nobody", "b", store.ErrNotFound, []string{"b"}},
			{"alice", "b", nil, nil},
		}
		for i, st := range steps {
			wantIs(t, s.DeleteDevice(t.Context(), st.user, st.id), st.want, "DeleteDevice")
			if got := deviceIDs(listDevices(t, s, "alice", t0)); !slices.Equal(got, st.left) {
				t.Fatalf("step %d: Devices = %v, want %v", i, got, st.left)
			}
		}
		wantToken(t, s, tokenHash("alice/a"), t0, "")
		wantToken(t, s, tokenHash("alice/b"), t0, "")
	})

	t.Run("DeleteAll", func(t *testing.T) {
		s := h.Open(t)
		saveDevices(t, s, device("alice", "a", t0, later), device("alice", "b", t0, later),
			device("alice", "c", t0, t0.Add(time.Hour)), device("bob", "a", t0, later))
		steps := []struct {
			user string
			want int
		}{
			{"alice", 3},
			{"alice", 0},
			{"carol", 0},
		}
		for _, st := range steps {
			n, err := s.DeleteDevices(t.Context(), st.user)
			mustOK(t, err, "DeleteDevices")
			if n != st.want {
				t.Fatalf("DeleteDevices(%s) = %d, want %d", st.user, n, st.want)
			}
		}
		wantDevices(t, s, "alice", t0)
		for _, id := range []string{"a", "b", "c"} {
			wantToken(t, s, tokenHash("alice/"+id), t0, "")
		}
		wantDevices(t, s, "bob", t0, "a")
		wantToken(t, s, tokenHash("bob/a"), t0, "bob/a")
	})

	t.Run("Expiry", func(t *testing.T) {
		s := h.Open(t)
		soon := device("alice", "soon", t0, t0.Add(time.Hour))
		// An hour past, so that no clock skew between the test and a
		// shared backend can make it current.
		dead := device("alice", "dead", t0.Add(-2*time.Hour), t0.Add(-time.Hour))
		saveDevices(t, s, soon, dead, device("alice", "long", t0, later))
		cases := []struct {
			name  string
			hash  []byte
			at    time.Time
			found string
		}{
			{"before its expiry", soon.TokenHash, t0, "alice/soon"},
			{"a millisecond before", soon.TokenHash, soon.ExpiresAt.Add(-time.Millisecond), "alice/soon"},
			{"at its expiry", soon.TokenHash, soon.ExpiresAt, ""},
			{"after", soon.TokenHash, later, ""},
			{"expired when saved", dead.TokenHash, t0, ""},
			{"expired when saved, asked as of before", dead.TokenHash, dead.ExpiresAt.Add(-time.Hour), ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { wantToken(t, s, c.hash, c.at, c.found) })
		}
		wantDevices(t, s, "alice", t0, "long", "soon")
		wantDevices(t, s, "alice", soon.ExpiresAt, "long")
		wantDevices(t, s, "alice", dead.CreatedAt, "long", "soon")
		wantIs(t, s.DeleteDevice(t.Context(), "alice", "dead"), store.ErrNotFound, "DeleteDevice of an expired device")
	})

	t.Run("ExpiredSaveStillReplaces", func(t *testing.T) {
		s := h.Open(t)
		d := device("alice", "d", t0, later)
		saveDevices(t, s, d)
		d.ExpiresAt = t0.Add(-time.Hour)
		saveDevices(t, s, d)
		wantToken(t, s, d.TokenHash, t0.Add(-2*time.Hour), "")
		wantDevices(t, s, "alice", t0.Add(-2*time.Hour))
	})

	t.Run("Invalid", func(t *testing.T) {
		s := h.Open(t)
		cases := []struct {
			name   string
			mutate func(d *store.Device)
		}{
			{"no expiry", func(d *store.Device) { d.ExpiresAt = time.Time{} }},
			{"no token hash", func(d *store.Device) { d.TokenHash = nil }},
			{"empty token hash", func(d *store.Device) { d.TokenHash = []byte{} }},
			{"token hash over the limit", func(d *store.Device) { d.TokenHash = bytes.Repeat([]byte{1}, store.MaxKeyLen+1) }},
			{"no ID", func(d *store.Device) { d.ID = "" }},
			{"no user", func(d *store.Device) { d.User = "" }},
			{"ID over the limit", func(d *store.Device) { d.ID = strings.Repeat("d", store.MaxKeyLen+1) }},
		}
		for _, c := range cases {
			d := device("alice", "d", t0, later)
			c.mutate(&d)
			wantIs(t, s.SaveDevice(t.Context(), d), store.ErrInvalid, "SaveDevice with "+c.name)
		}
		wantDevices(t, s, "alice", t0)
		for name, hash := range map[string][]byte{
			"no token hash":             nil,
			"token hash over the limit": bytes.Repeat([]byte{1}, store.MaxKeyLen+1),
		} {
			_, err := s.DeviceByToken(t.Context(), hash, t0)
			wantIs(t, err, store.ErrInvalid, "DeviceByToken with "+name)
		}
	})

	t.Run("AnyHashBytes", func(t *testing.T) {
		s := h.Open(t)
		cases := map[string][]byte{
			"one byte":                    {0},
			"at the limit":                bytes.Repeat([]byte{0xff}, store.MaxKeyLen),
			"not UTF-8 and control bytes": {0xff, 0x00, 0xfe, '\n', ':'},
		}
		for name, hash := range cases {
			d := device("alice", name, t0, later)
			d.TokenHash = hash
			saveDevices(t, s, d)
			wantToken(t, s, hash, t0, "alice/"+name)
		}
		// Hashes differing only past a prefix find different devices.
		wantToken(t, s, []byte{0xff, 0x00}, t0, "")
	})

	t.Run("CallerBuffersNotKept", func(t *testing.T) {
		s := h.Open(t)
		d := device("alice", "d", t0, later)
		hash := bytes.Clone(d.TokenHash)
		saveDevices(t, s, d)
		d.TokenHash[0] ^= 0xff
		got, err := s.DeviceByToken(t.Context(), hash, t0)
		mustOK(t, err, "DeviceByToken after the caller changed its slice")
		got.TokenHash[1] ^= 0xff
		listed := listDevices(t, s, "alice", t0)
		if len(listed) != 1 || !bytes.Equal(listed[0].TokenHash, hash) {
			t.Fatalf("stored token hash changed through a caller's slice: %+v", listed)
		}
	})
}
