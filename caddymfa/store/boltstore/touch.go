package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// TouchDevice records at as the last use of user's device id, only if that
// device still exists: a device revoked meanwhile stays revoked.
func (s *Store) TouchDevice(ctx context.Context, user, id string, at time.Time) error {
	const op = "touch device"
	if err := checkKeys("user", user, "device id", id); err != nil {
		return invalid(op, err)
	}
	if at.IsZero() {
		return invalid(op, fmt.Errorf("%w: zero time", store.ErrInvalid))
	}
	now := s.now()
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		b := tx.Bucket(bucketDevices).Bucket([]byte(user))
		if b == nil {
			return store.ErrNotFound, nil
		}
		var d store.Device
		ok, err := getJSON(b, []byte(id), &d)
		switch {
		case err != nil:
			return nil, err
		case !ok || expired(d.ExpiresAt, now):
			return store.ErrNotFound, nil
		}
		if at.After(d.LastUsedAt) {
			d.LastUsedAt = at
		}
		return nil, putJSON(b, []byte(id), d)
	})
}
