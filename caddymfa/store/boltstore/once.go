package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// onceRecord is a single-use marker.
type onceRecord struct {
	ExpiresAt time.Time `json:"expires_at"`
}

// firstSeenRecord is when a user was first seen.
type firstSeenRecord struct {
	At time.Time `json:"at"`
}

// UseOnce marks key as used until expiresAt.
func (s *Store) UseOnce(ctx context.Context, key string, expiresAt time.Time) error {
	const op = "use once"
	if err := checkOnce(key, expiresAt); err != nil {
		return invalid(op, err)
	}
	now := s.now()
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		put, outcome, err := onceToUse(tx, key, expiresAt, now)
		if outcome != nil || err != nil {
			return outcome, err
		}
		return nil, put()
	})
}

// OnceUsed reports whether key is marked used and not expired.
func (s *Store) OnceUsed(ctx context.Context, key string) (bool, error) {
	const op = "once used"
	if err := checkKeys("once key", key); err != nil {
		return false, invalid(op, err)
	}
	now := s.now()
	var used bool
	err := s.read(ctx, op, func(tx *bolt.Tx) (error, error) {
		var old onceRecord
		ok, err := getJSON(tx.Bucket(bucketOnce), []byte(key), &old)
		used = ok && !expired(old.ExpiresAt, now)
		return nil, err
	})
	return used, err
}

// checkOnce is UseOnce's check of its arguments.
func checkOnce(key string, expiresAt time.Time) error {
	if err := checkKeys("once key", key); err != nil {
		return err
	}
	if expiresAt.IsZero() {
		return fmt.Errorf("%w: once marker without expiry", store.ErrInvalid)
	}
	return nil
}

// onceToUse checks that key is not marked used at now and returns the
// write that marks it, so that a caller can check more before it writes
// anything (as stepToUse does).
func onceToUse(tx *bolt.Tx, key string, expiresAt, now time.Time) (put func() error, outcome, err error) {
	b := tx.Bucket(bucketOnce)
	var old onceRecord
	ok, err := getJSON(b, []byte(key), &old)
	switch {
	case err != nil:
		return nil, nil, err
	case ok && !expired(old.ExpiresAt, now):
		return nil, store.ErrReplay, nil
	case expired(expiresAt, now):
		return func() error { return b.Delete([]byte(key)) }, nil, nil
	}
	return func() error { return putJSON(b, []byte(key), onceRecord{ExpiresAt: expiresAt}) }, nil, nil
}

// FirstSeen returns when user was first seen, recording now if never.
func (s *Store) FirstSeen(ctx context.Context, user string, now time.Time) (time.Time, error) {
	const op = "first seen"
	if err := checkKeys("user", user); err != nil {
		return time.Time{}, invalid(op, err)
	}
	if now.IsZero() {
		return time.Time{}, invalid(op, fmt.Errorf("%w: zero time", store.ErrInvalid))
	}
	var rec firstSeenRecord
	var found bool
	// Most calls find the user already recorded; a read spares them a
	// write transaction and its fsync.
	err := s.read(ctx, op, func(tx *bolt.Tx) (error, error) {
		var err error
		found, err = getJSON(tx.Bucket(bucketFirstSeen), []byte(user), &rec)
		return nil, err
	})
	if err != nil || found {
		return rec.At, err
	}
	err = s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		b := tx.Bucket(bucketFirstSeen)
		ok, err := getJSON(b, []byte(user), &rec)
		if err != nil || ok {
			return nil, err
		}
		rec = firstSeenRecord{At: now}
		return nil, putJSON(b, []byte(user), rec)
	})
	if err != nil {
		return time.Time{}, err
	}
	return rec.At, nil
}
