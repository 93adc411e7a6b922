package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// touchDeviceScript. KEYS: user hash, token key. ARGV: device ID, expected
// index entry, expected device record, new record. Returns 0 when
// something moved, -1 when the device is gone.
var touchDeviceScript = script(`
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return -1 end
if entry ~= ARGV[2] then return 0 end
local cur = redis.call('GET', KEYS[2])
if not cur then return -1 end
if cur ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[2], ARGV[4], 'KEEPTTL')
return 1
`)

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
	if err := s.usable(op); err != nil {
		return err
	}
	userKey := s.keys.userDevices(user)
	for range maxRetries {
		entry, err := s.client.HGet(ctx, userKey, id).Result()
		switch {
		case isNil(err):
			return outcome(op, store.ErrNotFound)
		case err != nil:
			return failed(op, err)
		}
		exp, tokenHash, err := parseIndexEntry(entry)
		if err != nil {
			return failed(op, err)
		}
		if expired(exp, s.now()) {
			return outcome(op, store.ErrNotFound)
		}
		tokenKey := s.keys.deviceToken(tokenHash)
		raw, err := s.client.Get(ctx, tokenKey).Bytes()
		switch {
		case isNil(err):
			return outcome(op, store.ErrNotFound)
		case err != nil:
			return failed(op, err)
		}
		d, err := decodeDevice(tokenHash, raw)
		if err != nil {
			return failed(op, err)
		}
		if !at.After(d.LastUsedAt) {
			return nil
		}
		d.LastUsedAt = at
		n, err := touchDeviceScript.Run(ctx, s.client, []string{userKey, tokenKey}, id, entry, string(raw), encodeDevice(d)).Int()
		switch {
		case err != nil && err != redis.Nil:
			return failed(op, err)
		case n == 1:
			return nil
		case n == -1:
			return outcome(op, store.ErrNotFound)
		}
	}
	return failed(op, errContention)
}
