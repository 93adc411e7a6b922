package redisstore

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// The device and parked-request rules of store.go, checked here until the
// conformance suite covers them, and the Redis-specific compare-and-set.

func device(user, id, token string, created, expires time.Time) store.Device {
	return store.Device{ID: id, User: user, TokenHash: []byte(token), Label: "Firefox on " + id, CreatedAt: created, ExpiresAt: expires}
}

func deviceIDs(t *testing.T, s *Store, user string, now time.Time) []string {
	t.Helper()
	ds, err := s.Devices(t.Context(), user, now)
	must(t, err)
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

func findsDevice(t *testing.T, s *Store, token string, now time.Time) (store.Device, bool) {
	t.Helper()
	d, err := s.DeviceByToken(t.Context(), []byte(token), now)
	if errors.Is(err, store.ErrNotFound) {
		return store.Device{}, false
	}
	must(t, err)
	return d, true
}

func TestDevices(t *testing.T) {
	addr := testenv.Redis(t)
	t0 := wallClock()
	later := t0.Add(time.Hour)

	t.Run("save, find, list", func(t *testing.T) {
		s := openStore(t, addr, uniquePrefix(), Options{})
		want := device("alice", "d2", "tok2", t0, later)
		want.LastUsedAt = t0.Add(time.Minute)
		must(t, s.SaveDevice(t.Context(), want))
		must(t, s.SaveDevice(t.Context(), device("alice", "d1", "tok1", t0, later)))
		must(t, s.SaveDevice(t.Context(), device("alice", "d0", "tok0", t0.Add(-time.Hour), later)))
		got, ok := findsDevice(t, s, "tok2", t0)
		if !ok || got.ID != want.ID || got.User != want.User || got.Label != want.Label || !bytes.Equal(got.TokenHash, want.TokenHash) ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.LastUsedAt.Equal(want.LastUsedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("DeviceByToken = %+v, want %+v", got, want)
		}
		if ids := deviceIDs(t, s, "alice", t0); !slices.Equal(ids, []string{"d0", "d1", "d2"}) {
			t.Fatalf("Devices = %v, want oldest first, then by ID", ids)
		}
		if _, ok := findsDevice(t, s, "tok2", later); ok {
			t.Fatal("a device found at its expiry")
		}
		if ids := deviceIDs(t, s, "alice", later); len(ids) != 0 {
			t.Fatalf("Devices at their expiry = %v", ids)
		}
	})

	t.Run("a token finds one device", func(t *testing.T) {
		s := openStore(t, addr, uniquePrefix(), Options{})
		must(t, s.SaveDevice(t.Context(), device("alice", "d1", "old", t0, later)))
		must(t, s.SaveDevice(t.Context(), device("alice", "d1", "new", t0, later)))
		if _, ok := findsDevice(t, s, "old", t0); ok {
			t.Error("the replaced token still finds the device")
		}
		must(t, s.SaveDevice(t.Context(), device("bob", "b1", "new", t0, later)))
		if d, ok := findsDevice(t, s, "new", t0); !ok || d.User != "bob" {
			t.Errorf("the token finds %+v, want bob's device", d)
		}
		if ids := deviceIDs(t, s, "alice", t0); len(ids) != 0 {
			t.Errorf("alice still lists %v, whose token bob's device took", ids)
		}
		if err := s.DeleteDevice(t.Context(), "alice", "d1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteDevice of the displaced device: %v, want ErrNotFound", err)
		}
	})

	t.Run("an expired device replaces but is not stored", func(t *testing.T) {
		s := openStore(t, addr, uniquePrefix(), Options{})
		must(t, s.SaveDevice(t.Context(), device("alice", "d1", "tok", t0, later)))
		must(t, s.SaveDevice(t.Context(), device("alice", "d1", "tok2", t0, t0.Add(-time.Millisecond))))
		if _, ok := findsDevice(t, s, "tok", t0); ok {
			t.Error("the predecessor's token still finds it")
		}
		if _, ok := findsDevice(t, s, "tok2", t0.Add(-time.Hour)); ok {
			t.Error("the expired device was stored")
		}
	})

	t.Run("delete", func(t *testing.T) {
		s := openStore(t, addr, uniquePrefix(), Options{})
		must(t, s.SaveDevice(t.Context(), device("alice", "d1", "tok1", t0, later)))
		must(t, s.SaveDevice(t.Context(), device("alice", "d2", "tok2", t0, later)))
		must(t, s.SaveDevice(t.Context(), device("alice", "d3", "tok3", t0, later)))
		must(t, s.SaveDevice(t.Context(), device("bob", "d1", "tokb", t0, later)))
		steps := []struct {
			user, id string
			want     error
		}{
			{"alice", "d1", nil},
			{"alice", "d1", store.ErrNotFound},
			{"carol", "d2", store.ErrNotFound},
			{"alice", "unknown", store.ErrNotFound},
		}
		for _, st := range steps {
			if err := s.DeleteDevice(t.Context(), st.user, st.id); !errors.Is(err, st.want) && !(st.want == nil && err == nil) {
				t.Errorf("DeleteDevice(%s, %s) = %v, want %v", st.user, st.id, err, st.want)
			}
		}
		if _, ok := findsDevice(t, s, "tok1", t0); ok {
			t.Error("a deleted device's token still finds it")
		}
		n, err := s.DeleteDevices(t.Context(), "alice")
		must(t, err)
		if n != 2 {
			t.Errorf("DeleteDevices = %d, want 2", n)
		}
		for _, tok := range []string{"tok2", "tok3"} {
			if _, ok := findsDevice(t, s, tok, t0); ok {
				t.Errorf("%s still finds a device after DeleteDevices", tok)
			}
		}
		if n, err := s.DeleteDevices(t.Context(), "alice"); err != nil || n != 0 {
			t.Errorf("DeleteDevices again = %d, %v; want 0", n, err)
		}
		if ids := deviceIDs(t, s, "bob", t0); !slices.Equal(ids, []string{"d1"}) {
			t.Errorf("bob's devices = %v, want [d1]", ids)
		}
	})

	t.Run("racing saves of one device leave one token", func(t *testing.T) {
		prefix := uniquePrefix()
		a, b := openStore(t, addr, prefix, Options{}), openStore(t, addr, prefix, Options{})
		const n = 20
		errs := race(n, func(i int) error {
			s := a
			if i%2 == 1 {
				s = b
			}
			return s.SaveDevice(t.Context(), device("alice", "d1", "tok"+strconv.Itoa(i), t0, later))
		})
		for _, err := range errs {
			must(t, err)
		}
		found := 0
		for i := range n {
			if _, ok := findsDevice(t, a, "tok"+strconv.Itoa(i), t0); ok {
				found++
			}
		}
		if found != 1 {
			t.Fatalf("%d tokens find the device after %d racing saves, want 1", found, n)
		}
		if ids := deviceIDs(t, a, "alice", t0); !slices.Equal(ids, []string{"d1"}) {
			t.Fatalf("Devices = %v, want [d1]", ids)
		}
	})
}

func TestParkedRequests(t *testing.T) {
	s := openStore(t, testenv.Redis(t), uniquePrefix(), Options{})
	ctx := t.Context()
	t0 := wallClock()
	later := t0.Add(10 * time.Minute)

	must(t, s.ParkRequest(ctx, "r1", []byte("POST /form\r\n\r\na=1"), later))
	got, err := s.TakeParkedRequest(ctx, "r1", t0)
	must(t, err)
	if string(got) != "POST /form\r\n\r\na=1" {
		t.Fatalf("took %q", got)
	}
	if _, err := s.TakeParkedRequest(ctx, "r1", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second take: %v, want ErrNotFound", err)
	}

	must(t, s.ParkRequest(ctx, "empty", nil, later))
	if got, err := s.TakeParkedRequest(ctx, "empty", t0); err != nil || len(got) != 0 {
		t.Fatalf("empty request: %q, %v", got, err)
	}

	must(t, s.ParkRequest(ctx, "r2", []byte("x"), later))
	if _, err := s.TakeParkedRequest(ctx, "r2", later); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("take at the expiry: %v, want ErrNotFound", err)
	}

	must(t, s.ParkRequest(ctx, "r3", []byte("x"), later))
	must(t, s.ParkRequest(ctx, "r3", []byte("y"), t0.Add(-time.Millisecond)))
	if _, err := s.TakeParkedRequest(ctx, "r3", t0.Add(-time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired park left %v", err)
	}

	if err := s.ParkRequest(ctx, "big", make([]byte, 1<<20+1), later); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("over 1 MiB: %v, want ErrInvalid", err)
	}
	must(t, s.ParkRequest(ctx, "max", make([]byte, 1<<20), later))
}
