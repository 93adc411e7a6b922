package redisstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// A session is its own key, expiring with it, so sessions spread over a
// Cluster; the user's sorted set of session IDs (scored by expiry) lists
// them. The two are updated one after the other, not atomically: readers
// take the session key as the truth and skip index entries without one,
// and every revocation is checked again when sessions are listed.

func encodeSession(sess store.Session) []byte {
	e := newEncoder(64 + len(sess.User) + len(sess.ClientIP) + len(sess.UserAgent) + len(sess.DeviceID))
	e.str(sess.User)
	e.time(sess.CreatedAt)
	e.timeAfter(sess.CreatedAt, sess.ExpiresAt)
	e.amr(sess.AMR)
	e.ip(sess.ClientIP)
	e.userAgent(sess.UserAgent)
	e.str(sess.DeviceID)
	return e.b
}

func decodeSession(id string, v []byte) (store.Session, error) {
	d := newDecoder(v)
	sess := store.Session{ID: id, User: d.str(), CreatedAt: d.time()}
	sess.ExpiresAt = d.timeAfter(sess.CreatedAt)
	sess.AMR = d.amr()
	sess.ClientIP = d.ip()
	sess.UserAgent = d.userAgent()
	sess.DeviceID = d.str()
	return sess, d.err
}

// indexSessionScript adds a session to its user's index, dropping the
// entries that have expired. KEYS: index. ARGV: session ID, expiry, now.
var indexSessionScript = script(luaExpireNoSooner, `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
expire_no_sooner(KEYS[1], tonumber(ARGV[2]))
return 1
`)

// checkSession is SaveSession's check of its argument.
func checkSession(sess store.Session) error {
	if err := checkKeys("session id", sess.ID, "user", sess.User); err != nil {
		return err
	}
	return needExpiry("session", sess.ExpiresAt)
}

// SaveSession stores sess until its expiry and indexes it under its user.
// A session already expired by the store's clock is not stored.
func (s *Store) SaveSession(ctx context.Context, sess store.Session) error {
	const op = "save session"
	if err := checkSession(sess); err != nil {
		return invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return err
	}
	return s.saveSession(ctx, op, sess, s.now(), nil)
}

// saveSession is SaveSession, clearing the attempt counters reset on the
// way.
func (s *Store) saveSession(ctx context.Context, op string, sess store.Session, now time.Time, reset []string) error {
	key := s.keys.session(sess.ID)
	var prev string
	var err error
	if expired(sess.ExpiresAt, now) {
		for _, k := range reset {
			if err := s.client.Del(ctx, s.keys.attempts(k)).Err(); err != nil {
				return failed(op, err)
			}
		}
		prev, err = s.client.GetDel(ctx, key).Result()
	} else {
		// One round trip: the counters, the index entry and the record.
		// On a Cluster they may land in any order, and a failure may
		// leave one without the other: an index entry without its
		// session is skipped, and a session whose save failed is never
		// handed out (no token is issued for it).
		indexKeys := []string{s.keys.userSessions(sess.User)}
		indexArgs := []any{sess.ID, ms(sess.ExpiresAt), ms(now)}
		var dels []*redis.IntCmd
		var index *redis.Cmd
		var set *redis.StatusCmd
		_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range reset {
				dels = append(dels, p.Del(ctx, s.keys.attempts(k)))
			}
			index = indexSessionScript.EvalSha(ctx, p, indexKeys, indexArgs...)
			set = p.SetArgs(ctx, key, encodeSession(sess), redis.SetArgs{ExpireAt: fromMS(ms(sess.ExpiresAt)), Get: true})
			return nil
		})
		for _, d := range dels {
			if err := d.Err(); err != nil {
				return failed(op, err)
			}
		}
		err = index.Err()
		if noScript(err) {
			err = indexSessionScript.Run(ctx, s.client, indexKeys, indexArgs...).Err()
		}
		if err != nil {
			return failed(op, err)
		}
		prev, err = set.Result()
	}
	switch {
	case isNil(err):
		return nil
	case err != nil:
		return failed(op, err)
	}
	// Replacing a session must not leave it indexed under a former user.
	if was, err := decodeSession(sess.ID, []byte(prev)); err == nil && (was.User != sess.User || expired(sess.ExpiresAt, now)) {
		if err := s.client.ZRem(ctx, s.keys.userSessions(was.User), sess.ID).Err(); err != nil {
			return failed(op, err)
		}
	}
	return nil
}

// Sessions lists user's sessions in force at now, by CreatedAt, then ID.
func (s *Store) Sessions(ctx context.Context, user string, now time.Time) ([]store.Session, error) {
	const op = "list sessions"
	if err := checkKeys("user", user); err != nil {
		return nil, invalid(op, err)
	}
	if err := s.usable(op); err != nil {
		return nil, err
	}
	all, err := s.loadUserSessions(ctx, user)
	if err != nil {
		return nil, failed(op, err)
	}
	if len(all) == 0 {
		return nil, nil
	}
	// A revocation saved before the session (a race with logout) still
	// kills it.
	fields := make([]string, 0, len(all)+1)
	fields = append(fields, userRevocationField(user))
	for _, sess := range all {
		fields = append(fields, sessionRevocationField(sess.ID))
	}
	vals, err := s.client.HMGet(ctx, s.keys.revocations(), fields...).Result()
	if err != nil {
		return nil, failed(op, err)
	}
	revs := make([]store.Revocation, len(vals))
	for i, v := range vals {
		if str, ok := v.(string); ok {
			if revs[i], err = decodeRevocation(fields[i], str); err != nil {
				return nil, failed(op, err)
			}
			if expired(revs[i].ExpiresAt, now) {
				revs[i] = store.Revocation{}
			}
		}
	}
	var out []store.Session
	for i, sess := range all {
		if expired(sess.ExpiresAt, now) || revs[0].Covers(sess.ID, sess.User, sess.CreatedAt) || revs[i+1].SessionID != "" {
			continue
		}
		out = append(out, sess)
	}
	slices.SortFunc(out, func(a, b store.Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// loadUserSessions reads the sessions user's index names, skipping
// entries whose session is gone or belongs to someone else now.
func (s *Store) loadUserSessions(ctx context.Context, user string) ([]store.Session, error) {
	ids, err := s.client.ZRange(ctx, s.keys.userSessions(user), 0, -1).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	cmds := make([]*redis.StringCmd, len(ids))
	// Session keys sit in different slots; a pipeline of GETs works on a
	// Cluster, where MGET across slots would not.
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.keys.session(id))
		}
		return nil
	})
	if err != nil && !isNil(err) {
		return nil, err
	}
	var out []store.Session
	for i, c := range cmds {
		raw, err := c.Bytes()
		if isNil(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sess, err := decodeSession(ids[i], raw)
		if err != nil {
			return nil, fmt.Errorf("session record: %w", err)
		}
		if sess.User == user {
			out = append(out, sess)
		}
	}
	return out, nil
}

// deleteSessions removes sessions and their index entries.
func (s *Store) deleteSessions(ctx context.Context, ss []store.Session) error {
	if len(ss) == 0 {
		return nil
	}
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, sess := range ss {
			p.Del(ctx, s.keys.session(sess.ID))
			p.ZRem(ctx, s.keys.userSessions(sess.User), sess.ID)
		}
		return nil
	})
	return err
}
