package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// maxParked bounds one parked request, as the contract says.
const maxParked = 1 << 20

// A parked request is "<expires>," followed by the data, expiring with it;
// GETDEL hands it to exactly one taker.

// ParkRequest keeps data under id until expiresAt.
func (s *Store) ParkRequest(ctx context.Context, id string, data []byte, expiresAt time.Time) error {
	const op = "park request"
	if err := checkKeys("parked request id", id); err != nil {
		return invalid(op, err)
	}
	if err := needExpiry("parked request", expiresAt); err != nil {
		return invalid(op, err)
	}
	if len(data) > maxParked {
		return invalid(op, fmt.Errorf("%w: parked request of %d bytes, the limit is %d", store.ErrInvalid, len(data), maxParked))
	}
	if err := s.usable(op); err != nil {
		return err
	}
	key := s.keys.parked(id)
	var err error
	if expired(expiresAt, s.now()) {
		err = s.client.Del(ctx, key).Err()
	} else {
		v := make([]byte, 0, len(data)+16)
		v = append(v, itoa(ms(expiresAt))+","...)
		v = append(v, data...)
		err = s.client.SetArgs(ctx, key, v, redis.SetArgs{ExpireAt: fromMS(ms(expiresAt))}).Err()
	}
	if err != nil {
		return failed(op, err)
	}
	return nil
}

// TakeParkedRequest returns and deletes the data parked under id.
func (s *Store) TakeParkedRequest(ctx context.Context, id string, now time.Time) ([]byte, error) {
	const op = "take parked request"
	if err := checkKeys("parked request id", id); err != nil {
		return nil, invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return nil, err
	}
	v, err := s.client.GetDel(ctx, s.keys.parked(id)).Result()
	switch {
	case isNil(err):
		return nil, outcome(op, store.ErrNotFound)
	case err != nil:
		return nil, failed(op, err)
	}
	h, data, err := splitHeader(v, 1)
	if err != nil {
		return nil, failed(op, err)
	}
	if expired(fromMS(h[0]), now) {
		return nil, outcome(op, store.ErrNotFound)
	}
	return []byte(data), nil
}
