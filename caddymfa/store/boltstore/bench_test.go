package boltstore

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// Each benchmark runs serially (one request at a time: latency) and in
// parallel (many requests at once: what batching buys).

func benchStore(b *testing.B) *Store {
	b.Helper()
	return openAt(b, filepath.Join(b.TempDir(), "mfa.db"), Options{SweepEvery: -1})
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
		// Steps rise across calls; a parallel caller may lose a race to
		// a later step, which costs the same as winning.
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
		// One realistic set per user, written in one transaction.
		err := s.db.Update(func(tx *bolt.Tx) error {
			for u := 0; u*perUser < n; u++ {
				set := make([][]byte, perUser)
				for j := range set {
					set[j] = code(j)
				}
				if err := putJSON(tx.Bucket(bucketRecovery), []byte(user(u*perUser)), recoveryRecord{Hashes: set}); err != nil {
					return err
				}
			}
			return nil
		})
		must(b, err)
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

func BenchmarkDeviceByToken(b *testing.B) {
	const devices = 1000
	t0 := time.Now()
	hash := func(i int) []byte {
		h := sha256.Sum256(strconv.AppendInt(nil, int64(i%devices), 10))
		return h[:]
	}
	benchModes(b, func(b *testing.B, s *Store, _ int) {
		// Seeded in one transaction: a save per device would time fsyncs.
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i := range devices {
				d := store.Device{
					ID: "d" + strconv.Itoa(i), User: "u" + strconv.Itoa(i%100), TokenHash: hash(i),
					Label: "bench", CreatedAt: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour),
				}
				ub, err := tx.Bucket(bucketDevices).CreateBucketIfNotExists([]byte(d.User))
				if err != nil {
					return err
				}
				if err := putJSON(ub, []byte(d.ID), d); err != nil {
					return err
				}
				if err := putJSON(tx.Bucket(bucketDeviceTokens), d.TokenHash, deviceRef{User: d.User, ID: d.ID}); err != nil {
					return err
				}
			}
			return nil
		})
		must(b, err)
	}, func(s *Store, i int) error {
		_, err := s.DeviceByToken(b.Context(), hash(i), t0)
		return err
	})
}

// BenchmarkParkTake parks a request body of the default limit and takes
// it back: the two writes a challenge in front of a POST costs.
func BenchmarkParkTake(b *testing.B) {
	data := make([]byte, 64<<10)
	benchModes(b, func(*testing.B, *Store, int) {}, func(s *Store, i int) error {
		id := "parked-" + strconv.Itoa(i)
		now := time.Now()
		if err := s.ParkRequest(b.Context(), id, data, now.Add(5*time.Minute)); err != nil {
			return err
		}
		_, err := s.TakeParkedRequest(b.Context(), id, now)
		return err
	})
}
