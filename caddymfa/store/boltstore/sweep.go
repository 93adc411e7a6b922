package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// sweepLoop deletes expired records every interval until Close. A failed
// sweep is left for the next tick: reads ignore expired records anyway, and
// a broken file surfaces in the calls that need it.
func (s *Store) sweepLoop(every time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			_, _ = s.sweep(context.Background())
		}
	}
}

// sweep deletes every record expired by the store's clock and reports how
// many records and emptied buckets it deleted. It scans in a read
// transaction first so that an idle store costs no write and no fsync.
func (s *Store) sweep(ctx context.Context) (int, error) {
	const op = "sweep"
	now := s.now()
	var n int
	run := func(del bool) txFunc {
		return func(tx *bolt.Tx) (error, error) {
			var err error
			n, err = sweepTx(tx, now, del)
			return nil, err
		}
	}
	if err := s.read(ctx, op, run(false)); err != nil || n == 0 {
		return 0, err
	}
	if err := s.write(ctx, op, run(true)); err != nil {
		return 0, err
	}
	return n, nil
}

// deadFunc reports whether the record k, v is to be swept.
type deadFunc func(k, v []byte) (bool, error)

// sweepTx counts the records dead at now and, if del, deletes them.
// Sessions and devices go before their indexes, so index entries they
// leave behind are caught in the same pass.
func sweepTx(tx *bolt.Tx, now time.Time, del bool) (int, error) {
	sessions := tx.Bucket(bucketSessions)
	steps := []struct {
		bucket []byte
		nested bool // one bucket per user inside
		dead   deadFunc
	}{
		{bucketOnce, false, deadAfter(now, func(r *onceRecord) time.Time { return r.ExpiresAt })},
		{bucketAttempts, false, deadAfter(now, func(r *attemptRecord) time.Time { return r.ForgetAt })},
		{bucketRevocations, false, deadAfter(now, func(r *store.Revocation) time.Time { return r.ExpiresAt })},
		{bucketSessions, false, deadAfter(now, func(r *store.Session) time.Time { return r.ExpiresAt })},
		{bucketUserSessions, true, func(sid, _ []byte) (bool, error) { return sessions.Get(sid) == nil, nil }},
		{bucketFactors, true, deadAfter(now, func(f *store.FactorRecord) time.Time {
			if !f.Pending {
				return time.Time{}
			}
			return f.PendingUntil
		})},
		{bucketDevices, true, deadAfter(now, func(d *store.Device) time.Time { return d.ExpiresAt })},
		{bucketDeviceTokens, false, func(hash, _ []byte) (bool, error) {
			_, ok, err := loadDeviceByToken(tx, hash)
			return !ok, err
		}},
		{bucketParked, false, func(_, raw []byte) (bool, error) {
			at, _, err := decodeParked(raw)
			return err == nil && expired(at, now), err
		}},
	}
	total := 0
	for _, step := range steps {
		sweepOne := sweepBucket
		if step.nested {
			sweepOne = sweepPerUser
		}
		n, err := sweepOne(tx.Bucket(step.bucket), del, step.dead)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// deadAfter decodes a record of type T and reports whether the deadline
// picked from it has passed; a zero deadline never does.
func deadAfter[T any](now time.Time, deadline func(*T) time.Time) deadFunc {
	return func(_, raw []byte) (bool, error) {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return false, err
		}
		return expired(deadline(&v), now), nil
	}
}

// sweepBucket counts, and if del deletes, the dead records of b.
func sweepBucket(b *bolt.Bucket, del bool, dead deadFunc) (int, error) {
	var doomed [][]byte
	err := b.ForEach(func(k, v []byte) error {
		d, err := dead(k, v)
		if d {
			doomed = append(doomed, bytes.Clone(k))
		}
		return err
	})
	if err != nil || !del {
		return len(doomed), err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}

// sweepPerUser sweeps each per-user bucket inside parent, then deletes the
// ones left empty.
func sweepPerUser(parent *bolt.Bucket, del bool, dead deadFunc) (int, error) {
	var users [][]byte
	if err := parent.ForEachBucket(func(k []byte) error {
		users = append(users, bytes.Clone(k))
		return nil
	}); err != nil {
		return 0, err
	}
	total := 0
	for _, user := range users {
		b := parent.Bucket(user)
		n, err := sweepBucket(b, del, dead)
		if err != nil {
			return 0, err
		}
		total += n
		if del && isEmpty(b) {
			if err := parent.DeleteBucket(user); err != nil {
				return 0, err
			}
			total++
		}
	}
	return total, nil
}
