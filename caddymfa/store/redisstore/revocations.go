package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// Revocations are fields of one hash ("s:<sid>" or "u:<user>" →
// "<expires>,<not before>,<user>"), with a sorted set of the same fields by
// expiry to drop them when they lapse. Both share the {rv} slot: a
// revocation is written, widened and published by one script. They are
// few (one per logout, kept for a session lifetime) and read in full only
// when an instance starts or reconnects.

func decodeRevocation(field, v string) (store.Revocation, error) {
	h, user, err := splitHeader(v, 2)
	if err != nil {
		return store.Revocation{}, err
	}
	r := store.Revocation{ExpiresAt: fromMS(h[0]), NotBefore: fromMS(h[1]), User: user}
	switch {
	case strings.HasPrefix(field, "s:"):
		r.SessionID = field[2:]
	case strings.HasPrefix(field, "u:"):
		r.User = field[2:]
	default:
		return store.Revocation{}, errCorrupt
	}
	return r, nil
}

// revokeScript records a revocation, widening one in force for the same
// field, and publishes the result; expired ones are dropped on the way.
// KEYS: hash, expiry set. ARGV: field, expires, not before, user, now,
// channel. Returns the stored "<expires>,<not before>,<user>".
var revokeScript = script(luaFmt, luaExpireNoSooner, `
local now = tonumber(ARGV[5])
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for i = 1, #dead do redis.call('HDEL', KEYS[1], dead[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local exp, nb, user = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local oe, on, ou = string.match(old, '^(%-?%d+),(%-?%d+),(.*)$')
  if tonumber(oe) > exp then exp = tonumber(oe) end
  if tonumber(on) > nb then nb = tonumber(on) end
  if user == '' then user = ou end
end
local v = fmt(exp) .. ',' .. fmt(nb) .. ',' .. user
if exp <= now then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return v
end
redis.call('HSET', KEYS[1], ARGV[1], v)
redis.call('ZADD', KEYS[2], exp, ARGV[1])
expire_no_sooner(KEYS[1], exp)
expire_no_sooner(KEYS[2], exp)
redis.call('PUBLISH', ARGV[6], #ARGV[1] .. ':' .. ARGV[1] .. v)
return v
`)

// Revoke records r, widening a revocation of the same session or user
// still in force, publishes it to every instance, and deletes the
// sessions it covers.
func (s *Store) Revoke(ctx context.Context, r store.Revocation) error {
	const op = "revoke"
	field, err := revocationField(r)
	if err != nil {
		return invalid(op, err)
	}
	if err := needExpiry("revocation", r.ExpiresAt); err != nil {
		return invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return err
	}
	user := r.User
	if r.SessionID == "" {
		user = "" // the field names the user already
	}
	v, err := revokeScript.Run(ctx, s.client, []string{s.keys.revocations(), s.keys.revocationExpiry()},
		field, ms(r.ExpiresAt), msUp(r.NotBefore), user, ms(s.now()), s.keys.channel()).Text()
	if err != nil {
		return failed(op, err)
	}
	stored, err := decodeRevocation(field, v)
	if err != nil {
		return failed(op, err)
	}
	if err := s.deleteRevoked(ctx, stored); err != nil {
		return failed(op, err)
	}
	return nil
}

// deleteRevoked deletes the session records r covers.
func (s *Store) deleteRevoked(ctx context.Context, r store.Revocation) error {
	if r.SessionID != "" {
		raw, err := s.client.GetDel(ctx, s.keys.session(r.SessionID)).Bytes()
		if isNil(err) {
			return nil
		}
		if err != nil {
			return err
		}
		sess, err := decodeSession(r.SessionID, raw)
		if err != nil {
			return nil // the record is gone; a corrupt one has no index entry to find
		}
		return s.client.ZRem(ctx, s.keys.userSessions(sess.User), sess.ID).Err()
	}
	all, err := s.loadUserSessions(ctx, r.User)
	if err != nil {
		return err
	}
	var doomed []store.Session
	for _, sess := range all {
		if r.Covers(sess.ID, sess.User, sess.CreatedAt) {
			doomed = append(doomed, sess)
		}
	}
	return s.deleteSessions(ctx, doomed)
}

// Revocations lists every revocation in force at now.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]store.Revocation, error) {
	const op = "list revocations"
	if err := s.usable(op); err != nil {
		return nil, err
	}
	all, err := s.client.HGetAll(ctx, s.keys.revocations()).Result()
	if err != nil {
		return nil, failed(op, err)
	}
	out := make([]store.Revocation, 0, len(all))
	for field, v := range all {
		r, err := decodeRevocation(field, v)
		if err != nil {
			return nil, failed(op, err)
		}
		if !expired(r.ExpiresAt, now) {
			out = append(out, r)
		}
	}
	return out, nil
}

// revocationField checks r names a session or a user and returns its
// field in the revocation hash.
func revocationField(r store.Revocation) (string, error) {
	if r.SessionID != "" {
		return sessionRevocationField(r.SessionID), checkKeys("session id", r.SessionID)
	}
	if r.User == "" {
		return "", fmt.Errorf("%w: revocation names neither a session nor a user", store.ErrInvalid)
	}
	return userRevocationField(r.User), checkKeys("user", r.User)
}

// decodeMessage reads a revocation published by revokeScript:
// "<len(field)>:<field><value>".
func decodeMessage(payload string) (store.Revocation, error) {
	n, rest, ok := strings.Cut(payload, ":")
	if !ok {
		return store.Revocation{}, errCorrupt
	}
	size, err := strconv.Atoi(n)
	if err != nil || size < 0 || size > len(rest) {
		return store.Revocation{}, errCorrupt
	}
	return decodeRevocation(rest[:size], rest[size:])
}
