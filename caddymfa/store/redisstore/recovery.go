package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// Recovery codes are the fields of one small hash per user (values empty),
// which Redis keeps in its compact listpack form: ten codes cost about
// 450 bytes.

// consumeRecoveryScript removes the first candidate present and returns
// how many codes are left, or -1 when none matched.
// KEYS: recovery hash. ARGV: candidates.
var consumeRecoveryScript = script(`
for i = 1, #ARGV do
  if ARGV[i] ~= '' and redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then
    return redis.call('HLEN', KEYS[1])
  end
end
return -1
`)

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
	fields := make([]any, 0, 2*len(hashes))
	for _, h := range hashes {
		fields = append(fields, h, "")
	}
	if err := s.usable(op); err != nil {
		return err
	}
	key := s.keys.recovery(user)
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		if len(fields) > 0 {
			p.HSet(ctx, key, fields...)
		}
		return nil
	})
	if err != nil {
		return failed(op, err)
	}
	return nil
}

// ConsumeRecoveryCode removes the first candidate found in user's set.
func (s *Store) ConsumeRecoveryCode(ctx context.Context, user string, candidates [][]byte) (int, error) {
	const op = "consume recovery code"
	if err := checkKeys("user", user); err != nil {
		return 0, invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return 0, err
	}
	if len(candidates) == 0 {
		return 0, outcome(op, store.ErrNotFound)
	}
	args := make([]any, len(candidates))
	for i, c := range candidates {
		args[i] = c
	}
	n, err := consumeRecoveryScript.Run(ctx, s.client, []string{s.keys.recovery(user)}, args...).Int()
	switch {
	case err != nil:
		return 0, failed(op, err)
	case n < 0:
		return 0, outcome(op, store.ErrNotFound)
	}
	return n, nil
}

// RecoveryCodesLeft counts user's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, user string) (int, error) {
	const op = "count recovery codes"
	if err := checkKeys("user", user); err != nil {
		return 0, invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return 0, err
	}
	n, err := s.client.HLen(ctx, s.keys.recovery(user)).Result()
	if err != nil {
		return 0, failed(op, err)
	}
	return int(n), nil
}
