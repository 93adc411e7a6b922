package boltstore

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// attemptRecord is a stored counter. ForgetAt is fixed by the policy of the
// last count, so Attempts and the sweep can honour it without a policy.
type attemptRecord struct {
	store.Attempt
	ForgetAt time.Time `json:"forget_at,omitzero"`
}

// CountAttempt counts one attempt against key under policy.
func (s *Store) CountAttempt(ctx context.Context, key string, now time.Time, policy store.LockPolicy) (store.Attempt, error) {
	const op = "count attempt"
	if err := checkKeys("attempt key", key); err != nil {
		return store.Attempt{}, invalid(op, err)
	}
	var next store.Attempt
	err := s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		b := tx.Bucket(bucketAttempts)
		prev, err := loadAttempt(b, key, now)
		if err != nil {
			return nil, err
		}
		next = policy.Next(prev, now)
		return nil, putJSON(b, []byte(key), attemptRecord{Attempt: next, ForgetAt: policy.ForgetAt(next)})
	})
	if err != nil {
		return store.Attempt{}, err
	}
	return next, nil
}

// ResetAttempts deletes key's counter.
func (s *Store) ResetAttempts(ctx context.Context, key string) error {
	const op = "reset attempts"
	if err := checkKeys("attempt key", key); err != nil {
		return invalid(op, err)
	}
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		return nil, tx.Bucket(bucketAttempts).Delete([]byte(key))
	})
}

// Attempts reads key's counter as of now.
func (s *Store) Attempts(ctx context.Context, key string, now time.Time) (store.Attempt, error) {
	const op = "read attempts"
	if err := checkKeys("attempt key", key); err != nil {
		return store.Attempt{}, invalid(op, err)
	}
	var a store.Attempt
	err := s.read(ctx, op, func(tx *bolt.Tx) (error, error) {
		var err error
		a, err = loadAttempt(tx.Bucket(bucketAttempts), key, now)
		return nil, err
	})
	if err != nil {
		return store.Attempt{}, err
	}
	return a, nil
}

// loadAttempt returns key's counter, or the zero counter if there is none
// or it was forgotten by now.
func loadAttempt(b *bolt.Bucket, key string, now time.Time) (store.Attempt, error) {
	var rec attemptRecord
	ok, err := getJSON(b, []byte(key), &rec)
	if err != nil || !ok || expired(rec.ForgetAt, now) {
		return store.Attempt{}, err
	}
	return rec.Attempt, nil
}
