package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// UseOnce marks key as used until expiresAt: SET NX with the expiry, so
// of racing callers on any instance exactly one creates the marker.
func (s *Store) UseOnce(ctx context.Context, key string, expiresAt time.Time) error {
	const op = "use once"
	if err := checkKeys("once key", key); err != nil {
		return invalid(op, err)
	}
	if err := needExpiry("once marker", expiresAt); err != nil {
		return invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return err
	}
	k := s.keys.once(key)
	if expired(expiresAt, s.now()) {
		// Nothing to store, but a marker in force is still a replay.
		n, err := s.client.Exists(ctx, k).Result()
		switch {
		case err != nil:
			return failed(op, err)
		case n > 0:
			return outcome(op, store.ErrReplay)
		}
		return nil
	}
	return onceAnswer(op, s.client.SetArgs(ctx, k, "", redis.SetArgs{Mode: "NX", ExpireAt: fromMS(ms(expiresAt))}))
}

// OnceUsed reports whether key is marked used: Redis drops the marker
// when it expires.
func (s *Store) OnceUsed(ctx context.Context, key string) (bool, error) {
	const op = "once used"
	if err := checkKeys("once key", key); err != nil {
		return false, invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return false, err
	}
	n, err := s.client.Exists(ctx, s.keys.once(key)).Result()
	if err != nil {
		return false, failed(op, err)
	}
	return n > 0, nil
}

// onceAnswer reads the answer to a once marker's SET NX.
func onceAnswer(op string, cmd *redis.StatusCmd) error {
	ok, err := cmd.Result()
	switch {
	case isNil(err):
		return outcome(op, store.ErrReplay)
	case err != nil:
		return failed(op, err)
	case ok != "OK":
		return outcome(op, store.ErrReplay)
	}
	return nil
}

// firstSeenScript records now as the first sighting unless one exists,
// and returns the one in force.
// KEYS: user hash. ARGV: now.
var firstSeenScript = script(`
redis.call('HSETNX', KEYS[1], 'seen', ARGV[1])
return redis.call('HGET', KEYS[1], 'seen')
`)

// FirstSeen returns when user was first seen, recording now if never.
func (s *Store) FirstSeen(ctx context.Context, user string, now time.Time) (time.Time, error) {
	const op = "first seen"
	if err := checkKeys("user", user); err != nil {
		return time.Time{}, invalid(op, err)
	}
	if now.IsZero() {
		return time.Time{}, invalid(op, fmt.Errorf("%w: zero time", store.ErrInvalid))
	}
	if err := s.usable(op); err != nil {
		return time.Time{}, err
	}
	v, err := firstSeenScript.Run(ctx, s.client, []string{s.keys.user(user)}, ms(now)).Text()
	if err != nil {
		return time.Time{}, failed(op, err)
	}
	at, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, failed(op, errCorrupt)
	}
	return fromMS(at), nil
}

// StartSession spends the once key (SET NX: of racing callers on any
// instance exactly one goes on) and the TOTP step in one round trip, then
// clears the counters and saves the session's index entry and record in a
// second. The keys live in different hash
// slots, so no script can take them all; a failure after the key is spent
// leaves the sign-in to be made again, never a session without its spent
// key and step.
func (s *Store) StartSession(ctx context.Context, start store.SessionStart) error {
	const op = "start session"
	// Nothing is spent for a call that would fail on its arguments.
	if err := start.Check(); err != nil {
		return invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return err
	}
	now := s.now()
	if err := s.spendForSession(ctx, op, start, now); err != nil {
		return err
	}
	return s.saveSession(ctx, op, start.Session, now, start.ResetAttempts)
}

// spendForSession spends start's once key and step, sent together.
func (s *Store) spendForSession(ctx context.Context, op string, start store.SessionStart, now time.Time) error {
	once := start.OnceKey
	if once != "" && expired(start.OnceExpiresAt, now) {
		// Nothing to store, only a marker in force to look for.
		if err := s.UseOnce(ctx, once, start.OnceExpiresAt); err != nil {
			return err
		}
		once = ""
	}
	stepKeys := []string{s.keys.user(start.Session.User)}
	stepArgs := []any{factorField + start.Step.FactorID, itoa(start.Step.Step), ms(now)}
	var onceCmd *redis.StatusCmd
	var stepCmd *redis.Cmd
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		if once != "" {
			onceCmd = p.SetArgs(ctx, s.keys.once(once), "", redis.SetArgs{Mode: "NX", ExpireAt: fromMS(ms(start.OnceExpiresAt))})
		}
		if start.Step.FactorID != "" {
			stepCmd = useStepScript.EvalSha(ctx, p, stepKeys, stepArgs...)
		}
		return nil
	})
	if onceCmd != nil {
		if err := onceAnswer(op, onceCmd); err != nil {
			return err
		}
	}
	if stepCmd == nil {
		return nil
	}
	n, err := stepCmd.Int()
	if noScript(err) {
		n, err = useStepScript.Run(ctx, s.client, stepKeys, stepArgs...).Int()
	}
	return stepAnswer(op, n, err)
}
