package boltstore

import (
	"context"
	"crypto/subtle"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// recoveryRecord is the unused recovery code hashes of one user.
type recoveryRecord struct {
	Hashes [][]byte `json:"hashes"`
}

// ReplaceRecoveryCodes stores hashes as user's whole set; an empty set
// deletes it.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, user string, hashes [][]byte) error {
	const op = "replace recovery codes"
	if err := checkKeys("user", user); err != nil {
		return invalid(op, err)
	}
	if err := store.CheckRecoveryHashes(hashes); err != nil {
		return invalid(op, err)
	}
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		b := tx.Bucket(bucketRecovery)
		if len(hashes) == 0 {
			return nil, b.Delete([]byte(user))
		}
		return nil, putJSON(b, []byte(user), recoveryRecord{Hashes: hashes})
	})
}

// ConsumeRecoveryCode removes the first candidate found in user's set.
func (s *Store) ConsumeRecoveryCode(ctx context.Context, user string, candidates [][]byte) (int, error) {
	const op = "consume recovery code"
	if err := checkKeys("user", user); err != nil {
		return 0, invalid(op, err)
	}
	var remaining int
	err := s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		remaining = 0
		b := tx.Bucket(bucketRecovery)
		var rec recoveryRecord
		if _, err := getJSON(b, []byte(user), &rec); err != nil {
			return nil, err
		}
		i := findCandidate(rec.Hashes, candidates)
		if i < 0 {
			remaining = len(rec.Hashes)
			return store.ErrNotFound, nil
		}
		rec.Hashes = append(rec.Hashes[:i], rec.Hashes[i+1:]...)
		remaining = len(rec.Hashes)
		if remaining == 0 {
			return nil, b.Delete([]byte(user))
		}
		return nil, putJSON(b, []byte(user), rec)
	})
	if err != nil {
		return 0, err
	}
	return remaining, nil
}

// RecoveryCodesLeft counts user's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, user string) (int, error) {
	const op = "count recovery codes"
	if err := checkKeys("user", user); err != nil {
		return 0, invalid(op, err)
	}
	var n int
	err := s.read(ctx, op, func(tx *bolt.Tx) (error, error) {
		var rec recoveryRecord
		_, err := getJSON(tx.Bucket(bucketRecovery), []byte(user), &rec)
		n = len(rec.Hashes)
		return nil, err
	})
	return n, err
}

// findCandidate returns the index in set of the first candidate present,
// or -1. Hashes are compared in constant time: they are keyed digests of a
// secret.
func findCandidate(set, candidates [][]byte) int {
	for _, c := range candidates {
		if len(c) == 0 {
			continue
		}
		for i, h := range set {
			if subtle.ConstantTimeCompare(c, h) == 1 {
				return i
			}
		}
	}
	return -1
}
