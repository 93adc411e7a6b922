package caddymfa

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// Where a request's session token came from.
const (
	fromCookie = iota + 1
	fromBearer
)

// expiry is when a token issued at now for s ends: after session_idle of
// inactivity, and never after session_lifetime from the first factor.
func (h *Handler) expiry(s session, now time.Time) time.Time {
	idle := now.Add(h.idle)
	if abs := s.AuthTime.Add(h.lifetime); abs.Before(idle) {
		return abs
	}
	return idle
}

// requestSession finds and verifies the session of r: a bearer token if
// one is ours, else the session cookie.
func (h *Handler) requestSession(r *http.Request) (session, int, error) {
	return h.requestSessionWith(r, h.now(), h.sessionCookie(r), nil)
}

// requestSessionWith is requestSession at now (the hot path reads the
// clock once per request) with the session cookie's value, "" for none,
// already found, and the cache entry found for it on the way (nil for
// none: the cache is asked again).
func (h *Handler) requestSessionWith(r *http.Request, now time.Time, cookie string, hit *cachedSession) (session, int, error) {
	aud := h.sessionAudience(r)
	var firstErr error
	if raw, ok := bearerToken(r); ok {
		s, err := h.checkSession(r, raw, aud, now, nil)
		if err == nil {
			return s, fromBearer, nil
		}
		firstErr = err
	}
	if cookie != "" {
		s, err := h.checkSession(r, cookie, aud, now, hit)
		if err == nil {
			return s, fromCookie, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = errAuthRequired
	}
	return session{}, 0, firstErr
}

func (h *Handler) checkSession(r *http.Request, raw, aud string, now time.Time, hit *cachedSession) (session, error) {
	if err := h.backend.sessionsUsable(); err != nil {
		return session{}, err
	}
	s, err := h.tokens.parseSessionHit(raw, aud, now, hit)
	if err != nil {
		return session{}, errAuthRequired
	}
	if !now.Before(s.AuthTime.Add(h.lifetime)) || h.backend.revoked.revoked(s.SID, s.User, s.AuthTime) {
		return session{}, errAuthRequired
	}
	if h.IdentityFrom != "" && s.User != h.upstreamIdentity(r) {
		// The earlier handler now vouches for someone else.
		return session{}, errAuthRequired
	}
	if !h.firstFactorStands(s.User, s.PasswordTag) {
		return session{}, errAuthRequired
	}
	if h.BindIP && s.ClientIP != clientIP(r) {
		return session{}, errAuthRequired
	}
	return s, nil
}

// firstFactorStands reports whether a first factor user passed with the
// password tag tag still stands: user is one of this handler's (not
// removed since, nor signed in at another handler sharing the secret), and
// the password has not changed. With identity_from, users need not be
// ours; the earlier handler vouches for them.
func (h *Handler) firstFactorStands(user, tag string) bool {
	current, known := h.passwordTags[user]
	if !known {
		return h.IdentityFrom != ""
	}
	return current == tag
}

// sessionCookie is the session cookie's value. A token in the cache of
// verified sessions skips the check of its bytes: it holds only base64url
// characters and dots, all valid in a cookie.
func (h *Handler) sessionCookie(r *http.Request) string {
	return findCookie(r, h.cookies.session, h.tokens.verified.has)
}

// sessionAudience is h.audience(r), without the error value that
// net.SplitHostPort allocates for a host with no port (the usual Host
// behind TLS). The two must agree; a test holds them to it.
func (h *Handler) sessionAudience(r *http.Request) string {
	if h.CookieDomain != "" {
		return h.CookieDomain
	}
	host := r.Host
	if strings.IndexByte(host, ':') >= 0 {
		if hst, _, err := net.SplitHostPort(host); err == nil {
			host = hst
		}
	}
	return strings.ToLower(host)
}

func bearerToken(r *http.Request) (string, bool) {
	var auth string
	if v := r.Header["Authorization"]; len(v) > 0 {
		auth = v[0]
	}
	if len(auth) < 7 || !strings.EqualFold(auth[:7], "bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(auth[7:])
	return tok, tok != ""
}

// renewIfDue slides the idle limit of a cookie session: at most once per
// renewal interval the cookie is re-issued with a later expiry (capped by
// the absolute limit). Bearer clients renew through GET /session.
func (h *Handler) renewIfDue(w http.ResponseWriter, s session, now time.Time) {
	if now.Sub(s.IssuedAt) < h.renew {
		return
	}
	next := s
	next.IssuedAt = now
	next.ExpiresAt = h.expiry(s, now)
	if !next.ExpiresAt.After(s.ExpiresAt) {
		return
	}
	tok, err := h.tokens.issueSession(next)
	if err != nil {
		return
	}
	http.SetCookie(w, h.cookies.make(h.cookies.session, tok, next.ExpiresAt))
}

// revocationCutoff is the NotBefore of a revocation, made at now, of every
// session a user began until now. Tokens carry auth_time in whole seconds:
// the next whole second ends a session begun in this one, and spares one
// begun after it; now + 1 s would also end sessions begun in the second
// after the revocation, their sign-in answered 200 with a dead token.
func revocationCutoff(now time.Time) time.Time {
	return now.Truncate(time.Second).Add(time.Second)
}

// endSession revokes s everywhere and clears the browser's cookies.
func (h *Handler) endSession(ctx context.Context, w http.ResponseWriter, r *http.Request, s session) error {
	err := h.backend.revoke(ctx, store.Revocation{
		SessionID: s.SID,
		User:      s.User,
		ExpiresAt: s.AuthTime.Add(h.backend.longestLifetime(h.lifetime) + tokenLeeway),
	})
	if err != nil {
		return unavailable(err)
	}
	h.clearCookies(w)
	h.auditEvent(r, "logout", s.User, "", "success")
	return nil
}

func (h *Handler) clearCookies(w http.ResponseWriter) {
	http.SetCookie(w, h.cookies.clear(h.cookies.session))
	http.SetCookie(w, h.cookies.clear(h.cookies.pending))
	// A request kept for this browser is not for whoever signs in next.
	http.SetCookie(w, h.cookies.clear(resumeCookie))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
