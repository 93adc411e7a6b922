package caddymfa

import (
	"context"
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
}

// startSession records and signs a new session: a new sid on every
// sign-in, so a token held before it (fixation) is worth nothing.
func (h *Handler) startSession(ctx context.Context, r *http.Request, ns newSession) (session, string, error) {
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
	err := h.backend.SaveSession(ctx, store.Session{
		ID:        s.SID,
		User:      ns.User,
		CreatedAt: now,
		ExpiresAt: ns.AuthTime.Add(h.lifetime),
		AMR:       ns.AMR,
		ClientIP:  clientIP(r),
		UserAgent: truncate(r.UserAgent(), 256),
		DeviceID:  ns.DeviceID,
	})
	if err != nil {
		return session{}, "", unavailable(err)
	}
	tok, err := h.tokens.issueSession(s)
	if err != nil {
		return session{}, "", err
	}
	return s, tok, nil
}
