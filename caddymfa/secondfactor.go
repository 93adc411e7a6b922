package caddymfa

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
	"github.com/caddymfa/caddy-mfa/caddymfa/factor/recovery"
	"github.com/caddymfa/caddy-mfa/caddymfa/factor/totp"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

const purposeRecovery = "recovery code"

// codeInput is a submitted second factor: a TOTP code or a recovery code.
type codeInput struct {
	Code         string
	RecoveryCode string
	FactorID     string
}

// verified says which factor passed.
type verified struct {
	Type      string
	FactorID  string
	CodesLeft int // after a recovery code
	// What the success leaves to be written, at once (settle) or with the
	// new session in one write (finishPending): the TOTP step to spend,
	// so that the code works once, and the attempt counters to clear.
	step     store.StepUse
	counters []string
}

// secondFactor is one kind of second factor. A new kind (email, SMS,
// WebAuthn) is one more implementation, registered in newSecondFactors;
// counting, locking, auditing and sessions stay in checkCode. Each kind is
// also a codeChecker or a codePreparer.
type secondFactor interface {
	// Type is the factor type, as stored and as the API names it.
	Type() string
	// Unlocks reports whether this factor still works once the account
	// reached the hard cap of consecutive failures.
	Unlocks() bool
}

// codeChecker is a factor checked after its attempt is counted.
type codeChecker interface {
	// Check verifies in for user and consumes what must work only once.
	// A wrong value is errInvalidCode (or another 401 apiError).
	Check(ctx context.Context, user string, in codeInput) (verified, error)
}

// codePreparer is a factor whose check can run inside the write that
// counts its attempt: Prepare reads what the check needs, and match
// decides without the store or the log (a store may run it more than
// once). What must work only once is left in the verified it returns.
type codePreparer interface {
	Prepare(ctx context.Context, user string, in codeInput) (match func() (verified, error), err error)
}

type totpFactor struct{ h *Handler }

func (totpFactor) Type() string  { return factor.TypeTOTP }
func (totpFactor) Unlocks() bool { return false }

// Prepare opens the user's authenticators (or the one named); match tries
// the code against them and returns the matched time step, for the caller
// to spend: a step at or below the one stored is refused here, a request
// racing for the same step loses when it is spent.
func (f totpFactor) Prepare(ctx context.Context, user string, in codeInput) (func() (verified, error), error) {
	keys, err := f.h.totpKeys(ctx, user, in.FactorID)
	if err != nil {
		return nil, err
	}
	return func() (verified, error) { return f.h.matchTOTP(keys, in.Code) }, nil
}

type recoveryCodeFactor struct{ h *Handler }

func (recoveryCodeFactor) Type() string  { return factor.TypeRecoveryCode }
func (recoveryCodeFactor) Unlocks() bool { return true }
func (f recoveryCodeFactor) Check(ctx context.Context, user string, in codeInput) (verified, error) {
	return f.h.consumeRecoveryCode(ctx, user, in.RecoveryCode)
}

// newSecondFactors lists the factor kinds this handler accepts.
func (h *Handler) newSecondFactors() map[string]secondFactor {
	all := map[string]secondFactor{}
	for _, f := range []secondFactor{totpFactor{h}, recoveryCodeFactor{h}} {
		if slices.Contains(h.factors, f.Type()) {
			all[f.Type()] = f
		}
	}
	return all
}

// parse checks the shape of the input before anything is counted, so a
// malformed request changes no state.
func (h *Handler) parseCode(in codeInput) (codeInput, error) {
	switch {
	case in.Code != "" && in.RecoveryCode != "":
		return in, badRequest("Send either a code or a recovery code, not both.")
	case in.Code != "":
		c, err := totp.Normalize(in.Code, h.totp)
		if err != nil {
			return in, badRequest("A code is %d digits.", h.totp.Digits)
		}
		in.Code = c
	case in.RecoveryCode != "":
		if !slices.Contains(h.factors, factor.TypeRecoveryCode) {
			return in, badRequest("Recovery codes are not accepted here.")
		}
		c, err := recovery.Normalize(in.RecoveryCode)
		if err != nil {
			return in, badRequest("That does not look like a recovery code.")
		}
		in.RecoveryCode = c
	default:
		return in, badRequest("Enter the code from your authenticator app.")
	}
	if len(in.FactorID) > 64 {
		return in, badRequest("Unknown factor_id.")
	}
	return in, nil
}

// verifySecondFactor checks a code for user and, when it is right, spends
// the code and clears the user's counter of failed codes.
func (h *Handler) verifySecondFactor(ctx context.Context, r *http.Request, user string, in codeInput) (verified, error) {
	v, err := h.checkSecondFactor(ctx, r, user, in)
	if err != nil {
		return verified{}, err
	}
	if err := h.settle(ctx, r, user, v); err != nil {
		return verified{}, err
	}
	return v, nil
}

// settle writes what a success v leaves: the TOTP step is spent (a code
// used in the meantime makes it errInvalidCode after all) and the counter
// of failed codes cleared.
func (h *Handler) settle(ctx context.Context, r *http.Request, user string, v verified) error {
	if v.step.FactorID != "" {
		if err := h.backend.UseStep(ctx, user, v.step.FactorID, v.step.Step); err != nil {
			return h.stepRefused(r, user, err)
		}
	}
	for _, k := range v.counters {
		if err := h.backend.ResetAttempts(ctx, k); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// stepRefused answers a checked TOTP code whose step could not be spent:
// another request spent it (or the factor went) since it was checked.
func (h *Handler) stepRefused(r *http.Request, user string, err error) error {
	if errors.Is(err, store.ErrReplay) || errors.Is(err, store.ErrNotFound) {
		h.auditEvent(r, "challenge", user, factor.TypeTOTP, "failure")
		return errInvalidCode
	}
	return unavailable(err)
}

// checkSecondFactor checks a code for user. A right code leaves v.step
// and v.counters for the caller to settle.
func (h *Handler) checkSecondFactor(ctx context.Context, r *http.Request, user string, in codeInput) (verified, error) {
	in, err := h.parseCode(in)
	if err != nil {
		return verified{}, err
	}
	return h.checkCode(ctx, r, user, in, nil)
}

// errLockedOut is checkCode's check refusing a counted attempt that may
// not be evaluated; the reason travels beside it.
var errLockedOut = errors.New("attempt refused by the lock policy")

// checkCode counts an attempt at the parsed code in for user, and checks
// it. The attempt is counted before the code is looked at, so however
// many requests race, no more codes are evaluated than the lock policy
// allows. A codePreparer's code is matched between the count and the end
// of its write (store.CountAndStart): inside one write on a store that
// can. When start is given (a sign-in), the session starts in that write
// too, with the code's step spent and the counters cleared; otherwise the
// step and the counters are left in v for the caller to settle. A
// codeChecker's code is checked after the count.
func (h *Handler) checkCode(ctx context.Context, r *http.Request, user string, in codeInput, start *store.SessionStart) (verified, error) {
	now := h.now()
	kind := codeKind(in)
	f := h.secondFactors[kind]
	key := h.attemptKey("mfa", user)
	leave, ok := h.enterIPCheck(r)
	if !ok {
		return verified{}, h.refuseBusy(r, user, kind)
	}
	defer leave()
	if err := h.checkIPLock(ctx, r, now, user, kind); err != nil {
		return verified{}, err
	}
	windowLocked := false
	if !f.Unlocks() {
		wst, err := h.backend.Attempts(ctx, h.attemptKey("mfa30", user), now)
		if err != nil {
			return verified{}, unavailable(err)
		}
		windowLocked = wst.Locked(now)
	}
	// Locks older builds kept under other names (legacyattempts.go): up
	// to 2 × len(ring keys) more reads, on this path only.
	legacy, err := h.legacySecondFactorLock(ctx, user, now, !f.Unlocks())
	if err != nil {
		return verified{}, unavailable(err)
	}
	windowLocked = windowLocked || legacy.windowLocked
	counters := append([]string{key}, legacy.stale...)
	if start != nil {
		// Set before the write: a store may run its function twice.
		start.ResetAttempts = append(start.ResetAttempts, legacy.stale...)
	}
	var match func() (verified, error)
	began := time.Now()
	if p, ok := f.(codePreparer); ok {
		var err error
		if match, err = p.Prepare(ctx, user, in); err != nil {
			return verified{}, err
		}
	}
	opening := time.Since(began)

	var v verified
	var reason string
	var matching time.Duration // zero: the code was not matched
	st, err := store.CountAndStart(ctx, h.backend.Store, key, now, h.limits.secondFactor, func(st store.Attempt) (*store.SessionStart, error) {
		matching = 0
		if reason = lockReason(st, f, legacy.hardLocked, windowLocked); reason != "" {
			return nil, errLockedOut
		}
		if match == nil {
			return nil, nil
		}
		began := time.Now()
		var err error
		v, err = match()
		matching = max(time.Since(began), 1)
		if err != nil || start == nil {
			return nil, err
		}
		start.Step = v.step
		return start, nil
	})
	if matching > 0 {
		observeVerification(kind, opening+matching)
	}
	switch {
	case err == errLockedOut:
		h.accountLockStarts(r, user, kind, st, now)
		return verified{}, h.refuseLocked(r, user, kind, reason, st, now)
	case err == errInvalidCode:
		h.codeFailed(ctx, r, user, f, st, now)
		return verified{}, err
	case err != nil:
		return verified{}, h.startRefused(r, user, v.step, err)
	}
	if c, ok := f.(codeChecker); ok {
		observe := timeVerification(kind)
		v, err = c.Check(ctx, user, in)
		observe()
		if err != nil {
			if ae := (*apiError)(nil); errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
				h.codeFailed(ctx, r, user, f, st, now)
			}
			return verified{}, err
		}
	}
	v.counters = counters
	h.auditEvent(r, "challenge", user, kind, "success")
	if v.Type == factor.TypeRecoveryCode {
		h.auditEvent(r, "recovery_code_used", user, kind, "success", codesLeft(v.CodesLeft))
	}
	return v, nil
}

// codeKind is the factor type of a parsed code.
func codeKind(in codeInput) string {
	if in.RecoveryCode != "" {
		return factor.TypeRecoveryCode
	}
	return factor.TypeTOTP
}

// lockReason says why a counted attempt st may not be evaluated for
// factor f, or "" when it may: the account is locked for now, it reached
// the hard cap (which only some factors unlock; hardLocked: under an old
// counter's name), or the long window of failures (windowLocked) is
// locked.
func lockReason(st store.Attempt, f secondFactor, hardLocked, windowLocked bool) string {
	switch {
	case !st.Allowed:
		return "locked"
	case (st.HardLocked || hardLocked) && !f.Unlocks():
		return "hard_locked"
	case windowLocked && !f.Unlocks():
		return "window_locked"
	}
	return ""
}

// refuseLocked audits and answers an attempt refused for reason.
func (h *Handler) refuseLocked(r *http.Request, user, kind, reason string, st store.Attempt, now time.Time) error {
	h.refusedByLock(r, user, kind, reason)
	if reason == "locked" {
		return rateLimited(st.LockedUntil.Sub(now))
	}
	return errAccountLocked
}

// refuseBusy answers a code whose client kept every place taken for
// maxClientWait. The code was not looked at, so it counts against no one
// (a colleague's right code behind the same address must not lock them).
func (h *Handler) refuseBusy(r *http.Request, user, kind string) error {
	h.refusedByLock(r, user, kind, "ip_busy")
	return errClientBusy()
}

// accountLockStarts audits the lock, if any, that the counted attempt st
// at user's second factor put in force: the hard cap when it reached
// max_failures, otherwise a time lock that it started (counted while no
// lock was in force). Callers pass failures and refusals, never successes:
// a success clears the counter. Each lock is reported once, by the
// attempt that started it.
func (h *Handler) accountLockStarts(r *http.Request, user, kind string, st store.Attempt, now time.Time) {
	switch hardCap := h.limits.secondFactor.HardCap; {
	case hardCap > 0 && st.Failures == hardCap:
		h.lockStarted(r, user, kind, "hard_locked")
	case startsLock(st, now):
		h.lockStarted(r, user, kind, "locked")
	}
}

// codeFailed records a wrong code of factor f, counted as st: the audit
// event, the account lock it may have started, a failure of the client
// IP, and one more in the long window of failures (and the window lock it
// may start).
func (h *Handler) codeFailed(ctx context.Context, r *http.Request, user string, f secondFactor, st store.Attempt, now time.Time) {
	h.auditEvent(r, "challenge", user, f.Type(), "failure")
	h.accountLockStarts(r, user, f.Type(), st, now)
	h.ipFailed(ctx, r, now, user, f.Type())
	if !f.Unlocks() {
		wst, err := h.backend.CountAttempt(ctx, h.attemptKey("mfa30", user), now, h.limits.window)
		if err != nil {
			h.logStoreError("counting a failed code", err)
		} else if startsLock(wst, now) {
			h.lockStarted(r, user, f.Type(), "window_locked")
		}
	}
}

// totpKey is an authenticator's secret, opened, with its last used step.
type totpKey struct {
	factorID string
	secret   []byte
	lastStep int64
}

// totpKeys opens the secrets of user's authenticators (or of the one
// named), for matchTOTP.
func (h *Handler) totpKeys(ctx context.Context, user, factorID string) ([]totpKey, error) {
	active, err := h.activeFactors(ctx, user)
	if err != nil {
		return nil, err
	}
	var keys []totpKey
	for _, f := range active {
		if f.Type != factor.TypeTOTP || (factorID != "" && f.ID != factorID) {
			continue
		}
		secret, err := h.ring.Open(f.Secret, []byte(user))
		if err != nil {
			h.logStoreError("opening a factor secret", err)
			continue
		}
		keys = append(keys, totpKey{factorID: f.ID, secret: secret, lastStep: f.LastStep})
	}
	return keys, nil
}

// matchTOTP tries code against keys at the handler's clock. It touches
// neither the store nor the log, so a store may run it inside a write.
func (h *Handler) matchTOTP(keys []totpKey, code string) (verified, error) {
	now := h.now()
	for _, k := range keys {
		step, err := totp.Verify(k.secret, code, now, k.lastStep, h.totp)
		if err != nil {
			continue
		}
		return verified{Type: factor.TypeTOTP, FactorID: k.factorID, step: store.StepUse{FactorID: k.factorID, Step: step}}, nil
	}
	return verified{}, errInvalidCode
}

func (h *Handler) consumeRecoveryCode(ctx context.Context, user, code string) (verified, error) {
	left, err := h.backend.ConsumeRecoveryCode(ctx, user, h.ring.KeyedHashes(purposeRecovery, []byte(code)))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return verified{}, errInvalidRecovery
	case err != nil:
		return verified{}, unavailable(err)
	}
	return verified{Type: factor.TypeRecoveryCode, CodesLeft: left}, nil
}

// newRecoveryCodes replaces user's recovery codes and returns the new
// ones, to be shown once.
func (h *Handler) newRecoveryCodes(ctx context.Context, user string) ([]string, error) {
	if !slices.Contains(h.factors, factor.TypeRecoveryCode) {
		return nil, nil
	}
	codes, err := recovery.Generate(recovery.DefaultCount)
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		n, err := recovery.Normalize(c)
		if err != nil {
			return nil, err
		}
		hashes[i] = h.ring.KeyedHash(purposeRecovery, []byte(n))
	}
	if err := h.backend.ReplaceRecoveryCodes(ctx, user, hashes); err != nil {
		return nil, unavailable(err)
	}
	return codes, nil
}
