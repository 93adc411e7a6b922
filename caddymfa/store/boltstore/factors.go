package boltstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// SaveFactor creates or replaces the factor f.ID of user, keeping the
// higher of the stored and the given LastStep.
func (s *Store) SaveFactor(ctx context.Context, user string, f store.FactorRecord) error {
	const op = "save factor"
	if err := checkKeys("user", user, "factor id", f.ID); err != nil {
		return invalid(op, err)
	}
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		b, err := tx.Bucket(bucketFactors).CreateBucketIfNotExists([]byte(user))
		if err != nil {
			return nil, err
		}
		rec := f
		var old store.FactorRecord
		ok, err := getJSON(b, []byte(f.ID), &old)
		if err != nil {
			return nil, err
		}
		if ok && old.LastStep > rec.LastStep {
			rec.LastStep = old.LastStep
		}
		return nil, putJSON(b, []byte(f.ID), rec)
	})
}

// Factors lists user's factors by CreatedAt, then ID, leaving out pending
// factors whose enrollment window has closed.
func (s *Store) Factors(ctx context.Context, user string) ([]store.FactorRecord, error) {
	const op = "list factors"
	if err := checkKeys("user", user); err != nil {
		return nil, invalid(op, err)
	}
	now := s.now()
	var out []store.FactorRecord
	err := s.read(ctx, op, func(tx *bolt.Tx) (error, error) {
		out = nil
		b := tx.Bucket(bucketFactors).Bucket([]byte(user))
		if b == nil {
			return nil, nil
		}
		return nil, b.ForEach(func(k, _ []byte) error {
			var f store.FactorRecord
			if _, err := getJSON(b, k, &f); err != nil {
				return err
			}
			if !pendingExpired(f, now) {
				out = append(out, f)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
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
	now := s.now()
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		fb := tx.Bucket(bucketFactors)
		b := fb.Bucket([]byte(user))
		if b == nil {
			return store.ErrNotFound, nil
		}
		var f store.FactorRecord
		ok, err := getJSON(b, []byte(factorID), &f)
		if err != nil || !ok {
			return store.ErrNotFound, err
		}
		if err := b.Delete([]byte(factorID)); err != nil {
			return nil, err
		}
		if isEmpty(b) {
			if err := fb.DeleteBucket([]byte(user)); err != nil {
				return nil, err
			}
		}
		if pendingExpired(f, now) {
			return store.ErrNotFound, nil
		}
		return nil, nil
	})
}

// UseStep records step as the last accepted TOTP step of the factor,
// refusing any step not above the one stored.
func (s *Store) UseStep(ctx context.Context, user, factorID string, step int64) error {
	const op = "use step"
	if err := checkKeys("user", user, "factor id", factorID); err != nil {
		return invalid(op, err)
	}
	now := s.now()
	return s.write(ctx, op, func(tx *bolt.Tx) (error, error) {
		put, outcome, err := stepToUse(tx, user, factorID, step, now)
		if outcome != nil || err != nil {
			return outcome, err
		}
		return nil, put()
	})
}

// stepToUse checks that step can be recorded for the factor and returns
// the write that records it, so that a caller can check more before it
// writes anything.
func stepToUse(tx *bolt.Tx, user, factorID string, step int64, now time.Time) (put func() error, outcome, err error) {
	b := tx.Bucket(bucketFactors).Bucket([]byte(user))
	if b == nil {
		return nil, store.ErrNotFound, nil
	}
	var f store.FactorRecord
	ok, err := getJSON(b, []byte(factorID), &f)
	switch {
	case err != nil:
		return nil, nil, err
	case !ok || pendingExpired(f, now):
		return nil, store.ErrNotFound, nil
	case step <= f.LastStep:
		return nil, store.ErrStepUsed, nil
	}
	f.LastStep = step
	return func() error { return putJSON(b, []byte(factorID), f) }, nil, nil
}

// pendingExpired reports whether f is an enrollment whose window closed.
func pendingExpired(f store.FactorRecord, now time.Time) bool {
	return f.Pending && expired(f.PendingUntil, now)
}
