package redisstore

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// The Lua counter must lock exactly as store.LockPolicy.Next and ForgetAt
// do: random policies and attempt times, compared step by step with the
// Go original.
func TestCountAttemptMatchesLockPolicy(t *testing.T) {
	s := openStore(t, testenv.Redis(t), uniquePrefix(), Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	minutes := func(n int) time.Duration { return time.Duration(rng.IntN(n)) * time.Minute }
	for round := range 200 {
		p := store.LockPolicy{Threshold: rng.IntN(6), HardCap: rng.IntN(3) * 7}
		for range rng.IntN(4) {
			p.Locks = append(p.Locks, minutes(90)+time.Duration(rng.IntN(1000))*time.Millisecond)
		}
		if rng.IntN(2) == 0 {
			p.Forget = minutes(30) + time.Minute
		}
		key := "k" + itoa(int64(round))
		now := wallClock()
		var want store.Attempt // the state a correct store holds
		for step := range 40 {
			now = now.Add(minutes(12))
			if fa := p.ForgetAt(want); !fa.IsZero() && !now.Before(fa) {
				want = store.Attempt{}
			}
			want = p.Next(want, now)
			got, err := s.CountAttempt(t.Context(), key, now, p)
			must(t, err)
			if got.Failures != want.Failures || !got.LockedUntil.Equal(want.LockedUntil) || !got.LastAt.Equal(want.LastAt) ||
				got.Allowed != want.Allowed || got.HardLocked != want.HardLocked {
				t.Fatalf("round %d (%+v), attempt %d at %v:\n got %+v\nwant %+v", round, p, step, now, got, want)
			}
			read, err := s.Attempts(t.Context(), key, now)
			must(t, err)
			if read.Failures != want.Failures || !read.LockedUntil.Equal(want.LockedUntil) {
				t.Fatalf("round %d, attempt %d: Attempts = %+v, want %+v", round, step, read, want)
			}
		}
	}
}
