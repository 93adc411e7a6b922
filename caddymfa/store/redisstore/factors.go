package redisstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// A factor is the user hash field "f:<id>" holding
//
//	<last step>,<pending 0|1>,<pending until ms>,<binary: type, label, secret, created[, started by]>
//
// so that UseStep can check and raise the step without decoding the rest.

func encodeFactor(f store.FactorRecord) (header []string, payload []byte) {
	e := newEncoder(len(f.Type) + len(f.Label) + len(f.Secret) + 16)
	e.str(f.Type)
	e.str(f.Label)
	e.bytes(f.Secret)
	e.time(f.CreatedAt)
	if f.StartedBy != "" {
		// Last and optional: records written without it still decode.
		e.str(f.StartedBy)
	}
	pending := "0"
	if f.Pending {
		pending = "1"
	}
	return []string{itoa(f.LastStep), pending, itoa(ms(f.PendingUntil))}, e.b
}

func decodeFactor(id, v string) (store.FactorRecord, error) {
	h, rest, err := splitHeader(v, 3)
	if err != nil {
		return store.FactorRecord{}, err
	}
	d := newDecoder([]byte(rest))
	f := store.FactorRecord{
		ID:           id,
		LastStep:     h[0],
		Pending:      h[1] == 1,
		PendingUntil: fromMS(h[2]),
		Type:         d.str(),
		Label:        d.str(),
		Secret:       d.bytes(),
		CreatedAt:    d.time(),
	}
	if d.err == nil && len(d.b) > 0 {
		f.StartedBy = d.str()
	}
	return f, d.err
}

// luaPendingGone is true for a factor value whose enrollment window has
// closed at now (ms).
const luaPendingGone = `
local function pending_gone(v, now)
  local pend, untl = string.match(v, '^%-?%d+,([01]),(%-?%d+),')
  return pend == '1' and untl ~= '0' and now >= tonumber(untl)
end
`

// saveFactorScript writes a factor, keeping the higher last step, and
// drops the user's enrollments whose window has closed.
// KEYS: user hash. ARGV: field, step, pending, pending until, payload, now.
var saveFactorScript = script(luaCmpInt, luaPendingGone, `
local step = ARGV[2]
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local was = string.match(old, '^(%-?%d+),')
  if cmpint(was, step) > 0 then step = was end
end
redis.call('HSET', KEYS[1], ARGV[1], step .. ',' .. ARGV[3] .. ',' .. ARGV[4] .. ',' .. ARGV[5])
local now = tonumber(ARGV[6])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 2) == 'f:' and pending_gone(all[i + 1], now) then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return 1
`)

// useStepScript raises a factor's last step. Returns 0: no such factor
// (or its enrollment window closed), 1: replay, 2: recorded.
// KEYS: user hash. ARGV: field, step, now.
var useStepScript = script(luaCmpInt, luaPendingGone, `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v or pending_gone(v, tonumber(ARGV[3])) then return 0 end
local _, e, last = string.find(v, '^(%-?%d+),')
if cmpint(ARGV[2], last) <= 0 then return 1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ',' .. string.sub(v, e + 1))
return 2
`)

// deleteFactorScript removes a factor. Returns 0 if there was none in
// force (an expired enrollment is removed all the same), 1 if deleted.
// KEYS: user hash. ARGV: field, now.
var deleteFactorScript = script(luaPendingGone, `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if pending_gone(v, tonumber(ARGV[2])) then return 0 end
return 1
`)

// SaveFactor creates or replaces the factor f.ID of user, keeping the
// higher of the stored and the given LastStep.
func (s *Store) SaveFactor(ctx context.Context, user string, f store.FactorRecord) error {
	const op = "save factor"
	if err := checkKeys("user", user, "factor id", f.ID); err != nil {
		return invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return err
	}
	h, payload := encodeFactor(f)
	err := saveFactorScript.Run(ctx, s.client, []string{s.keys.user(user)},
		factorField+f.ID, h[0], h[1], h[2], payload, ms(s.now())).Err()
	if err != nil {
		return failed(op, err)
	}
	return nil
}

// Factors lists user's factors by CreatedAt, then ID, leaving out
// enrollments whose window has closed.
func (s *Store) Factors(ctx context.Context, user string) ([]store.FactorRecord, error) {
	const op = "list factors"
	if err := checkKeys("user", user); err != nil {
		return nil, invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return nil, err
	}
	all, err := s.client.HGetAll(ctx, s.keys.user(user)).Result()
	if err != nil {
		return nil, failed(op, err)
	}
	now := s.now()
	var out []store.FactorRecord
	for field, v := range all {
		id, ok := strings.CutPrefix(field, factorField)
		if !ok {
			continue
		}
		f, err := decodeFactor(id, v)
		if err != nil {
			return nil, failed(op, err)
		}
		if f.Pending && expired(f.PendingUntil, now) {
			continue
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b store.FactorRecord) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteFactor removes one factor of user.
func (s *Store) DeleteFactor(ctx context.Context, user, factorID string) error {
	const op = "delete factor"
	if err := checkKeys("user", user, "factor id", factorID); err != nil {
		return invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return err
	}
	n, err := deleteFactorScript.Run(ctx, s.client, []string{s.keys.user(user)}, factorField+factorID, ms(s.now())).Int()
	switch {
	case err != nil:
		return failed(op, err)
	case n == 0:
		return outcome(op, store.ErrNotFound)
	}
	return nil
}

// UseStep records step as the last accepted TOTP step of the factor,
// refusing any step not above the one stored.
func (s *Store) UseStep(ctx context.Context, user, factorID string, step int64) error {
	const op = "use step"
	if err := checkKeys("user", user, "factor id", factorID); err != nil {
		return invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return err
	}
	n, err := useStepScript.Run(ctx, s.client, []string{s.keys.user(user)}, factorField+factorID, itoa(step), ms(s.now())).Int()
	return stepAnswer(op, n, err)
}

// stepAnswer reads useStepScript's answer.
func stepAnswer(op string, n int, err error) error {
	switch {
	case err != nil:
		return failed(op, err)
	case n == 0:
		return outcome(op, store.ErrNotFound)
	case n == 1:
		return outcome(op, store.ErrStepUsed)
	}
	return nil
}

// isNil reports a missing key or field.
func isNil(err error) bool { return errors.Is(err, redis.Nil) }
