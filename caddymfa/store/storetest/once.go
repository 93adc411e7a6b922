package storetest

import (
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
