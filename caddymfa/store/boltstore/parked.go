package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// maxParked is the most data ParkRequest keeps, as the store contract
// allows.
const maxParked = 1 << 20

// parkedHeader is the size of the expiry in front of parked data: Unix
// seconds and nanoseconds, big-endian. The record is not JSON: base64
// would inflate a request body by a third.
const parkedHeader = 12

// ParkRequest keeps data under id until expiresAt.
func (s *Store) ParkRequest(ctx context.Context, id string, data []byte, expiresAt time.Time) error {
	const op = "park request"
	if err := checkKeys("parked request id", id); err != nil {
		return invalid(op, err)
	}
	if expiresAt.IsZero() {
		return invalid(op, fmt.Errorf("%w: parked request without expiry", store.ErrInvalid))
	}
	if len(data) > maxParked {
		return invalid(op, fmt.Errorf("%w: parked request is %d bytes, the limit is %d", store.ErrInvalid, len(data), maxParked))
	}
	now := s.now()
	if expired(expiresAt, now) {
		return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
			return nil, tx.Bucket(bucketParked).Delete([]byte(id))
		})
	}
	rec := encodeParked(expiresAt, data) // a copy: the caller may reuse data
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		return nil, tx.Bucket(bucketParked).Put([]byte(id), rec)
	})
}

// TakeParkedRequest returns and deletes the data parked under id, unless
// it expired by now.
func (s *Store) TakeParkedRequest(ctx context.Context, id string, now time.Time) ([]byte, error) {
	const op = "take parked request"
	if err := checkKeys("parked request id", id); err != nil {
		return nil, invalid(op, err)
	}
	var out []byte
	err := s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		out = nil
		b := tx.Bucket(bucketParked)
		raw := b.Get([]byte(id))
		if raw == nil {
			return store.ErrNotFound, nil
		}
		at, data, err := decodeParked(raw)
		if err != nil {
			return nil, err
		}
		// Copied before the delete: bolt's memory is only lent for the
		// transaction.
		data = bytes.Clone(data)
		if err := b.Delete([]byte(id)); err != nil {
			return nil, err
		}
		if expired(at, now) {
			return store.ErrNotFound, nil
		}
		out = data
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func encodeParked(expiresAt time.Time, data []byte) []byte {
	rec := make([]byte, parkedHeader, parkedHeader+len(data))
	binary.BigEndian.PutUint64(rec, uint64(expiresAt.Unix()))
	binary.BigEndian.PutUint32(rec[8:], uint32(expiresAt.Nanosecond()))
	return append(rec, data...)
}

// decodeParked splits a parked record into its expiry and data; the data
// aliases rec.
func decodeParked(rec []byte) (time.Time, []byte, error) {
	if len(rec) < parkedHeader {
		return time.Time{}, nil, errors.New("decode parked request: record too short")
	}
	at := time.Unix(int64(binary.BigEndian.Uint64(rec)), int64(binary.BigEndian.Uint32(rec[8:])))
	return at, rec[parkedHeader:], nil
}
