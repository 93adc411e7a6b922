package caddymfa

import (
	"context"
	"errors"
	"net/http"
	"time"

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
	// PasswordTag is the password tag the first factor passed with (the
	// mfa_token's); "" for the user's current one.
	PasswordTag string
}

// spendToken makes the session spend p's mfa_token (identity_from flows
// have none) and carry the token's password tag. The mark outlives the
// token's leeway, while it is still accepted: kept only until exp, it
// would let the token in once more.
func (ns *newSession) spendToken(p pending) {
	ns.PasswordTag = p.PasswordTag
	if p.ID != "" {
		ns.OnceKey, ns.OnceExpiresAt = "mfa_token:"+p.ID, p.ExpiresAt.Add(tokenLeeway)
	}
}

// startSession records and signs a new session: a new sid on every
// sign-in, so a token held before it (fixation) is worth nothing.
func (h *Handler) startSession(ctx context.Context, r *http.Request, ns newSession) (session, string, error) {
	s, start := h.prepareSession(r, ns)
	if err := h.backend.StartSession(ctx, start); err != nil {
		return session{}, "", h.startRefused(r, ns.User, ns.Step, err)
	}
	tok, err := h.tokens.issueSession(s)
	if err != nil {
		return session{}, "", err
	}
	return s, tok, nil
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
		PasswordTag: ns.PasswordTag,
	}
	if s.PasswordTag == "" {
		s.PasswordTag = h.passwordTags[ns.User]
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
			ExpiresAt: ns.AuthTime.Add(h.backend.longestLifetime(h.lifetime)),
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

// startRefused answers a store's err on a write that spent step (if any)
// and perhaps an mfa_token.
func (h *Handler) startRefused(r *http.Request, user string, step store.StepUse, err error) error {
	switch {
	case errors.Is(err, store.ErrStepUsed), step.FactorID != "" && errors.Is(err, store.ErrNotFound):
		// A racing request spent the code's step, or the factor went.
		return h.stepRefused(r, user, err)
	case errors.Is(err, store.ErrReplay):
		return errInvalidMFAToken
	}
	return unavailable(err)
}

// pendingCurrent reports whether p still stands: its user is one of ours
// (a removed user's token is dead), with the password p was taken with,
// and no revocation of all the user's sessions (an admin reset, signing
// out everywhere, the last factor removed) came after its first factor.
func (h *Handler) pendingCurrent(p pending) bool {
	return h.firstFactorStands(p.User, p.PasswordTag) && !h.backend.revoked.revoked("", p.User, p.AuthTime)
}

// pendingUnspent refuses a sign-in whose mfa_token was spent already,
// before anything is counted or written. The session start still spends
// the token atomically; this read keeps a replayed token from costing the
// user an attempt, a recovery code or a first enrollment's recovery codes.
func (h *Handler) pendingUnspent(ctx context.Context, p pending) error {
	if p.ID == "" {
		return nil
	}
	used, err := h.backend.OnceUsed(ctx, "mfa_token:"+p.ID)
	switch {
	case err != nil:
		return unavailable(err)
	case used:
		return errInvalidMFAToken
	}
	return nil
}

// signInWithCode checks a code for the sign-in p and starts the session
// it earns. A TOTP code is matched in the write that counts its attempt,
// and the session starts in that write too: on a file store one commit
// instead of two (see checkCode). A recovery code, spent by a write of its
// own, is checked first and the session started after.
func (h *Handler) signInWithCode(r *http.Request, p pending, in codeInput) (verified, session, string, error) {
	in, err := h.parseCode(in)
	if err != nil {
		return verified{}, session{}, "", err
	}
	// A spent mfa_token is refused before its code is counted or looked
	// at: it would cost the user an attempt, a recovery code (spent by a
	// write of its own before the session starts), and tell wrong codes
	// (invalid_code) from right ones (invalid_token).
	if err := h.pendingUnspent(r.Context(), p); err != nil {
		return verified{}, session{}, "", err
	}
	if _, ok := h.secondFactors[codeKind(in)].(codePreparer); !ok {
		v, err := h.checkCode(r.Context(), r, p.User, in, nil)
		if err != nil {
			return verified{}, session{}, "", err
		}
		s, tok, err := h.finishPending(r, p, v)
		return v, s, tok, err
	}
	kind := codeKind(in)
	ns := newSession{User: p.User, AuthTime: p.AuthTime, AMR: factorAMR(p.AMR, kind), MFAFactor: kind,
		ResetAttempts: []string{h.attemptKey("mfa", p.User)}}
	ns.spendToken(p)
	s, start := h.prepareSession(r, ns)
	v, err := h.checkCode(r.Context(), r, p.User, in, &start)
	if err != nil {
		return verified{}, session{}, "", err
	}
	tok, err := h.tokens.issueSession(s)
	if err != nil {
		return verified{}, session{}, "", err
	}
	return v, s, tok, nil
}
