package storetest

import (
	"testing"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

func codesLeft(t *testing.T, s store.Store, user string) int {
	t.Helper()
	n, err := s.RecoveryCodesLeft(t.Context(), user)
	mustOK(t, err, "RecoveryCodesLeft")
	return n
}

func testRecoveryCodes(t *testing.T, h Harness) {
	t.Run("NoneIsNotAnError", func(t *testing.T) {
		s := h.Open(t)
		if n := codesLeft(t, s, "alice"); n != 0 {
			t.Fatalf("RecoveryCodesLeft = %d, want 0", n)
		}
		_, err := s.ConsumeRecoveryCode(t.Context(), "alice", hashes("a"))
		wantIs(t, err, store.ErrNotFound, "ConsumeRecoveryCode without codes")
	})

	t.Run("Consume", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.ReplaceRecoveryCodes(t.Context(), "alice", hashes("a", "b", "c", "d")), "ReplaceRecoveryCodes")
		steps := []struct {
			name       string
			candidates [][]byte
			want       error
			remaining  int
		}{
			{"second candidate matches (old key)", hashes("b-under-new-key", "b"), nil, 3},
			{"same code again", hashes("b-under-new-key", "b"), store.ErrNotFound, 3},
			{"no candidate matches", hashes("x", "y"), store.ErrNotFound, 3},
			{"no candidates", nil, store.ErrNotFound, 3},
			{"two codes offered, only the first is used", hashes("a", "c"), nil, 2},
			{"the other one is still good", hashes("c"), nil, 1},
			{"last one", hashes("d"), nil, 0},
			{"set exhausted", hashes("d"), store.ErrNotFound, 0},
		}
		for _, st := range steps {
			remaining, err := s.ConsumeRecoveryCode(t.Context(), "alice", st.candidates)
			wantIs(t, err, st.want, st.name)
			if st.want == nil && remaining != st.remaining {
				t.Errorf("%s: remaining = %d, want %d", st.name, remaining, st.remaining)
			}
			if n := codesLeft(t, s, "alice"); n != st.remaining {
				t.Fatalf("%s: RecoveryCodesLeft = %d, want %d", st.name, n, st.remaining)
			}
		}
	})

	t.Run("ReplaceKillsOldSet", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.ReplaceRecoveryCodes(t.Context(), "alice", hashes("old1", "old2", "old3")), "ReplaceRecoveryCodes")
		mustOK(t, s.ReplaceRecoveryCodes(t.Context(), "alice", hashes("new1", "new2")), "ReplaceRecoveryCodes")
		if n := codesLeft(t, s, "alice"); n != 2 {
			t.Fatalf("RecoveryCodesLeft = %d, want 2", n)
		}
		_, err := s.ConsumeRecoveryCode(t.Context(), "alice", hashes("old1"))
		wantIs(t, err, store.ErrNotFound, "code of the replaced set")
		remaining, err := s.ConsumeRecoveryCode(t.Context(), "alice", hashes("new2"))
		mustOK(t, err, "code of the new set")
		if remaining != 1 {
			t.Fatalf("remaining = %d, want 1", remaining)
		}
	})

	t.Run("DuplicateHashRefused", func(t *testing.T) {
		// One code must work once: a set holding a hash twice would let
		// it sign in twice on one store and once on another.
		s := h.Open(t)
		mustOK(t, s.ReplaceRecoveryCodes(t.Context(), "alice", hashes("a", "b")), "ReplaceRecoveryCodes")
		wantIs(t, s.ReplaceRecoveryCodes(t.Context(), "alice", hashes("x", "y", "x")), store.ErrInvalid, "ReplaceRecoveryCodes with a duplicate")
		if n := codesLeft(t, s, "alice"); n != 2 {
			t.Fatalf("RecoveryCodesLeft = %d after a refused replace, want the old 2", n)
		}
	})

	t.Run("EmptySetDeletes", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.ReplaceRecoveryCodes(t.Context(), "alice", hashes("a", "b")), "ReplaceRecoveryCodes")
		mustOK(t, s.ReplaceRecoveryCodes(t.Context(), "alice", nil), "ReplaceRecoveryCodes(nil)")
		if n := codesLeft(t, s, "alice"); n != 0 {
			t.Fatalf("RecoveryCodesLeft = %d, want 0", n)
		}
		_, err := s.ConsumeRecoveryCode(t.Context(), "alice", hashes("a"))
		wantIs(t, err, store.ErrNotFound, "code of a deleted set")
	})

	t.Run("PerUser", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.ReplaceRecoveryCodes(t.Context(), "alice", hashes("a1", "a2")), "ReplaceRecoveryCodes")
		mustOK(t, s.ReplaceRecoveryCodes(t.Context(), "bob", hashes("b1")), "ReplaceRecoveryCodes")
		_, err := s.ConsumeRecoveryCode(t.Context(), "bob", hashes("a1"))
		wantIs(t, err, store.ErrNotFound, "alice's code used by bob")
		if a, b := codesLeft(t, s, "alice"), codesLeft(t, s, "bob"); a != 2 || b != 1 {
			t.Fatalf("left = %d, %d; want 2, 1", a, b)
		}
	})

	t.Run("CallerBuffersNotKept", func(t *testing.T) {
		s := h.Open(t)
		set := hashes("a")
		mustOK(t, s.ReplaceRecoveryCodes(t.Context(), "alice", set), "ReplaceRecoveryCodes")
		set[0][0] ^= 0xff
		_, err := s.ConsumeRecoveryCode(t.Context(), "alice", hashes("a"))
		mustOK(t, err, "code whose caller buffer was changed after saving")
	})
}
