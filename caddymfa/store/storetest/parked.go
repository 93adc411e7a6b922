package storetest

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// maxParked is the most data the contract lets a caller park.
const maxParked = 1 << 20

// body returns n bytes of every value, the same for the same seed.
func body(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

// take calls TakeParkedRequest, checking the error against want and, when
// want is nil, the data against data.
func take(t *testing.T, s store.Store, id string, at time.Time, data []byte, want error) {
	t.Helper()
	got, err := s.TakeParkedRequest(t.Context(), id, at)
	wantIs(t, err, want, "TakeParkedRequest "+id)
	if want == nil && !bytes.Equal(got, data) {
		t.Fatalf("TakeParkedRequest %s = %d bytes, want the %d parked", id, len(got), len(data))
	}
}

func testParked(t *testing.T, h Harness) {
	t0 := wallClock()
	later := t0.Add(10 * time.Minute)

	t.Run("TakenOnce", func(t *testing.T) {
		s := h.Open(t)
		data := body(4096, 1)
		mustOK(t, s.ParkRequest(t.Context(), "p1", data, later), "ParkRequest")
		mustOK(t, s.ParkRequest(t.Context(), "p2", body(10, 2), later), "ParkRequest")
		take(t, s, "p1", t0, data, nil)
		take(t, s, "p1", t0, nil, store.ErrNotFound)
		take(t, s, "never", t0, nil, store.ErrNotFound)
		take(t, s, "p2", t0, body(10, 2), nil)
	})

	t.Run("Sizes", func(t *testing.T) {
		s := h.Open(t)
		for _, n := range []int{0, 1, 64 << 10, maxParked} {
			data := body(n, uint64(n))
			mustOK(t, s.ParkRequest(t.Context(), "p", data, later), "ParkRequest")
			take(t, s, "p", t0, data, nil)
		}
		wantIs(t, s.ParkRequest(t.Context(), "p", body(maxParked+1, 0), later), store.ErrInvalid, "ParkRequest over 1 MiB")
		take(t, s, "p", t0, nil, store.ErrNotFound)
	})

	t.Run("ReplacedByID", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.ParkRequest(t.Context(), "p", body(100, 1), later), "ParkRequest")
		mustOK(t, s.ParkRequest(t.Context(), "p", body(200, 2), later), "ParkRequest again")
		take(t, s, "p", t0, body(200, 2), nil)
		take(t, s, "p", t0, nil, store.ErrNotFound)
	})

	t.Run("Expiry", func(t *testing.T) {
		s := h.Open(t)
		// An hour past, so that no clock skew between the test and a
		// shared backend can make it current.
		past := t0.Add(-time.Hour)
		steps := []struct {
			name    string
			id      string
			expires time.Time
			at      time.Time
			want    error
		}{
			{"a millisecond before its expiry", "p1", later, later.Add(-time.Millisecond), nil},
			{"at its expiry", "p2", later, later, store.ErrNotFound},
			{"after", "p3", later, later.Add(time.Hour), store.ErrNotFound},
			{"expired when parked", "p4", past, t0, store.ErrNotFound},
			{"expired when parked, taken as of before", "p5", past, past.Add(-time.Hour), store.ErrNotFound},
		}
		for _, st := range steps {
			data := body(64, 7)
			mustOK(t, s.ParkRequest(t.Context(), st.id, data, st.expires), "ParkRequest")
			take(t, s, st.id, st.at, data, st.want)
		}
		// Found expired once, gone for good.
		take(t, s, "p2", t0, nil, store.ErrNotFound)
	})

	t.Run("ExpiredParkDropsTheOld", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.ParkRequest(t.Context(), "p", body(64, 1), later), "ParkRequest")
		mustOK(t, s.ParkRequest(t.Context(), "p", body(64, 2), t0.Add(-time.Hour)), "ParkRequest already expired")
		take(t, s, "p", t0.Add(-2*time.Hour), nil, store.ErrNotFound)
	})

	t.Run("Invalid", func(t *testing.T) {
		s := h.Open(t)
		cases := []struct {
			name    string
			id      string
			expires time.Time
		}{
			{"no expiry", "p", time.Time{}},
			{"no ID", "", later},
			{"ID over the limit", strings.Repeat("p", store.MaxKeyLen+1), later},
		}
		for _, c := range cases {
			wantIs(t, s.ParkRequest(t.Context(), c.id, body(8, 0), c.expires), store.ErrInvalid, "ParkRequest with "+c.name)
		}
		_, err := s.TakeParkedRequest(t.Context(), "", t0)
		wantIs(t, err, store.ErrInvalid, "TakeParkedRequest with no ID")
	})

	t.Run("CallerBufferNotKept", func(t *testing.T) {
		s := h.Open(t)
		data := body(256, 3)
		mustOK(t, s.ParkRequest(t.Context(), "p", data, later), "ParkRequest")
		data[0] ^= 0xff
		take(t, s, "p", t0, body(256, 3), nil)
	})
}
