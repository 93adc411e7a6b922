package caddymfa

import (
	"net/http"
	"time"
)

// flowState is who a browser's sign-in flow is for: the holder of a valid
// mfa_token cookie, a signed-in user who must confirm again (session set:
// step-up, or a password-only session enrolling), or the user an earlier
// handler vouched for.
type flowState struct {
	pending
	session *session
}

func (h *Handler) flowUser(r *http.Request) (flowState, bool) {
	if raw := cookieValue(r, h.cookies.pending); raw != "" {
		if p, err := h.tokens.parsePending(raw, h.audience(r)); err == nil && h.pendingCurrent(p) {
			return flowState{pending: p}, true
		}
	}
	if s, _, err := h.requestSession(r); err == nil {
		return flowState{
			pending: pending{User: s.User, AuthTime: s.AuthTime, AMR: withoutMFA(s.AMR), PasswordTag: s.PasswordTag},
			session: &s,
		}, true
	}
	if h.IdentityFrom != "" {
		if user := h.upstreamIdentity(r); user != "" {
			return flowState{pending: pending{User: user, AuthTime: h.now()}}, true
		}
	}
	return flowState{}, false
}

// refreshMFA records a second factor just passed by the holder of s: the
// same session (same sid, same sign-in time) with a fresh mfa_time. It is
// a new token, so one taken before the step-up is not the one after.
func (h *Handler) refreshMFA(r *http.Request, s session, factorType string) (session, string, error) {
	now := h.now()
	next := s
	next.IssuedAt, next.MFATime, next.MFAVerified, next.MFAFactor = now, now, true, factorType
	next.AMR = factorAMR(withoutMFA(s.AMR), factorType)
	next.GraceUntil = time.Time{}
	next.ExpiresAt = h.expiry(next, now)
	tok, err := h.tokens.issueSession(next)
	if err != nil {
		return session{}, "", err
	}
	h.auditEvent(r, "step_up", s.User, factorType, "success")
	return next, tok, nil
}

// skipEnrollment lets a user in their enrollment grace period in without a
// factor, until the grace ends (the session says until when).
func (h *Handler) skipEnrollment(r *http.Request, p pending) (session, string, error) {
	ctx := r.Context()
	active, err := h.activeFactors(ctx, p.User)
	if err != nil {
		return session{}, "", err
	}
	until, err := h.graceUntil(ctx, p.User)
	if err != nil {
		return session{}, "", err
	}
	if len(active) > 0 || until.IsZero() {
		return session{}, "", &apiError{Status: http.StatusForbidden, Code: "enrollment_required",
			Message: "Set up your authenticator now: the time to do it later is over."}
	}
	ns := newSession{User: p.User, AuthTime: p.AuthTime, AMR: p.AMR, GraceUntil: until}
	ns.spendToken(p)
	s, tok, err := h.startSession(ctx, r, ns)
	if err == nil {
		h.auditEvent(r, "enrollment_skipped", p.User, "", "success")
	}
	return s, tok, err
}
