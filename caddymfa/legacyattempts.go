package caddymfa

import (
	"context"
	"encoding/hex"
	"time"
)

// Builds before secret-independent counter names (see attemptKey) named a
// counter by a hash keyed with the current secret. Their long-lived
// second-factor locks must survive the upgrade: the hard cap ("mfa") is
// kept until a reset and the 30-day window ("mfa30") for 30 days, and
// forgetting them would let a locked account sign in with a code again
// and hand an attacker a fresh budget of guesses. So the second-factor
// check reads the old counters too, and whatever clears the current
// "mfa" counter clears them. Shorter time locks and the password and
// client IP counters are left to expire under their old names: they
// restart once, and the password path reads nothing more.

// legacyAttemptKeys are the names older builds gave kind's counter of
// value, one per secret in the ring (the counter was written under
// whichever secret came first then).
func (h *Handler) legacyAttemptKeys(kind, value string) []string {
	sums := h.ring.KeyedHashes("attempt key", []byte(kind+"\x00"+value))
	keys := make([]string, len(sums))
	for i, sum := range sums {
		keys[i] = kind + ":" + hex.EncodeToString(sum[:16])
	}
	return keys
}

// legacyLock is what user's second-factor counters under old names hold.
type legacyLock struct {
	hardLocked   bool // one reached the hard cap
	windowLocked bool // one 30-day window is locked
	// stale are the old "mfa" counters holding failures, for a success
	// to clear with the current one.
	stale []string
}

// legacySecondFactorLock reads user's old-named counters: len(ring keys)
// "mfa" counters and, when window is set (factors the window binds), as
// many "mfa30" ones. They are never counted any more, so reading them
// before the current counter's write races with nothing but a reset.
func (h *Handler) legacySecondFactorLock(ctx context.Context, user string, now time.Time, window bool) (legacyLock, error) {
	var l legacyLock
	for _, k := range h.legacyAttemptKeys("mfa", user) {
		a, err := h.backend.Attempts(ctx, k, now)
		if err != nil {
			return l, err
		}
		if a.Failures > 0 {
			l.stale = append(l.stale, k)
		}
		if hardCap := h.limits.secondFactor.HardCap; hardCap > 0 && a.Failures >= hardCap {
			l.hardLocked = true
		}
	}
	if !window {
		return l, nil
	}
	for _, k := range h.legacyAttemptKeys("mfa30", user) {
		a, err := h.backend.Attempts(ctx, k, now)
		if err != nil {
			return l, err
		}
		if a.Locked(now) {
			l.windowLocked = true
		}
	}
	return l, nil
}
