package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

func factor(id string, created time.Time) store.FactorRecord {
	return store.FactorRecord{
		ID:        id,
		Type:      "totp",
		Label:     "phone " + id,
		Secret:    []byte("sealed:" + id),
		CreatedAt: created,
	}
}

func factorIDs(fs []store.FactorRecord) []string {
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	return ids
}

func checkFactor(t *testing.T, got, want store.FactorRecord) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.Label != want.Label ||
		!bytes.Equal(got.Secret, want.Secret) || got.Pending != want.Pending ||
		!got.PendingUntil.Equal(want.PendingUntil) || !got.CreatedAt.Equal(want.CreatedAt) ||
		got.LastStep != want.LastStep || got.StartedBy != want.StartedBy {
		t.Errorf("factor = %+v, want %+v", got, want)
	}
}

func listFactors(t *testing.T, s store.Store, user string) []store.FactorRecord {
	t.Helper()
	fs, err := s.Factors(t.Context(), user)
	mustOK(t, err, "Factors")
	return fs
}

func testFactors(t *testing.T, h Harness) {
	t0 := wallClock()

	t.Run("NoneIsNotAnError", func(t *testing.T) {
		if fs := listFactors(t, h.Open(t), "alice"); len(fs) != 0 {
			t.Fatalf("Factors = %v, want none", factorIDs(fs))
		}
	})

	t.Run("RoundTripOldestFirst", func(t *testing.T) {
		s := h.Open(t)
		pending := factor("p", t0.Add(-time.Minute))
		pending.Pending, pending.PendingUntil = true, t0.Add(time.Hour)
		pending.StartedBy = "sid-1"
		want := []store.FactorRecord{
			factor("c", t0.Add(-3*time.Hour)),
			factor("a", t0.Add(-2*time.Hour)),
			pending,
			factor("b", t0),
		}
		want[1].LastStep = 42
		for _, i := range []int{3, 1, 2, 0} { // saved out of order
			mustOK(t, s.SaveFactor(t.Context(), "alice", want[i]), "SaveFactor")
		}
		got := listFactors(t, s, "alice")
		if !slices.Equal(factorIDs(got), factorIDs(want)) {
			t.Fatalf("order = %v, want %v", factorIDs(got), factorIDs(want))
		}
		for i := range want {
			checkFactor(t, got[i], want[i])
		}
	})

	t.Run("SameCreatedAtOrderedByID", func(t *testing.T) {
		s := h.Open(t)
		for _, id := range []string{"y", "x", "z"} {
			mustOK(t, s.SaveFactor(t.Context(), "alice", factor(id, t0)), "SaveFactor")
		}
		if got := factorIDs(listFactors(t, s, "alice")); !slices.Equal(got, []string{"x", "y", "z"}) {
			t.Fatalf("order = %v, want [x y z]", got)
		}
	})

	t.Run("ReplaceByID", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.SaveFactor(t.Context(), "alice", factor("a", t0)), "SaveFactor")
		pending := factor("b", t0.Add(time.Second))
		pending.Pending, pending.PendingUntil = true, t0.Add(time.Hour)
		mustOK(t, s.SaveFactor(t.Context(), "alice", pending), "SaveFactor")
		confirmed := factor("b", t0.Add(time.Second))
		confirmed.Label = "renamed"
		mustOK(t, s.SaveFactor(t.Context(), "alice", confirmed), "SaveFactor")
		got := listFactors(t, s, "alice")
		if len(got) != 2 {
			t.Fatalf("Factors = %v, want [a b]", factorIDs(got))
		}
		checkFactor(t, got[1], confirmed)
	})

	t.Run("SaveNeverLowersLastStep", func(t *testing.T) {
		s := h.Open(t)
		stale := factor("a", t0)
		mustOK(t, s.SaveFactor(t.Context(), "alice", stale), "SaveFactor")
		mustOK(t, s.UseStep(t.Context(), "alice", "a", 1000), "UseStep")
		stale.Label = "renamed from a stale copy"
		mustOK(t, s.SaveFactor(t.Context(), "alice", stale), "SaveFactor")
		wantIs(t, s.UseStep(t.Context(), "alice", "a", 1000), store.ErrReplay, "UseStep after stale save")
		if got := listFactors(t, s, "alice")[0]; got.LastStep != 1000 || got.Label != stale.Label {
			t.Fatalf("factor = %+v, want LastStep 1000 and the new label", got)
		}
	})

	t.Run("PerUser", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.SaveFactor(t.Context(), "alice", factor("a", t0)), "SaveFactor")
		mustOK(t, s.SaveFactor(t.Context(), "bob", factor("b", t0)), "SaveFactor")
		wantIs(t, s.DeleteFactor(t.Context(), "bob", "a"), store.ErrNotFound, "DeleteFactor of another user's factor")
		for user, want := range map[string]string{"alice": "a", "bob": "b"} {
			if got := factorIDs(listFactors(t, s, user)); !slices.Equal(got, []string{want}) {
				t.Errorf("Factors(%s) = %v, want [%s]", user, got, want)
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := h.Open(t)
		for _, id := range []string{"a", "b"} {
			mustOK(t, s.SaveFactor(t.Context(), "alice", factor(id, t0)), "SaveFactor")
		}
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
			wantIs(t, s.DeleteFactor(t.Context(), st.user, st.id), st.want, "DeleteFactor")
			if got := factorIDs(listFactors(t, s, "alice")); !slices.Equal(got, st.left) {
				t.Fatalf("step %d: Factors = %v, want %v", i, got, st.left)
			}
		}
	})

	t.Run("PendingPastItsWindowIsGone", func(t *testing.T) {
		s := h.Open(t)
		stale := factor("stale", t0)
		stale.Pending, stale.PendingUntil = true, t0.Add(-time.Millisecond)
		mustOK(t, s.SaveFactor(t.Context(), "alice", stale), "SaveFactor")
		mustOK(t, s.SaveFactor(t.Context(), "alice", factor("ok", t0)), "SaveFactor")
		if got := factorIDs(listFactors(t, s, "alice")); !slices.Equal(got, []string{"ok"}) {
			t.Fatalf("Factors = %v, want [ok]", got)
		}
		wantIs(t, s.UseStep(t.Context(), "alice", "stale", 1), store.ErrNotFound, "UseStep on an expired enrollment")
		wantIs(t, s.DeleteFactor(t.Context(), "alice", "stale"), store.ErrNotFound, "DeleteFactor on an expired enrollment")
	})

	t.Run("CallerBuffersNotKept", func(t *testing.T) {
		s := h.Open(t)
		f := factor("a", t0)
		mustOK(t, s.SaveFactor(t.Context(), "alice", f), "SaveFactor")
		f.Secret[0] ^= 0xff
		got := listFactors(t, s, "alice")
		got[0].Secret[1] ^= 0xff
		if again := listFactors(t, s, "alice"); string(again[0].Secret) != "sealed:a" {
			t.Fatalf("stored secret changed through a caller's slice: %q", again[0].Secret)
		}
	})
}

func testUseStep(t *testing.T, h Harness) {
	t0 := wallClock()

	t.Run("Monotonic", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.SaveFactor(t.Context(), "alice", factor("a", t0)), "SaveFactor")
		steps := []struct {
			step int64
			want error
		}{
			{100, nil},
			{100, store.ErrStepUsed},
			{99, store.ErrStepUsed},
			{101, nil},
			{1, store.ErrStepUsed},
			{101, store.ErrStepUsed},
			{200, nil},
		}
		for _, st := range steps {
			wantIs(t, s.UseStep(t.Context(), "alice", "a", st.step), st.want, "UseStep")
		}
		if got := listFactors(t, s, "alice")[0].LastStep; got != 200 {
			t.Fatalf("LastStep = %d, want 200", got)
		}
	})

	t.Run("PerFactor", func(t *testing.T) {
		s := h.Open(t)
		for _, u := range []string{"alice", "bob"} {
			for _, id := range []string{"a", "b"} {
				mustOK(t, s.SaveFactor(t.Context(), u, factor(id, t0)), "SaveFactor")
			}
		}
		for _, c := range []struct{ user, id string }{{"alice", "a"}, {"alice", "b"}, {"bob", "a"}} {
			mustOK(t, s.UseStep(t.Context(), c.user, c.id, 100), "UseStep "+c.user+"/"+c.id)
		}
	})

	t.Run("PendingAccepted", func(t *testing.T) {
		s := h.Open(t)
		f := factor("a", t0)
		f.Pending, f.PendingUntil = true, t0.Add(time.Hour)
		mustOK(t, s.SaveFactor(t.Context(), "alice", f), "SaveFactor")
		mustOK(t, s.UseStep(t.Context(), "alice", "a", 7), "UseStep on a pending factor")
		wantIs(t, s.UseStep(t.Context(), "alice", "a", 7), store.ErrReplay, "UseStep replay on a pending factor")
	})

	t.Run("NotFound", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.SaveFactor(t.Context(), "alice", factor("a", t0)), "SaveFactor")
		cases := []struct{ name, user, id string }{
			{"unknown factor", "alice", "b"},
			{"unknown user", "carol", "a"},
			{"another user's factor", "bob", "a"},
		}
		for _, c := range cases {
			wantIs(t, s.UseStep(t.Context(), c.user, c.id, 1), store.ErrNotFound, c.name)
		}
		mustOK(t, s.DeleteFactor(t.Context(), "alice", "a"), "DeleteFactor")
		wantIs(t, s.UseStep(t.Context(), "alice", "a", 1), store.ErrNotFound, "deleted factor")
	})
}
