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
		return useOnce(tx, key, expiresAt, now)
	})
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

// useOnce is UseOnce inside tx.
func useOnce(tx *bolt.Tx, key string, expiresAt, now time.Time) (outcome, err error) {
	switch spent, err := onceSpent(tx, key, now); {
	case err != nil:
		return nil, err
	case spent:
		return store.ErrReplay, nil
	}
	b := tx.Bucket(bucketOnce)
	if expired(expiresAt, now) {
		return nil, b.Delete([]byte(key))
	}
	return nil, putJSON(b, []byte(key), onceRecord{ExpiresAt: expiresAt})
}

// onceSpent reports whether key is marked used at now.
func onceSpent(tx *bolt.Tx, key string, now time.Time) (bool, error) {
	var old onceRecord
	ok, err := getJSON(tx.Bucket(bucketOnce), []byte(key), &old)
	return ok && !expired(old.ExpiresAt, now), err
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
