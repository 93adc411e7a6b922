package redisstore

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// The same operations, names and modes as boltstore's benchmarks, so the
// two stores compare: serially (latency, one round trip each) and in
// parallel (throughput over the client's pool).

func benchStore(b *testing.B) *Store {
	b.Helper()
	return openStore(b, testenv.Redis(b), uniquePrefix(), Options{})
}

// benchModes runs op(i) for i = 0, 1, … serially and in parallel.
func benchModes(b *testing.B, setup func(b *testing.B, s *Store, n int), op func(s *Store, i int) error) {
	b.Run("serial", func(b *testing.B) {
		s := benchStore(b)
		setup(b, s, b.N)
		b.ResetTimer()
		for i := range b.N {
			if err := op(s, i); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		s := benchStore(b)
		setup(b, s, b.N)
		var next atomic.Int64
		b.ResetTimer()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(s, int(next.Add(1)-1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkUseStep(b *testing.B) {
	const factors = 64
	t0 := time.Now()
	var step atomic.Int64
	benchModes(b, func(b *testing.B, s *Store, _ int) {
		for i := range factors {
			must(b, s.SaveFactor(b.Context(), "alice", store.FactorRecord{ID: strconv.Itoa(i), Type: "totp", CreatedAt: t0}))
		}
	}, func(s *Store, i int) error {
		err := s.UseStep(b.Context(), "alice", strconv.Itoa(i%factors), step.Add(1))
		if errors.Is(err, store.ErrReplay) {
			return nil
		}
		return err
	})
}

func BenchmarkCountAttempt(b *testing.B) {
	p := store.LockPolicy{Threshold: 5, Locks: []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour}, HardCap: 100}
	benchModes(b, func(*testing.B, *Store, int) {}, func(s *Store, i int) error {
		_, err := s.CountAttempt(b.Context(), "user:"+strconv.Itoa(i%1000), time.Now(), p)
		return err
	})
}

func BenchmarkConsumeRecoveryCode(b *testing.B) {
	const perUser = 10
	code := func(i int) []byte { return fmt.Appendf(nil, "hash-%d", i%perUser) }
	user := func(i int) string { return "u" + strconv.Itoa(i/perUser) }
	benchModes(b, func(b *testing.B, s *Store, n int) {
		for u := 0; u*perUser < n; u++ {
			set := make([][]byte, perUser)
			for j := range set {
				set[j] = code(j)
			}
			must(b, s.ReplaceRecoveryCodes(b.Context(), user(u*perUser), set))
		}
	}, func(s *Store, i int) error {
		_, err := s.ConsumeRecoveryCode(b.Context(), user(i), [][]byte{[]byte("other-key"), code(i)})
		return err
	})
}

func BenchmarkSaveSession(b *testing.B) {
	t0 := time.Now()
	benchModes(b, func(*testing.B, *Store, int) {}, func(s *Store, i int) error {
		return s.SaveSession(b.Context(), store.Session{
			ID:        "session-" + strconv.Itoa(i),
			User:      "u" + strconv.Itoa(i%100),
			CreatedAt: t0,
			ExpiresAt: t0.Add(12 * time.Hour),
			AMR:       []string{"pwd", "otp", "mfa"},
			ClientIP:  "192.0.2.1",
			UserAgent: "bench",
		})
	})
}

// The other store calls of a sign-in: reading the factors, spending the
// mfa_token, and the logout that every instance must hear of.

func BenchmarkFactors(b *testing.B) {
	t0 := time.Now()
	benchModes(b, func(b *testing.B, s *Store, _ int) {
		for u := range 100 {
			must(b, s.SaveFactor(b.Context(), "u"+strconv.Itoa(u), store.FactorRecord{
				ID: "f", Type: "totp", Label: "Authenticator app", Secret: make([]byte, 58), CreatedAt: t0,
			}))
		}
	}, func(s *Store, i int) error {
		_, err := s.Factors(b.Context(), "u"+strconv.Itoa(i%100))
		return err
	})
}

func BenchmarkUseOnce(b *testing.B) {
	exp := time.Now().Add(5 * time.Minute)
	benchModes(b, func(*testing.B, *Store, int) {}, func(s *Store, i int) error {
		return s.UseOnce(b.Context(), "mfa_token:"+strconv.Itoa(i), exp)
	})
}

func BenchmarkRevoke(b *testing.B) {
	exp := time.Now().Add(12 * time.Hour)
	benchModes(b, func(*testing.B, *Store, int) {}, func(s *Store, i int) error {
		return s.Revoke(b.Context(), store.Revocation{SessionID: "session-" + strconv.Itoa(i), User: "u", ExpiresAt: exp})
	})
}
