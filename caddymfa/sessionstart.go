package caddymfa

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// newSession describes a session about to start.
type newSession struct {
	User     string
	AuthTime time.Time // when the first factor passed
	AMR      []string
	// MFAFactor is the type of the second factor passed ("" for none).
	MFAFactor string
	// DeviceID is the trusted device that stood in for the second factor.
	DeviceID string
	// GraceUntil lets a user without a factor in until then.
	GraceUntil time.Time
	// OnceKey, when set, is spent with the session (the mfa_token that
	// led here): already spent, and the sign-in fails with
	// errInvalidMFAToken.
	OnceKey       string
	OnceExpiresAt time.Time
	// Step, when set, is the TOTP step spent with the session: spent
	// already, and the sign-in fails with errInvalidCode.
	Step store.StepUse
	// ResetAttempts are counters cleared with the session.
	ResetAttempts []string
}

// spendToken makes the session spend p's mfa_token (identity_from flows
// have none).
func (ns *newSession) spendToken(p pending) {
	if p.ID != "" {
		ns.OnceKey, ns.OnceExpiresAt = "mfa_token:"+p.ID, p.ExpiresAt
	}
}

// startSession records and signs a new session: a new sid on every
// sign-in, so a token held before it (fixation) is worth nothing.
func (h *Handler) startSession(ctx context.Context, r *http.Request, ns newSession) (session, string, error) {
	s, start := h.prepareSession(r, ns)
	return h.sessionStarted(r, s, ns.Step, h.backend.StartSession(ctx, start))
}

// prepareSession describes the session ns starts: its token's claims and
// the write that records it.
func (h *Handler) prepareSession(r *http.Request, ns newSession) (session, store.SessionStart) {
	now := h.now()
	s := session{
		User:        ns.User,
		SID:         newID(),
		Audience:    h.audience(r),
		IssuedAt:    now,
		AuthTime:    ns.AuthTime,
		AMR:         ns.AMR,
		MFAVerified: ns.MFAFactor != "",
		MFAFactor:   ns.MFAFactor,
		GraceUntil:  ns.GraceUntil,
		PasswordTag: h.passwordTags[ns.User],
	}
	if h.BindIP {
		s.ClientIP = clientIP(r)
	}
	if s.MFAVerified {
		s.MFATime = now
	}
	s.ExpiresAt = h.expiry(s, now)
	if !s.GraceUntil.IsZero() && s.GraceUntil.Before(s.ExpiresAt) {
		s.ExpiresAt = s.GraceUntil
	}
	return s, store.SessionStart{
		Session: store.Session{
			ID:        s.SID,
			User:      ns.User,
			CreatedAt: now,
			ExpiresAt: ns.AuthTime.Add(h.lifetime),
			AMR:       ns.AMR,
			ClientIP:  clientIP(r),
			UserAgent: truncate(r.UserAgent(), 256),
			DeviceID:  ns.DeviceID,
		},
		OnceKey:       ns.OnceKey,
		OnceExpiresAt: ns.OnceExpiresAt,
		Step:          ns.Step,
		ResetAttempts: ns.ResetAttempts,
	}
}

// sessionStarted answers the store's err on writing s, which spent step
// (if any), and signs s when it was written.
func (h *Handler) sessionStarted(r *http.Request, s session, step store.StepUse, err error) (session, string, error) {
	switch {
	case errors.Is(err, store.ErrStepUsed), step.FactorID != "" && errors.Is(err, store.ErrNotFound):
		// A racing request spent the code's step, or the factor went.
		return session{}, "", h.stepRefused(r, s.User, err)
	case errors.Is(err, store.ErrReplay):
		return session{}, "", errInvalidMFAToken
	case err != nil:
		return session{}, "", unavailable(err)
	}
	tok, err := h.tokens.issueSession(s)
	if err != nil {
		return session{}, "", err
	}
	return s, tok, nil
}

// errLockedOut is signInWithCode's check refusing a counted attempt that
// may not be evaluated; the reason travels beside it.
var errLockedOut = errors.New("attempt refused by the lock policy")

// signInWithCode checks a code for the sign-in p and starts the session
// it earns. A TOTP code is checked between counting its attempt and
// starting the session (store.CountAndStart): inside one write on a store
// that can (a file store's one commit instead of two), else between two.
// Either way it keeps checkSecondFactor's guarantee: no more codes
// evaluated than the lock policy allows, however many race. Recovery
// codes, spent by a write of their own, take checkSecondFactor's way.
func (h *Handler) signInWithCode(r *http.Request, p pending, in codeInput) (verified, session, string, error) {
	ctx := r.Context()
	in, err := h.parseCode(in)
	if err != nil {
		return verified{}, session{}, "", err
	}
	if codeKind(in) != factor.TypeTOTP {
		v, err := h.checkParsed(ctx, r, p.User, in)
		if err != nil {
			return verified{}, session{}, "", err
		}
		s, tok, err := h.finishPending(r, p, v)
		return v, s, tok, err
	}

	user, kind, now := p.User, factor.TypeTOTP, h.now()
	f := h.secondFactors[kind]
	if err := h.checkIPLock(ctx, r, now, user, kind); err != nil {
		return verified{}, session{}, "", err
	}
	wst, err := h.backend.Attempts(ctx, h.attemptKey("mfa30", user), now)
	if err != nil {
		return verified{}, session{}, "", unavailable(err)
	}
	began := time.Now()
	keys, err := h.totpKeys(ctx, user, in.FactorID)
	if err != nil {
		return verified{}, session{}, "", err
	}
	opening := time.Since(began)

	key := h.attemptKey("mfa", user)
	v := verified{Type: kind, counter: key}
	ns := newSession{User: user, AuthTime: p.AuthTime, AMR: factorAMR(p.AMR, kind), MFAFactor: kind, ResetAttempts: []string{key}}
	ns.spendToken(p)
	s, start := h.prepareSession(r, ns)
	var reason string
	var matching time.Duration // zero: the code was not evaluated
	st, err := store.CountAndStart(ctx, h.backend.Store, key, now, h.limits.secondFactor, func(st store.Attempt) (*store.SessionStart, error) {
		matching = 0
		if reason = lockReason(st, f, wst.Locked(now)); reason != "" {
			return nil, errLockedOut
		}
		began := time.Now()
		m, err := h.matchTOTP(keys, in.Code)
		matching = max(time.Since(began), 1)
		if err != nil {
			return nil, err
		}
		v.FactorID, v.step = m.FactorID, m.step
		start.Step = m.step
		return &start, nil
	})
	if matching > 0 {
		observeVerification(kind, opening+matching)
	}
	switch {
	case err == errLockedOut:
		return verified{}, session{}, "", h.refuseLocked(r, user, kind, reason, st, now)
	case err == errInvalidCode:
		h.codeFailed(ctx, r, user, f, now)
		return verified{}, session{}, "", err
	}
	s, tok, err := h.sessionStarted(r, s, v.step, err)
	if err != nil {
		return verified{}, session{}, "", err
	}
	h.auditEvent(r, "challenge", user, kind, "success")
	return v, s, tok, nil
}
