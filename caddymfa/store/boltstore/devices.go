package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// deviceRef is the value of a token index entry: whose device the hash
// opens.
type deviceRef struct {
	User string `json:"user"`
	ID   string `json:"id"`
}

// SaveDevice stores d under its user and indexes it by token hash, first
// dropping the device it replaces and any other device holding the hash.
func (s *Store) SaveDevice(ctx context.Context, d store.Device) error {
	const op = "save device"
	if err := checkKeys("user", d.User, "device id", d.ID); err != nil {
		return invalid(op, err)
	}
	if err := checkTokenHash(d.TokenHash); err != nil {
		return invalid(op, err)
	}
	if d.ExpiresAt.IsZero() {
		return invalid(op, fmt.Errorf("%w: device without expiry", store.ErrInvalid))
	}
	d.TokenHash = bytes.Clone(d.TokenHash) // bolt keeps keys until commit
	now := s.now()
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		if _, _, err := deleteDevice(tx, d.User, d.ID); err != nil {
			return nil, err
		}
		if err := deleteDeviceByToken(tx, d.TokenHash); err != nil {
			return nil, err
		}
		if expired(d.ExpiresAt, now) {
			return nil, nil
		}
		b, err := tx.Bucket(bucketDevices).CreateBucketIfNotExists([]byte(d.User))
		if err != nil {
			return nil, err
		}
		if err := putJSON(b, []byte(d.ID), d); err != nil {
			return nil, err
		}
		return nil, putJSON(tx.Bucket(bucketDeviceTokens), d.TokenHash, deviceRef{User: d.User, ID: d.ID})
	})
}

// DeviceByToken finds the device tokenHash opens, if unexpired at now.
func (s *Store) DeviceByToken(ctx context.Context, tokenHash []byte, now time.Time) (store.Device, error) {
	const op = "find device"
	if err := checkTokenHash(tokenHash); err != nil {
		return store.Device{}, invalid(op, err)
	}
	var d store.Device
	err := s.read(ctx, op, func(tx *bolt.Tx) (error, error) {
		var ok bool
		var err error
		d, ok, err = loadDeviceByToken(tx, tokenHash)
		switch {
		case err != nil:
			return nil, err
		case !ok || expired(d.ExpiresAt, now):
			return store.ErrNotFound, nil
		}
		return nil, nil
	})
	if err != nil {
		return store.Device{}, err
	}
	return d, nil
}

// Devices lists user's devices unexpired at now, by CreatedAt, then ID.
func (s *Store) Devices(ctx context.Context, user string, now time.Time) ([]store.Device, error) {
	const op = "list devices"
	if err := checkKeys("user", user); err != nil {
		return nil, invalid(op, err)
	}
	var out []store.Device
	err := s.read(ctx, op, func(tx *bolt.Tx) (error, error) {
		out = nil
		b := tx.Bucket(bucketDevices).Bucket([]byte(user))
		if b == nil {
			return nil, nil
		}
		return nil, b.ForEach(func(k, _ []byte) error {
			var d store.Device
			if _, err := getJSON(b, k, &d); err != nil {
				return err
			}
			if !expired(d.ExpiresAt, now) {
				out = append(out, d)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Device) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteDevice removes one of user's devices and its token index entry.
func (s *Store) DeleteDevice(ctx context.Context, user, deviceID string) error {
	const op = "delete device"
	if err := checkKeys("user", user, "device id", deviceID); err != nil {
		return invalid(op, err)
	}
	now := s.now()
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		d, ok, err := deleteDevice(tx, user, deviceID)
		if err != nil {
			return nil, err
		}
		// An expired device not yet swept is deleted all the same, but it
		// was already gone for the caller.
		if !ok || expired(d.ExpiresAt, now) {
			return store.ErrNotFound, nil
		}
		return nil, nil
	})
}

// DeleteDevices removes all of user's devices and their index entries,
// counting those still in force.
func (s *Store) DeleteDevices(ctx context.Context, user string) (int, error) {
	const op = "delete devices"
	if err := checkKeys("user", user); err != nil {
		return 0, invalid(op, err)
	}
	now := s.now()
	var n int
	err := s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		n = 0
		all := tx.Bucket(bucketDevices)
		b := all.Bucket([]byte(user))
		if b == nil {
			return nil, nil
		}
		err := b.ForEach(func(k, _ []byte) error {
			var d store.Device
			if _, err := getJSON(b, k, &d); err != nil {
				return err
			}
			if !expired(d.ExpiresAt, now) {
				n++
			}
			return unindexDevice(tx, d)
		})
		if err != nil {
			return nil, err
		}
		return nil, all.DeleteBucket([]byte(user))
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// checkTokenHash bounds a token hash as CheckKey bounds keys. Any bytes
// are allowed: it is a digest, and bolt keys are raw bytes.
func checkTokenHash(h []byte) error {
	switch {
	case len(h) == 0:
		return fmt.Errorf("%w: empty token hash", store.ErrInvalid)
	case len(h) > store.MaxKeyLen:
		return fmt.Errorf("%w: token hash is %d bytes, the limit is %d", store.ErrInvalid, len(h), store.MaxKeyLen)
	}
	return nil
}

// loadDeviceByToken follows the token index to a device. An entry whose
// device is gone or holds another hash now finds nothing.
func loadDeviceByToken(tx *bolt.Tx, tokenHash []byte) (store.Device, bool, error) {
	var ref deviceRef
	ok, err := getJSON(tx.Bucket(bucketDeviceTokens), tokenHash, &ref)
	if err != nil || !ok {
		return store.Device{}, false, err
	}
	b := tx.Bucket(bucketDevices).Bucket([]byte(ref.User))
	if b == nil {
		return store.Device{}, false, nil
	}
	var d store.Device
	ok, err = getJSON(b, []byte(ref.ID), &d)
	if err != nil || !ok || !bytes.Equal(d.TokenHash, tokenHash) {
		return store.Device{}, false, err
	}
	return d, true, nil
}

// deleteDevice removes user's device id, its index entry and the user's
// bucket once empty, returning the device it removed.
func deleteDevice(tx *bolt.Tx, user, id string) (store.Device, bool, error) {
	all := tx.Bucket(bucketDevices)
	b := all.Bucket([]byte(user))
	if b == nil {
		return store.Device{}, false, nil
	}
	var d store.Device
	ok, err := getJSON(b, []byte(id), &d)
	if err != nil || !ok {
		return store.Device{}, false, err
	}
	if err := b.Delete([]byte(id)); err != nil {
		return store.Device{}, false, err
	}
	if err := unindexDevice(tx, d); err != nil {
		return store.Device{}, false, err
	}
	if isEmpty(b) {
		if err := all.DeleteBucket([]byte(user)); err != nil {
			return store.Device{}, false, err
		}
	}
	return d, true, nil
}

// deleteDeviceByToken removes the device tokenHash opens, if any, so that
// the hash can be given to another.
func deleteDeviceByToken(tx *bolt.Tx, tokenHash []byte) error {
	d, ok, err := loadDeviceByToken(tx, tokenHash)
	if err != nil {
		return err
	}
	if ok {
		_, _, err = deleteDevice(tx, d.User, d.ID)
		return err
	}
	// A stale entry (its device gone) is dropped all the same.
	return tx.Bucket(bucketDeviceTokens).Delete(tokenHash)
}

// unindexDevice drops d's token index entry if it still points at d; an
// entry taken over by another device stays.
func unindexDevice(tx *bolt.Tx, d store.Device) error {
	idx := tx.Bucket(bucketDeviceTokens)
	var ref deviceRef
	ok, err := getJSON(idx, d.TokenHash, &ref)
	if err != nil || !ok || ref != (deviceRef{User: d.User, ID: d.ID}) {
		return err
	}
	return idx.Delete(d.TokenHash)
}
