package caddymfa

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// What the admin API does to one user of one store (admin.go routes).

// now is the clock of the store's handlers (tests inject one).
func (t adminTarget) now() time.Time { return t.handlers[0].now() }

// attemptKeys are the user's counters of one kind as every live handler
// names them, with the second factor's under the names older builds gave
// them with each handler's secrets (legacyattempts.go), so that an unlock
// lifts their locks too.
func (t adminTarget) attemptKeys(kind, user string) []string {
	var keys []string
	add := func(k string) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, h := range t.handlers {
		add(h.attemptKey(kind, user))
		if kind == "mfa" || kind == "mfa30" {
			for _, k := range h.legacyAttemptKeys(kind, user) {
				add(k)
			}
		}
	}
	return keys
}

type adminUser struct {
	Store             string         `json:"store"`
	User              string         `json:"user"`
	Factors           []adminFactor  `json:"factors"`
	RecoveryCodesLeft int            `json:"recovery_codes_left"`
	TrustedDevices    int            `json:"trusted_devices"`
	SecondFactor      adminLockState `json:"second_factor"`
	Password          adminLockState `json:"password"`
	// ActiveSessions counts sessions not revoked and within their absolute
	// limit; some may already have ended by idleness.
	ActiveSessions int `json:"active_sessions"`
}

type adminFactor struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Label   string    `json:"label"`
	Created time.Time `json:"created"`
	Pending bool      `json:"pending,omitempty"`
}

type adminLockState struct {
	Failures    int        `json:"failures"`
	Locked      bool       `json:"locked"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	// HardLocked: the hard cap of consecutive failures was reached; only
	// a recovery code or an admin unlock helps.
	HardLocked bool `json:"hard_locked"`
	// WindowLocked (second factor only): max_failures failed codes within
	// 30 days, successes between them or not; until WindowLockedUntil only
	// a recovery code or an admin unlock helps.
	WindowLocked      bool       `json:"window_locked,omitempty"`
	WindowLockedUntil *time.Time `json:"window_locked_until,omitempty"`
}

func (t adminTarget) describe(ctx context.Context, user string) (adminUser, error) {
	now := t.now()
	ans := adminUser{Store: t.name, User: user, Factors: []adminFactor{}}
	fs, err := t.backend.Factors(ctx, user)
	if err != nil {
		return ans, err
	}
	for _, f := range fs {
		ans.Factors = append(ans.Factors, adminFactor{ID: f.ID, Type: f.Type, Label: f.Label, Created: f.CreatedAt.UTC(), Pending: f.Pending})
	}
	if ans.RecoveryCodesLeft, err = t.backend.RecoveryCodesLeft(ctx, user); err != nil {
		return ans, err
	}
	devices, err := t.backend.Devices(ctx, user, now)
	if err != nil {
		return ans, err
	}
	sessions, err := t.backend.Sessions(ctx, user, now)
	if err != nil {
		return ans, err
	}
	ans.TrustedDevices, ans.ActiveSessions = len(devices), len(sessions)
	if ans.SecondFactor, err = t.lockState(ctx, "mfa", user, now); err != nil {
		return ans, err
	}
	ans.Password, err = t.lockState(ctx, "pwd", user, now)
	return ans, err
}

// lockState merges the user's counters of one kind: the worst one counts.
// The second factor's includes the 30-day window of failed codes, and the
// hard cap and window that older builds counted under other names
// (legacyattempts.go); their shorter locks are not shown, as sign-in does
// not enforce them.
func (t adminTarget) lockState(ctx context.Context, kind, user string, now time.Time) (adminLockState, error) {
	var st adminLockState
	for _, h := range t.handlers {
		a, err := t.backend.Attempts(ctx, h.attemptKey(kind, user), now)
		if err != nil {
			return st, err
		}
		st.Failures = max(st.Failures, a.Failures)
		if a.Locked(now) {
			st.Locked = true
			if st.LockedUntil == nil || a.LockedUntil.After(*st.LockedUntil) {
				until := a.LockedUntil.UTC()
				st.LockedUntil = &until
			}
		}
		if kind != "mfa" {
			continue
		}
		hardCap := h.limits.secondFactor.HardCap
		if hardCap > 0 && a.Failures >= hardCap {
			st.HardLocked = true
		}
		for _, k := range h.legacyAttemptKeys("mfa", user) {
			old, err := t.backend.Attempts(ctx, k, now)
			if err != nil {
				return st, err
			}
			if hardCap > 0 && old.Failures >= hardCap {
				st.Failures = max(st.Failures, old.Failures)
				st.HardLocked = true
			}
		}
		for _, k := range append([]string{h.attemptKey("mfa30", user)}, h.legacyAttemptKeys("mfa30", user)...) {
			w, err := t.backend.Attempts(ctx, k, now)
			if err != nil {
				return st, err
			}
			if w.Locked(now) {
				st.WindowLocked = true
				if st.WindowLockedUntil == nil || w.LockedUntil.After(*st.WindowLockedUntil) {
					until := w.LockedUntil.UTC()
					st.WindowLockedUntil = &until
				}
			}
		}
	}
	return st, nil
}

type adminDone struct {
	Store     string `json:"store"`
	User      string `json:"user"`
	Action    string `json:"action"`
	RequestID string `json:"request_id"`
	// Counts of what a reset removed.
	FactorsRemoved       int `json:"factors_removed,omitempty"`
	RecoveryCodesRemoved int `json:"recovery_codes_removed,omitempty"`
	DevicesRemoved       int `json:"devices_removed,omitempty"`
	SessionsRevoked      int `json:"sessions_revoked,omitempty"`
}

func (t adminTarget) resetCounters(ctx context.Context, user string) error {
	for _, kind := range []string{"mfa", "mfa30", "pwd"} {
		for _, k := range t.attemptKeys(kind, user) {
			if err := t.backend.ResetAttempts(ctx, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// errUnknownUser: no live handler lists the user and the store holds
// nothing of theirs, so unlock or reset would act on a misspelled name.
var errUnknownUser = errors.New("unknown user")

// checkKnown tells a user the store or a directory knows from a typo.
// Users who come from identity_from are in no directory: for them the
// store decides.
func (t adminTarget) checkKnown(ctx context.Context, user string) error {
	for _, h := range t.handlers {
		if h.dir != nil {
			if _, ok := h.dir.Lookup(user); ok {
				return nil
			}
		}
	}
	u, err := t.describe(ctx, user)
	if err != nil {
		return err
	}
	if len(u.Factors) > 0 || u.RecoveryCodesLeft > 0 || u.TrustedDevices > 0 || u.ActiveSessions > 0 ||
		u.SecondFactor.Failures > 0 || u.SecondFactor.Locked || u.SecondFactor.WindowLocked ||
		u.Password.Failures > 0 || u.Password.Locked {
		return nil
	}
	return errUnknownUser
}

func (t adminTarget) unlock(ctx context.Context, r *http.Request, user string) (adminDone, error) {
	if err := t.checkKnown(ctx, user); err != nil {
		return adminDone{}, err
	}
	done := adminDone{Store: t.name, User: user, Action: "unlock", RequestID: newID()}
	err := t.resetCounters(ctx, user)
	t.audit(r, "admin_unlock", done, err)
	return done, err
}

// reset ends every session first, so nothing the user (or a thief) holds
// keeps working while the rest is removed.
func (t adminTarget) reset(ctx context.Context, r *http.Request, user string) (adminDone, error) {
	if err := t.checkKnown(ctx, user); err != nil {
		return adminDone{}, err
	}
	done := adminDone{Store: t.name, User: user, Action: "reset", RequestID: newID()}
	err := t.resetAll(ctx, user, &done)
	t.audit(r, "admin_reset", done, err,
		zap.Int("factors_removed", done.FactorsRemoved),
		zap.Int("recovery_codes_removed", done.RecoveryCodesRemoved),
		zap.Int("devices_removed", done.DevicesRemoved),
		zap.Int("sessions_revoked", done.SessionsRevoked))
	return done, err
}

func (t adminTarget) resetAll(ctx context.Context, user string, done *adminDone) error {
	now := t.now()
	sessions, err := t.backend.Sessions(ctx, user, now)
	if err != nil {
		return err
	}
	notBefore := revocationCutoff(now)
	lifetime := t.backend.longestLifetime(0)
	if err := t.backend.revoke(ctx, store.Revocation{User: user, NotBefore: notBefore, ExpiresAt: notBefore.Add(lifetime + tokenLeeway)}); err != nil {
		return err
	}
	done.SessionsRevoked = len(sessions)
	if done.DevicesRemoved, err = t.backend.DeleteDevices(ctx, user); err != nil {
		return err
	}
	fs, err := t.backend.Factors(ctx, user)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if err := t.backend.DeleteFactor(ctx, user, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if !f.Pending {
			done.FactorsRemoved++
		}
	}
	if done.RecoveryCodesRemoved, err = t.backend.RecoveryCodesLeft(ctx, user); err != nil {
		return err
	}
	if err := t.backend.ReplaceRecoveryCodes(ctx, user, nil); err != nil {
		return err
	}
	return t.resetCounters(ctx, user)
}

// audit records an admin action once, on the first handler's audit log:
// the operator's address is the client, the generated ID is the request.
func (t adminTarget) audit(r *http.Request, event string, done adminDone, err error, extra ...zap.Field) {
	ip, _, splitErr := net.SplitHostPort(r.RemoteAddr)
	if splitErr != nil {
		ip = r.RemoteAddr
	}
	outcome := "success"
	if err != nil {
		outcome = "failure"
	}
	t.handlers[0].auditAction(auditEntry{
		Event: event, User: done.User, ClientIP: ip, Outcome: outcome, RequestID: done.RequestID, Host: r.Host,
	}, append([]zap.Field{zap.String("store", done.Store)}, extra...)...)
}
