package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// A counter is the string "<failures>,<locked until>,<last at>,<forget at>"
// (Unix ms, 0 for none). It expires at its forget time; without one it is
// kept until reset, as the policy says.

// countAttemptScript is store.LockPolicy.Next and ForgetAt in Lua, applied
// atomically; attempts_test.go checks it against the Go original.
// KEYS: counter. ARGV: now, threshold, hard cap, forget, locks....
// Returns {failures, locked until, allowed, hard locked}.
var countAttemptScript = script(luaFmt, `
local now = tonumber(ARGV[1])
local threshold, hardcap, forget = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local failures, locked = 0, 0
local v = redis.call('GET', KEYS[1])
if v then
  local f, l, _, fa = string.match(v, '^(%d+),(%-?%d+),(%-?%d+),(%-?%d+)$')
  if fa == '0' or now < tonumber(fa) then
    failures, locked = tonumber(f), tonumber(l)
  end
end
local allowed = locked == 0 or now >= locked
local hard = hardcap > 0 and failures >= hardcap
failures = failures + 1
if threshold > 0 and failures % threshold == 0 then
  local nlocks = #ARGV - 4
  local lock = 0
  if nlocks > 0 then lock = tonumber(ARGV[4 + math.min(failures / threshold, nlocks)]) end
  local untl = now + lock
  if locked == 0 or untl > locked then locked = untl end
end
local forget_at = 0
if forget > 0 then
  local from = now
  if locked ~= 0 and locked > from then from = locked end
  forget_at = from + forget
end
redis.call('SET', KEYS[1], fmt(failures) .. ',' .. fmt(locked) .. ',' .. fmt(now) .. ',' .. fmt(forget_at))
if forget_at ~= 0 then redis.call('PEXPIREAT', KEYS[1], forget_at) end
return {failures, locked, allowed and 1 or 0, hard and 1 or 0}
`)

// CountAttempt counts one attempt against key under policy.
func (s *Store) CountAttempt(ctx context.Context, key string, now time.Time, policy store.LockPolicy) (store.Attempt, error) {
	const op = "count attempt"
	if err := checkKeys("attempt key", key); err != nil {
		return store.Attempt{}, invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return store.Attempt{}, err
	}
	args := make([]any, 0, 4+len(policy.Locks))
	args = append(args, ms(now), policy.Threshold, policy.HardCap, policy.Forget.Milliseconds())
	for _, l := range policy.Locks {
		args = append(args, l.Milliseconds())
	}
	res, err := countAttemptScript.Run(ctx, s.client, []string{s.keys.attempts(key)}, args...).Int64Slice()
	if err != nil {
		return store.Attempt{}, failed(op, err)
	}
	if len(res) != 4 {
		return store.Attempt{}, failed(op, fmt.Errorf("%w: count attempt answered %d values", errCorrupt, len(res)))
	}
	return store.Attempt{
		Failures:    int(res[0]),
		LockedUntil: fromMS(res[1]),
		LastAt:      fromMS(ms(now)),
		Allowed:     res[2] == 1,
		HardLocked:  res[3] == 1,
	}, nil
}

// ResetAttempts deletes key's counter.
func (s *Store) ResetAttempts(ctx context.Context, key string) error {
	const op = "reset attempts"
	if err := checkKeys("attempt key", key); err != nil {
		return invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return err
	}
	if err := s.client.Del(ctx, s.keys.attempts(key)).Err(); err != nil {
		return failed(op, err)
	}
	return nil
}

// Attempts reads key's counter as of now.
func (s *Store) Attempts(ctx context.Context, key string, now time.Time) (store.Attempt, error) {
	const op = "read attempts"
	if err := checkKeys("attempt key", key); err != nil {
		return store.Attempt{}, invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return store.Attempt{}, err
	}
	v, err := s.client.Get(ctx, s.keys.attempts(key)).Result()
	switch {
	case isNil(err):
		return store.Attempt{}, nil
	case err != nil:
		return store.Attempt{}, failed(op, err)
	}
	h, rest, err := splitHeader(v+",", 4)
	if err != nil || rest != "" {
		return store.Attempt{}, failed(op, errCorrupt)
	}
	if forgetAt := fromMS(h[3]); expired(forgetAt, now) {
		return store.Attempt{}, nil
	}
	return store.Attempt{Failures: int(h[0]), LockedUntil: fromMS(h[1]), LastAt: fromMS(h[2])}, nil
}
