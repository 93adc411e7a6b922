package caddymfa

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
)

// Token kinds are told apart three ways: the typ header, the key (derived
// per kind, so a signature made for one kind never verifies as another) and
// the claims each kind requires.
const (
	typSession = "mfa-session+jwt"
	typPending = "mfa-pending+jwt"

	purposeSession = "jwt session"
	purposePending = "jwt mfa_token"

	tokenLeeway = 30 * time.Second
)

var (
	errTokenInvalid = errors.New("invalid token")
	errTokenKind    = errors.New("token of another kind")
	errTokenKey     = errors.New("token signed with an unknown key")
	errTokenAud     = errors.New("token for another site")
)

// sessionClaims are the claims of a session token (DESIGN.md).
type sessionClaims struct {
	jwt.RegisteredClaims
	SID         string   `json:"sid"`
	AuthTime    int64    `json:"auth_time"`
	MFATime     int64    `json:"mfa_time,omitempty"`
	AMR         []string `json:"amr,omitempty"`
	MFAVerified bool     `json:"mfa_verified"`
	// MFAFactor is the type of the second factor behind mfa_time ("totp",
	// "recovery_code", "device"): step-up routes may accept only some.
	MFAFactor string `json:"mfa_factor,omitempty"`
	// GraceUntil: a user without a factor who skipped enrollment may go
	// without one until then (enrollment_grace).
	GraceUntil int64 `json:"grace_until,omitempty"`
	// ClientIP binds the session to one client address (bind_ip).
	ClientIP string `json:"cip,omitempty"`
	// PasswordTag ties the session to the password it was started with:
	// a changed password hash ends it.
	PasswordTag string `json:"pwv,omitempty"`
}

// pendingClaims are the claims of an mfa_token: the first factor passed,
// the second is still due. ID (jti) makes it single-use.
type pendingClaims struct {
	jwt.RegisteredClaims
	AuthTime int64    `json:"auth_time"`
	AMR      []string `json:"amr,omitempty"`
	// PasswordTag is the session's pwv to be: a password changed before
	// the second factor refuses the token.
	PasswordTag string `json:"pwv,omitempty"`
}

// session is a verified session as the rest of the handler sees it.
type session struct {
	User        string
	SID         string
	Audience    string
	IssuedAt    time.Time
	ExpiresAt   time.Time
	AuthTime    time.Time
	MFATime     time.Time
	AMR         []string
	MFAVerified bool
	MFAFactor   string
	GraceUntil  time.Time
	ClientIP    string
	PasswordTag string

	// cached is the cache entry this session was read from, if any: it
	// carries the identity prepared for the upstream (identity.go).
	cached *cachedSession
}

// pending is a verified mfa_token.
type pending struct {
	User      string
	ID        string
	Audience  string
	ExpiresAt time.Time
	AuthTime  time.Time
	AMR       []string
	// PasswordTag is the user's password tag when the first factor passed.
	PasswordTag string
}

// tokenCodec signs and verifies our tokens with keys derived from the ring.
type tokenCodec struct {
	now     func() time.Time
	current string
	keys    map[string]map[string][]byte // typ → kid → key
	parser  *jwt.Parser
	// ownerParser checks a session token's signature only: whose it is
	// matters after it ran out (sessionOwner).
	ownerParser *jwt.Parser
	// verified remembers session tokens that verified (sessioncache.go).
	verified *sessionCache
}

func newTokenCodec(ring *keys.Ring, now func() time.Time) (*tokenCodec, error) {
	tc := &tokenCodec{
		now:     now,
		current: ring.Current(),
		keys:    map[string]map[string][]byte{typSession: {}, typPending: {}},
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(tokenLeeway),
			jwt.WithTimeFunc(now),
		),
		ownerParser: jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithoutClaimsValidation()),
		verified:    newSessionCache(sessionCacheSize),
	}
	for _, kid := range ring.KeyIDs() {
		for typ, purpose := range map[string]string{typSession: purposeSession, typPending: purposePending} {
			k, ok := ring.Derive(kid, purpose)
			if !ok {
				return nil, fmt.Errorf("deriving %s key %s", typ, kid)
			}
			tc.keys[typ][kid] = k
		}
	}
	return tc, nil
}

// sessionOwner is the user of session token raw for audience aud, whether
// or not it is still in force; "" when it is not one of ours.
func (tc *tokenCodec) sessionOwner(raw, aud string) string {
	var c sessionClaims
	if raw == "" {
		return ""
	}
	if _, err := tc.ownerParser.ParseWithClaims(raw, &c, tc.keyFunc(typSession)); err != nil || !slices.Contains(c.Audience, aud) {
		return ""
	}
	return c.Subject
}

func (tc *tokenCodec) sign(typ string, claims jwt.Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["typ"] = typ
	t.Header["kid"] = tc.current
	return t.SignedString(tc.keys[typ][tc.current])
}

func (tc *tokenCodec) keyFunc(typ string) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if got, _ := t.Header["typ"].(string); got != typ {
			return nil, errTokenKind
		}
		kid, _ := t.Header["kid"].(string)
		k, ok := tc.keys[typ][kid]
		if !ok {
			return nil, errTokenKey
		}
		return k, nil
	}
}

func numeric(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t) }

func unix(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// issueSession signs s; s.IssuedAt and s.ExpiresAt must be set.
func (tc *tokenCodec) issueSession(s session) (string, error) {
	c := sessionClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   s.User,
			Audience:  jwt.ClaimStrings{s.Audience},
			IssuedAt:  numeric(s.IssuedAt),
			ExpiresAt: numeric(s.ExpiresAt),
		},
		SID:         s.SID,
		AuthTime:    s.AuthTime.Unix(),
		AMR:         s.AMR,
		MFAVerified: s.MFAVerified,
		MFAFactor:   s.MFAFactor,
	}
	if !s.MFATime.IsZero() {
		c.MFATime = s.MFATime.Unix()
	}
	c.ClientIP, c.PasswordTag = s.ClientIP, s.PasswordTag
	if !s.GraceUntil.IsZero() {
		c.GraceUntil = s.GraceUntil.Unix()
	}
	return tc.sign(typSession, c)
}

// parseSession verifies a session token for audience aud.
func (tc *tokenCodec) parseSession(raw, aud string) (session, error) {
	return tc.parseSessionHit(raw, aud, tc.now(), nil)
}

// parseSessionHit is parseSession when the caller has read the clock. A
// token that verified before comes from the cache, after the checks of
// time and audience that the parser would make. hit is the cache entry
// the caller found for raw (a cacheHit), so that the cache is not asked
// twice; an entry for another token counts for nothing, nil asks the
// cache.
func (tc *tokenCodec) parseSessionHit(raw, aud string, now time.Time, hit *cachedSession) (session, error) {
	e := hit
	if e == nil || e.raw != raw {
		e = tc.verified.get(raw)
	}
	if e != nil && e.s.Audience == aud && e.fresh(now) {
		return e.s, nil
	}
	var c sessionClaims
	if _, err := tc.parser.ParseWithClaims(raw, &c, tc.keyFunc(typSession)); err != nil {
		return session{}, fmt.Errorf("%w: %w", errTokenInvalid, err)
	}
	if !slices.Contains(c.Audience, aud) {
		return session{}, errTokenAud
	}
	if c.Subject == "" || c.SID == "" || c.AuthTime == 0 || c.IssuedAt == nil {
		return session{}, fmt.Errorf("%w: missing claims", errTokenInvalid)
	}
	s := session{
		User:      c.Subject,
		SID:       c.SID,
		Audience:  aud,
		IssuedAt:  c.IssuedAt.Time,
		ExpiresAt: c.ExpiresAt.Time,
		AuthTime:  unix(c.AuthTime),
		MFATime:   unix(c.MFATime),
		// Clipped: the cached copy is shared, so an append by a caller
		// must never write into it.
		AMR:         slices.Clip(c.AMR),
		MFAVerified: c.MFAVerified,
		MFAFactor:   c.MFAFactor,
		GraceUntil:  unix(c.GraceUntil),
		ClientIP:    c.ClientIP,
		PasswordTag: c.PasswordTag,
	}
	if c.NotBefore != nil {
		return s, nil // we never issue one; such a token is not worth caching
	}
	e = &cachedSession{
		raw:       strings.Clone(raw), // not a slice of the whole Cookie header
		notBefore: c.IssuedAt.Add(-tokenLeeway),
		notAfter:  c.ExpiresAt.Add(tokenLeeway),
	}
	e.s = s
	e.s.cached = e
	tc.verified.put(e, now)
	return e.s, nil
}

func (tc *tokenCodec) issuePending(p pending, issuedAt time.Time) (string, error) {
	return tc.sign(typPending, pendingClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   p.User,
			Audience:  jwt.ClaimStrings{p.Audience},
			IssuedAt:  numeric(issuedAt),
			ExpiresAt: numeric(p.ExpiresAt),
			ID:        p.ID,
		},
		AuthTime:    p.AuthTime.Unix(),
		AMR:         p.AMR,
		PasswordTag: p.PasswordTag,
	})
}

func (tc *tokenCodec) parsePending(raw, aud string) (pending, error) {
	var c pendingClaims
	if _, err := tc.parser.ParseWithClaims(raw, &c, tc.keyFunc(typPending)); err != nil {
		return pending{}, fmt.Errorf("%w: %w", errTokenInvalid, err)
	}
	if !slices.Contains(c.Audience, aud) {
		return pending{}, errTokenAud
	}
	if c.Subject == "" || c.ID == "" || c.AuthTime == 0 {
		return pending{}, fmt.Errorf("%w: missing claims", errTokenInvalid)
	}
	return pending{
		User:        c.Subject,
		ID:          c.ID,
		Audience:    aud,
		ExpiresAt:   c.ExpiresAt.Time,
		AuthTime:    unix(c.AuthTime),
		AMR:         c.AMR,
		PasswordTag: c.PasswordTag,
	}, nil
}
