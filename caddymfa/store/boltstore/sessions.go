package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// SaveSession stores s and indexes it under its user. A session already
// expired by the store's clock is not stored.
func (s *Store) SaveSession(ctx context.Context, sess store.Session) error {
	const op = "save session"
	if err := checkSession(sess); err != nil {
		return invalid(op, err)
	}
	now := s.now()
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		return nil, saveSession(tx, sess, now)
	})
}

// checkSession is SaveSession's check of its argument.
func checkSession(sess store.Session) error {
	if err := checkKeys("session id", sess.ID, "user", sess.User); err != nil {
		return err
	}
	if sess.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: session without expiry", store.ErrInvalid)
	}
	return nil
}

// saveSession is SaveSession inside tx.
func saveSession(tx *bolt.Tx, sess store.Session, now time.Time) error {
	// Replacing a session must not leave it indexed under a former user.
	if err := deleteSession(tx, sess.ID); err != nil {
		return err
	}
	if expired(sess.ExpiresAt, now) {
		return nil
	}
	if err := putJSON(tx.Bucket(bucketSessions), []byte(sess.ID), sess); err != nil {
		return err
	}
	idx, err := tx.Bucket(bucketUserSessions).CreateBucketIfNotExists([]byte(sess.User))
	if err != nil {
		return err
	}
	return idx.Put([]byte(sess.ID), []byte{})
}

// StartSession spends the once key and the TOTP step, clears the counters
// and saves the session in one transaction: one fsync where a sign-in made
// four.
func (s *Store) StartSession(ctx context.Context, start store.SessionStart) error {
	const op = "start session"
	if err := start.Check(); err != nil {
		return invalid(op, err)
	}
	now := s.now()
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		return startSession(tx, start, now)
	})
}

// startSession is StartSession inside tx, start already checked.
func startSession(tx *bolt.Tx, start store.SessionStart, now time.Time) (outcome, err error) {
	// Every refusal returns before anything is written: an outcome (not
	// an error) still commits, and the start must add nothing to it. The
	// key is looked at first, so a spent key is the answer even when the
	// step was spent too.
	var puts []func() error
	if start.OnceKey != "" {
		put, outcome, err := onceToUse(tx, start.OnceKey, start.OnceExpiresAt, now)
		if outcome != nil || err != nil {
			return outcome, err
		}
		puts = append(puts, put)
	}
	if start.Step.FactorID != "" {
		put, outcome, err := stepToUse(tx, start.Session.User, start.Step.FactorID, start.Step.Step, now)
		if outcome != nil || err != nil {
			return outcome, err
		}
		puts = append(puts, put)
	}
	for _, put := range puts {
		if err := put(); err != nil {
			return nil, err
		}
	}
	for _, k := range start.ResetAttempts {
		if err := tx.Bucket(bucketAttempts).Delete([]byte(k)); err != nil {
			return nil, err
		}
	}
	return nil, saveSession(tx, start.Session, now)
}

// Sessions lists user's sessions in force at now, by CreatedAt, then ID.
func (s *Store) Sessions(ctx context.Context, user string, now time.Time) ([]store.Session, error) {
	const op = "list sessions"
	if err := checkKeys("user", user); err != nil {
		return nil, invalid(op, err)
	}
	var out []store.Session
	err := s.read(ctx, op, func(tx *bolt.Tx) (error, error) {
		out = nil
		idx := tx.Bucket(bucketUserSessions).Bucket([]byte(user))
		if idx == nil {
			return nil, nil
		}
		revs := tx.Bucket(bucketRevocations)
		userRev, err := loadRevocation(revs, userRevocationKey(user), now)
		if err != nil {
			return nil, err
		}
		sessions := tx.Bucket(bucketSessions)
		return nil, idx.ForEach(func(sid, _ []byte) error {
			var sess store.Session
			ok, err := getJSON(sessions, sid, &sess)
			if err != nil || !ok || expired(sess.ExpiresAt, now) || userRev.Covers(sess.ID, sess.User, sess.CreatedAt) {
				return err
			}
			// A revocation saved before the session (a race with logout)
			// still kills it.
			sessRev, err := loadRevocation(revs, sessionRevocationKey(sess.ID), now)
			if err != nil || sessRev.SessionID != "" {
				return err
			}
			out = append(out, sess)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Revoke records r, widening a revocation of the same session or user
// still in force, and deletes the sessions it covers.
func (s *Store) Revoke(ctx context.Context, r store.Revocation) error {
	const op = "revoke"
	key, err := revocationKey(r)
	if err != nil {
		return invalid(op, err)
	}
	if r.ExpiresAt.IsZero() {
		return invalid(op, fmt.Errorf("%w: revocation without expiry", store.ErrInvalid))
	}
	now := s.now()
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		b := tx.Bucket(bucketRevocations)
		old, err := loadRevocation(b, key, now)
		if err != nil {
			return nil, err
		}
		rec := widen(old, r)
		if expired(rec.ExpiresAt, now) {
			err = b.Delete(key)
		} else {
			err = putJSON(b, key, rec)
		}
		if err != nil {
			return nil, err
		}
		if rec.SessionID != "" {
			return nil, deleteSession(tx, rec.SessionID)
		}
		return nil, deleteSessionsBefore(tx, rec.User, rec.NotBefore)
	})
}

// Revocations lists every revocation in force at now.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]store.Revocation, error) {
	const op = "list revocations"
	var out []store.Revocation
	err := s.read(ctx, op, func(tx *bolt.Tx) (error, error) {
		out = nil
		b := tx.Bucket(bucketRevocations)
		return nil, b.ForEach(func(k, _ []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var r store.Revocation
			if _, err := getJSON(b, k, &r); err != nil {
				return err
			}
			if !expired(r.ExpiresAt, now) {
				out = append(out, r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func sessionRevocationKey(sid string) []byte { return append([]byte("s\x00"), sid...) }
func userRevocationKey(user string) []byte   { return append([]byte("u\x00"), user...) }

// revocationKey checks r names a session or a user and returns its key.
func revocationKey(r store.Revocation) ([]byte, error) {
	if r.SessionID != "" {
		return sessionRevocationKey(r.SessionID), checkKeys("session id", r.SessionID)
	}
	if r.User == "" {
		return nil, fmt.Errorf("%w: revocation names neither a session nor a user", store.ErrInvalid)
	}
	return userRevocationKey(r.User), checkKeys("user", r.User)
}

// loadRevocation returns the revocation at key if it is in force at now,
// else the zero Revocation (which covers nothing).
func loadRevocation(b *bolt.Bucket, key []byte, now time.Time) (store.Revocation, error) {
	var r store.Revocation
	ok, err := getJSON(b, key, &r)
	if err != nil || !ok || expired(r.ExpiresAt, now) {
		return store.Revocation{}, err
	}
	return r, nil
}

// widen merges r into old (same key) so the result covers both.
func widen(old, r store.Revocation) store.Revocation {
	if old.ExpiresAt.After(r.ExpiresAt) {
		r.ExpiresAt = old.ExpiresAt
	}
	if old.NotBefore.After(r.NotBefore) {
		r.NotBefore = old.NotBefore
	}
	if r.User == "" {
		r.User = old.User
	}
	return r
}

// deleteSession removes session sid and its index entry, if present.
func deleteSession(tx *bolt.Tx, sid string) error {
	sessions := tx.Bucket(bucketSessions)
	var sess store.Session
	ok, err := getJSON(sessions, []byte(sid), &sess)
	if err != nil || !ok {
		return err
	}
	if err := sessions.Delete([]byte(sid)); err != nil {
		return err
	}
	return unindexSessions(tx, sess.User, [][]byte{[]byte(sid)})
}

// deleteSessionsBefore removes user's sessions created before notBefore.
func deleteSessionsBefore(tx *bolt.Tx, user string, notBefore time.Time) error {
	idx := tx.Bucket(bucketUserSessions).Bucket([]byte(user))
	if idx == nil {
		return nil
	}
	sessions := tx.Bucket(bucketSessions)
	var doomed [][]byte
	err := idx.ForEach(func(sid, _ []byte) error {
		var sess store.Session
		ok, err := getJSON(sessions, sid, &sess)
		if err == nil && (!ok || sess.CreatedAt.Before(notBefore)) {
			doomed = append(doomed, bytes.Clone(sid))
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, sid := range doomed {
		if err := sessions.Delete(sid); err != nil {
			return err
		}
	}
	return unindexSessions(tx, user, doomed)
}

// unindexSessions drops sids from user's index, and the index once empty.
func unindexSessions(tx *bolt.Tx, user string, sids [][]byte) error {
	all := tx.Bucket(bucketUserSessions)
	idx := all.Bucket([]byte(user))
	if idx == nil {
		return nil
	}
	for _, sid := range sids {
		if err := idx.Delete(sid); err != nil {
			return err
		}
	}
	if isEmpty(idx) {
		return all.DeleteBucket([]byte(user))
	}
	return nil
}
