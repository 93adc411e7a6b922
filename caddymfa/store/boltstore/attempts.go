package boltstore

import (
	"context"
	"fmt"
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

// CountAndStart counts one attempt against key and, when check answers a
// start, writes it in the same transaction: a sign-in's one commit.
func (s *Store) CountAndStart(ctx context.Context, key string, now time.Time, policy store.LockPolicy,
	check func(store.Attempt) (*store.SessionStart, error)) (store.Attempt, error) {
	const op = "count and start"
	if err := checkKeys("attempt key", key); err != nil {
		return store.Attempt{}, invalid(op, err)
	}
	clock := s.now()
	var next store.Attempt
	var refused, outcome error
	err := s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		refused, outcome = nil, nil
		b := tx.Bucket(bucketAttempts)
		prev, err := loadAttempt(b, key, now)
		if err != nil {
			return nil, err
		}
		next = policy.Next(prev, now)
		if err := putJSON(b, []byte(key), attemptRecord{Attempt: next, ForgetAt: policy.ForgetAt(next)}); err != nil {
			return nil, err
		}
		start, err := check(next)
		switch {
		case err != nil:
			refused = err
			return nil, nil
		case start == nil:
			return nil, nil
		}
		if outcome = start.Check(); outcome != nil {
			return nil, nil
		}
		outcome, err = startSession(tx, *start, clock)
		return nil, err
	})
	switch {
	case err != nil:
		return store.Attempt{}, err
	case refused != nil:
		return next, refused
	case outcome != nil:
		return next, fmt.Errorf("boltstore: %s: %w", op, outcome)
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
