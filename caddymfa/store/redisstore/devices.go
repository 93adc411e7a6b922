package redisstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// Trusted devices: the token key holds the device and expires with it; the
// user's hash maps device ID → "<expires>,<token hash>". Every key lives
// in the {dv} slot, so one script changes the token index and the user's
// list together. A script may only touch keys it is given, and which keys
// those are depends on what is stored, so each change reads first and
// the script then checks nothing moved in between (compare and set),
// else the change is retried.

// maxRetries bounds the compare-and-set loop; losing that often means a
// client is hammering one device.
const maxRetries = 16

var errContention = errors.New("device changed concurrently too often")

func encodeDevice(d store.Device) []byte {
	e := newEncoder(48 + len(d.User) + len(d.ID) + len(d.Label))
	e.str(d.User)
	e.str(d.ID)
	e.str(d.Label)
	e.time(d.CreatedAt)
	e.time(d.LastUsedAt)
	e.time(d.ExpiresAt)
	return e.b
}

func decodeDevice(tokenHash, v []byte) (store.Device, error) {
	dec := newDecoder(v)
	d := store.Device{
		User:       dec.str(),
		ID:         dec.str(),
		Label:      dec.str(),
		CreatedAt:  dec.time(),
		LastUsedAt: dec.time(),
		ExpiresAt:  dec.time(),
		TokenHash:  bytes.Clone(tokenHash),
	}
	return d, dec.err
}

// indexEntry is a user hash value: the device's expiry and token hash.
func indexEntry(expiresAt time.Time, tokenHash []byte) string {
	return itoa(ms(expiresAt)) + "," + string(tokenHash)
}

func parseIndexEntry(v string) (time.Time, []byte, error) {
	h, tok, err := splitHeader(v, 1)
	if err != nil {
		return time.Time{}, nil, err
	}
	return fromMS(h[0]), []byte(tok), nil
}

// luaPruneDevices drops index entries whose device has expired at now;
// their token keys expire by themselves.
const luaPruneDevices = `
local function prune_devices(key, now)
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    if tonumber(string.match(all[i + 1], '^(%-?%d+),')) <= now then
      redis.call('HDEL', key, all[i])
    end
  end
end
`

// saveDeviceScript. KEYS: user hash, new token key, old token key (the
// new one if none), hash of the device holding the new token (the user
// hash if none). ARGV: device ID, expected index entry, expected token key
// value, ID of the other device holding the token ("" if none), index
// entry, device, expires, now. Returns 0 when something moved.
var saveDeviceScript = script(luaExpireNoSooner, luaPruneDevices, `
if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] then return 0 end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[3] then return 0 end
if ARGV[4] ~= '' then redis.call('HDEL', KEYS[4], ARGV[4]) end
if KEYS[3] ~= KEYS[2] then redis.call('DEL', KEYS[3]) end
local exp, now = tonumber(ARGV[7]), tonumber(ARGV[8])
prune_devices(KEYS[1], now)
if exp <= now then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  return 1
end
redis.call('SET', KEYS[2], ARGV[6], 'PXAT', exp)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
expire_no_sooner(KEYS[1], exp)
return 1
`)

// SaveDevice stores d under its user and indexes it by token hash,
// dropping the device it replaces and any other device holding the hash.
func (s *Store) SaveDevice(ctx context.Context, d store.Device) error {
	const op = "save device"
	if err := checkKeys("user", d.User, "device id", d.ID); err != nil {
		return invalid(op, err)
	}
	if err := checkTokenHash(d.TokenHash); err != nil {
		return invalid(op, err)
	}
	if err := needExpiry("device", d.ExpiresAt); err != nil {
		return invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return err
	}
	userKey, tokenKey := s.keys.userDevices(d.User), s.keys.deviceToken(d.TokenHash)
	record := encodeDevice(d)
	for range maxRetries {
		var entry, holder *redis.StringCmd
		_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			entry = p.HGet(ctx, userKey, d.ID)
			holder = p.Get(ctx, tokenKey)
			return nil
		})
		if err := realErr(entry, holder); err != nil {
			return failed(op, err)
		}
		oldEntry, oldTokenKey := entry.Val(), tokenKey
		if oldEntry != "" {
			_, oldToken, err := parseIndexEntry(oldEntry)
			if err != nil {
				return failed(op, err)
			}
			oldTokenKey = s.keys.deviceToken(oldToken)
		}
		holderKey, holderID := userKey, ""
		if raw := holder.Val(); raw != "" {
			other, err := decodeDevice(d.TokenHash, []byte(raw))
			if err != nil {
				return failed(op, err)
			}
			if other.User != d.User || other.ID != d.ID {
				holderKey, holderID = s.keys.userDevices(other.User), other.ID
			}
		}
		n, err := saveDeviceScript.Run(ctx, s.client, []string{userKey, tokenKey, oldTokenKey, holderKey},
			d.ID, oldEntry, holder.Val(), holderID, indexEntry(d.ExpiresAt, d.TokenHash), record,
			ms(d.ExpiresAt), ms(s.now())).Int()
		if err != nil {
			return failed(op, err)
		}
		if n == 1 {
			return nil
		}
	}
	return failed(op, errContention)
}

// DeviceByToken finds the device whose token hash is tokenHash.
func (s *Store) DeviceByToken(ctx context.Context, tokenHash []byte, now time.Time) (store.Device, error) {
	const op = "find device"
	if err := checkTokenHash(tokenHash); err != nil {
		return store.Device{}, invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return store.Device{}, err
	}
	raw, err := s.client.Get(ctx, s.keys.deviceToken(tokenHash)).Bytes()
	switch {
	case isNil(err):
		return store.Device{}, outcome(op, store.ErrNotFound)
	case err != nil:
		return store.Device{}, failed(op, err)
	}
	d, err := decodeDevice(tokenHash, raw)
	if err != nil {
		return store.Device{}, failed(op, err)
	}
	if expired(d.ExpiresAt, now) {
		return store.Device{}, outcome(op, store.ErrNotFound)
	}
	return d, nil
}

// Devices lists user's devices unexpired at now, by CreatedAt, then ID.
func (s *Store) Devices(ctx context.Context, user string, now time.Time) ([]store.Device, error) {
	const op = "list devices"
	if err := checkKeys("user", user); err != nil {
		return nil, invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return nil, err
	}
	index, err := s.client.HGetAll(ctx, s.keys.userDevices(user)).Result()
	if err != nil {
		return nil, failed(op, err)
	}
	ids := make([]string, 0, len(index))
	tokens := make([][]byte, 0, len(index))
	tokenKeys := make([]string, 0, len(index))
	for id, v := range index {
		exp, tok, err := parseIndexEntry(v)
		if err != nil {
			return nil, failed(op, err)
		}
		if !expired(exp, now) {
			ids, tokens, tokenKeys = append(ids, id), append(tokens, tok), append(tokenKeys, s.keys.deviceToken(tok))
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	vals, err := s.client.MGet(ctx, tokenKeys...).Result()
	if err != nil {
		return nil, failed(op, err)
	}
	var out []store.Device
	for i, v := range vals {
		raw, ok := v.(string)
		if !ok {
			continue
		}
		d, err := decodeDevice(tokens[i], []byte(raw))
		if err != nil {
			return nil, failed(op, err)
		}
		if d.User == user && d.ID == ids[i] && !expired(d.ExpiresAt, now) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b store.Device) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// deleteDeviceScript. KEYS: user hash, token key. ARGV: device ID,
// expected index entry, now. Returns 0 when the entry moved, 1 when a
// device in force was deleted, 2 when an expired one was.
var deleteDeviceScript = script(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
if tonumber(string.match(v, '^(%-?%d+),')) <= tonumber(ARGV[3]) then return 2 end
return 1
`)

// DeleteDevice removes one of user's devices.
func (s *Store) DeleteDevice(ctx context.Context, user, deviceID string) error {
	const op = "delete device"
	if err := checkKeys("user", user, "device id", deviceID); err != nil {
		return invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return err
	}
	userKey := s.keys.userDevices(user)
	for range maxRetries {
		entry, err := s.client.HGet(ctx, userKey, deviceID).Result()
		switch {
		case isNil(err):
			return outcome(op, store.ErrNotFound)
		case err != nil:
			return failed(op, err)
		}
		_, tok, err := parseIndexEntry(entry)
		if err != nil {
			return failed(op, err)
		}
		n, err := deleteDeviceScript.Run(ctx, s.client, []string{userKey, s.keys.deviceToken(tok)}, deviceID, entry, ms(s.now())).Int()
		switch {
		case err != nil:
			return failed(op, err)
		case n == 1:
			return nil
		case n == 2:
			return outcome(op, store.ErrNotFound)
		}
	}
	return failed(op, errContention)
}

// deleteDevicesScript. KEYS: user hash, then the token keys of its
// entries. ARGV: now, then the expected entries as ID, value pairs.
// Returns how many devices in force were deleted, or -1 when the list
// moved.
var deleteDevicesScript = script(`
local n = (#ARGV - 1) / 2
if redis.call('HLEN', KEYS[1]) ~= n then return -1 end
local now, live = tonumber(ARGV[1]), 0
for i = 1, n do
  local v = ARGV[2 * i + 1]
  if redis.call('HGET', KEYS[1], ARGV[2 * i]) ~= v then return -1 end
  if tonumber(string.match(v, '^(%-?%d+),')) > now then live = live + 1 end
end
redis.call('DEL', unpack(KEYS))
return live
`)

// DeleteDevices removes all of user's devices at once.
func (s *Store) DeleteDevices(ctx context.Context, user string) (int, error) {
	const op = "delete devices"
	if err := checkKeys("user", user); err != nil {
		return 0, invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return 0, err
	}
	userKey := s.keys.userDevices(user)
	for range maxRetries {
		index, err := s.client.HGetAll(ctx, userKey).Result()
		if err != nil {
			return 0, failed(op, err)
		}
		if len(index) == 0 {
			return 0, nil
		}
		keys := []string{userKey}
		args := []any{ms(s.now())}
		for id, v := range index {
			_, tok, err := parseIndexEntry(v)
			if err != nil {
				return 0, failed(op, err)
			}
			keys = append(keys, s.keys.deviceToken(tok))
			args = append(args, id, v)
		}
		n, err := deleteDevicesScript.Run(ctx, s.client, keys, args...).Int()
		if err != nil {
			return 0, failed(op, err)
		}
		if n >= 0 {
			return n, nil
		}
	}
	return 0, failed(op, errContention)
}

// realErr returns the first error of cmds other than a missing key.
func realErr(cmds ...redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !isNil(err) {
			return err
		}
	}
	return nil
}

// checkTokenHash refuses an empty or over-long token hash.
func checkTokenHash(h []byte) error {
	if len(h) == 0 || len(h) > store.MaxKeyLen {
		return fmt.Errorf("%w: token hash must be 1 to %d bytes, got %d", store.ErrInvalid, store.MaxKeyLen, len(h))
	}
	return nil
}
