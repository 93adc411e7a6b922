package caddymfa

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
	"github.com/caddymfa/caddy-mfa/caddymfa/factor/totp"
	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/caddymfa/users"
	"github.com/caddymfa/caddy-mfa/challengepage"
	"github.com/caddymfa/caddy-mfa/trusteddevice"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the http.handlers.mfa module: it lets a request through to
// the next handler only with a valid session, and otherwise answers it with
// the sign-in flow.
type Handler struct {
	// Secrets are the master secrets (≥ 32 bytes each). The first signs
	// and encrypts; the others are still accepted, for rotation.
	// Placeholders such as {env.MFA_SECRET} or {file./run/secrets/mfa} are
	// resolved when the config loads.
	Secrets []string `json:"secrets,omitempty"`
	// Users are built-in users of the first factor.
	Users []UserConfig `json:"users,omitempty"`
	// UsersFile is a YAML file of users (see README).
	UsersFile string `json:"users_file,omitempty"`
	// IdentityFrom takes the user from a placeholder set by an earlier
	// handler, e.g. {http.auth.user.id} after basic_auth; then this module
	// only adds the second factor.
	IdentityFrom string `json:"identity_from,omitempty"`
	// StoreRaw selects the store module (http.mfa.stores.*); default: the
	// embedded file store in Caddy's data directory.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=http.mfa.stores inline_key=backend"`
	// Factors offered as second factor: "totp", "recovery_code".
	Factors []string `json:"factors,omitempty"`
	// Enforce is "required" (everyone must use a second factor) or
	// "enrolled" (only users who enrolled one).
	Enforce         string         `json:"enforce,omitempty"`
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`
	SessionIdle     caddy.Duration `json:"session_idle,omitempty"`
	// Prefix of the reserved routes, default /_mfa/.
	Prefix       string         `json:"prefix,omitempty"`
	Headers      *HeaderNames   `json:"headers,omitempty"`
	Lockout      *LockoutConfig `json:"lockout,omitempty"`
	CookieDomain string         `json:"cookie_domain,omitempty"`
	// Issuer is the name authenticator apps show; default: the site host.
	Issuer    string          `json:"issuer,omitempty"`
	Templates string          `json:"templates,omitempty"`
	Branding  *BrandingConfig `json:"branding,omitempty"`
	// MaxBody limits request bodies of the reserved routes (bytes).
	MaxBody int64 `json:"max_body,omitempty"`
	// StepUp rules: routes whose second factor must be fresher.
	StepUp []StepUpRule `json:"step_up,omitempty"`
	// Bypass rules: routes that pass with no check (identity headers are
	// still stripped).
	Bypass []BypassRule `json:"bypass,omitempty"`
	// EnrollmentGrace lets new users (counted from their first sign-in)
	// skip enrollment this long under `enforce required`.
	EnrollmentGrace caddy.Duration `json:"enrollment_grace,omitempty"`
	// TrustedDevice is how long "trust this device" skips the second
	// factor at sign-in; "0" disables it. Default 30 days.
	TrustedDevice *caddy.Duration `json:"trusted_device,omitempty"`
	// BindIP ties each session to the client IP it was started from; a
	// request from another IP meets the sign-in again.
	BindIP bool `json:"bind_ip,omitempty"`
	// KeepBody is the largest request body kept across a challenge and
	// replayed afterwards (bytes); -1 disables. Default 64 KiB.
	KeepBody int64 `json:"keep_body,omitempty"`

	now     func() time.Time
	logger  *zap.Logger
	audit   *zap.Logger
	ring    *keys.Ring
	tokens  *tokenCodec
	dir     *users.Directory
	backend *backend
	poolKey string
	pages   *challengepage.Renderer
	// pathWarned: the warning that the path was changed before this
	// handler was logged (once).
	pathWarned *atomic.Bool
	// imgSrc is the img-src of our pages' CSP (see imgSources).
	imgSrc   string
	prefix   string
	hdr      HeaderNames
	strip    []string   // canonical identity header names removed from every request
	stripSet nameFilter // rules out most names that are not in strip
	lifetime time.Duration
	idle     time.Duration
	renew    time.Duration
	totp     totp.Params
	cookies  cookieNames
	limits   limits
	factors  []string
	enforce  string

	secondFactors map[string]secondFactor
	devices       *trusteddevice.Manager
	// passwordTags: per built-in user, a keyed digest of the password hash
	// that sessions carry, so changing a password ends older sessions.
	passwordTags map[string]string
}

// limits are the lock policies of SECURITY.md.
type limits struct {
	secondFactor store.LockPolicy
	password     store.LockPolicy
	ip           store.LockPolicy
	// window caps failed TOTP codes per account per 30 days, whatever
	// successes come in between.
	window store.LockPolicy
}

// clock is what Provision gives handlers; tests replace it.
var clock = time.Now

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mfa",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision resolves the configuration and opens (or shares) the store.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.now = clock
	h.logger = ctx.Logger()
	h.pathWarned = new(atomic.Bool)
	h.audit = h.logger.Named("audit")
	if err := h.provisionSecrets(); err != nil {
		return err
	}
	if err := h.provisionUsers(); err != nil {
		return err
	}
	if err := h.provisionSettings(); err != nil {
		return err
	}
	pages, err := challengepage.New(challengepage.Options{
		TemplateDir: h.Templates,
		Branding:    h.brandingOptions(),
	})
	if err != nil {
		return fmt.Errorf("mfa: templates/branding: %w", err)
	}
	h.pages = pages
	h.imgSrc = imgSources(h.brandingOptions().LogoURL)
	if err := h.provisionPolicy(ctx); err != nil {
		return err
	}
	if err := h.provisionStore(ctx); err != nil {
		return err
	}
	h.provisionDevices()
	return h.provisionOperations(ctx)
}

func (h *Handler) provisionSecrets() error {
	if len(h.Secrets) == 0 {
		return errors.New("mfa: secret is required: set `secret {env.MFA_SECRET}` (at least 32 random bytes, e.g. from `openssl rand -base64 48`)")
	}
	repl := caddy.NewReplacer()
	resolved := make([]string, len(h.Secrets))
	for i, s := range h.Secrets {
		v, err := repl.ReplaceOrErr(s, true, true)
		if err != nil {
			return fmt.Errorf("mfa: secret #%d: %w", i+1, err)
		}
		v = strings.TrimSpace(v)
		if v == "" {
			return fmt.Errorf("mfa: secret #%d is empty (a placeholder resolved to nothing?)", i+1)
		}
		resolved[i] = v
	}
	ring, err := keys.NewRing(resolved...)
	if err != nil {
		return fmt.Errorf("mfa: secret: %w", err)
	}
	h.ring = ring
	tc, err := newTokenCodec(ring, func() time.Time { return h.now() })
	if err != nil {
		return fmt.Errorf("mfa: secret: %w", err)
	}
	h.tokens = tc
	return nil
}

func (h *Handler) provisionUsers() error {
	var all []users.User
	for i, u := range h.Users {
		if u.Name == "" {
			return fmt.Errorf("mfa: user #%d has no name", i+1)
		}
		hash, err := users.ParseHash(u.Password)
		if err != nil {
			return fmt.Errorf("mfa: user %q: password hash: %w", u.Name, err)
		}
		all = append(all, users.User{Name: u.Name, Email: u.Email, DisplayName: u.DisplayName, Groups: u.Groups, Hash: hash})
	}
	if h.UsersFile != "" {
		fromFile, err := users.LoadFile(h.UsersFile)
		if err != nil {
			return fmt.Errorf("mfa: users_file: %w", err)
		}
		all = append(all, fromFile...)
	}
	if len(all) == 0 && h.IdentityFrom == "" {
		return errors.New("mfa: no first factor: add `user NAME HASH`, `users_file PATH` or `identity_from {placeholder}`")
	}
	dir, err := users.NewDirectory(all)
	if err != nil {
		return fmt.Errorf("mfa: users: %w", err)
	}
	h.dir = dir
	h.passwordTags = make(map[string]string, len(all))
	for _, u := range all {
		// Not keyed by the secret: a secret rotation must not end sessions.
		h.passwordTags[u.Name] = hex.EncodeToString(u.Hash.Fingerprint()[:9])
	}
	return nil
}

// identitySources are the placeholders identity_from may read: what an
// earlier handler set after checking the user (basic_auth, a handler that
// sets a variable, forward_auth's copied headers) or what Caddy took from
// a verified client certificate. The query, cookies, path or host are the
// client's own words and would let anyone sign in as anyone.
var identitySources = []string{"http.auth.user.", "http.vars.", "http.request.tls.client.", "http.request.header."}

func checkIdentityFrom(v string) error {
	if v == "" {
		return nil
	}
	name, opened := strings.CutPrefix(v, "{")
	name, closed := strings.CutSuffix(name, "}")
	if !opened || !closed || strings.ContainsAny(name, "{}") {
		return fmt.Errorf("identity_from must be one placeholder such as {http.auth.user.id}, got %q", v)
	}
	for _, src := range identitySources {
		if strings.HasPrefix(name, src) && len(name) > len(src) {
			return nil
		}
	}
	return fmt.Errorf("identity_from %q is not set by an earlier handler: use {http.auth.user.*}, {http.vars.*}, {http.request.tls.client.*} or, behind forward_auth, {http.request.header.*}", v)
}

func (h *Handler) provisionSettings() error {
	var err error
	if h.prefix, err = normalizePrefix(h.Prefix); err != nil {
		return fmt.Errorf("mfa: %w", err)
	}
	if err := checkIdentityFrom(h.IdentityFrom); err != nil {
		return fmt.Errorf("mfa: %w", err)
	}
	if strings.HasPrefix(h.IdentityFrom, "{http.request.header.") {
		h.logger.Warn("identity_from reads a request header: safe only when an earlier handler (forward_auth with copy_headers) always sets or removes it",
			zap.String("identity_from", h.IdentityFrom))
	}
	h.lifetime, h.idle = time.Duration(h.SessionLifetime), time.Duration(h.SessionIdle)
	if h.lifetime == 0 {
		h.lifetime = defaultSessionLifetime
	}
	if h.idle == 0 {
		// The default idle limit, never longer than a shorter lifetime
		// the operator set.
		h.idle = min(defaultSessionIdle, h.lifetime)
	}
	if len(h.Issuer) > maxIssuer {
		return fmt.Errorf("mfa: issuer must be at most %d bytes (it goes into every QR code), got %d", maxIssuer, len(h.Issuer))
	}
	if h.lifetime < time.Minute || h.idle < time.Minute || h.idle > h.lifetime {
		return fmt.Errorf("mfa: session_lifetime (%v) and session_idle (%v) must be at least 1m, idle no longer than lifetime", h.lifetime, h.idle)
	}
	// Sliding renewal re-signs a cookie at most once a minute per client.
	h.renew = min(time.Minute, h.idle/2)

	h.enforce = h.Enforce
	switch h.enforce {
	case "":
		h.enforce = enforceRequired
	case enforceRequired, enforceEnrolled:
	default:
		return fmt.Errorf("mfa: enforce must be %q or %q, got %q", enforceRequired, enforceEnrolled, h.Enforce)
	}
	h.factors = h.Factors
	if len(h.factors) == 0 {
		h.factors = []string{factor.TypeTOTP, factor.TypeRecoveryCode}
	}
	for _, f := range h.factors {
		if f != factor.TypeTOTP && f != factor.TypeRecoveryCode {
			return fmt.Errorf("mfa: factors: unknown factor %q (known: totp, recovery_code)", f)
		}
	}
	if !slices.Contains(h.factors, factor.TypeTOTP) {
		return errors.New("mfa: factors: totp is the only enrollable factor and must be listed")
	}

	var hn HeaderNames
	if h.Headers != nil {
		hn = *h.Headers
	}
	h.hdr = hn.withDefaults()
	// Strip the standard names too: an app may still read Remote-User
	// after the operator renamed or turned it off, or Remote-MFA-Methods
	// that is not sent.
	h.strip = h.hdr.names()
	for _, n := range standardHeaderNames().names() {
		if !slices.Contains(h.strip, n) {
			h.strip = append(h.strip, n)
		}
	}
	for _, n := range h.strip {
		if !validHeaderName(n) {
			return fmt.Errorf("mfa: headers: %q is not a valid header name", n)
		}
	}
	h.stripSet = newNameFilter(h.strip)
	if err := h.hdr.check(); err != nil {
		return fmt.Errorf("mfa: headers: %w", err)
	}

	var lc LockoutConfig
	if h.Lockout != nil {
		lc = *h.Lockout
	}
	if h.limits.secondFactor, h.limits.password, h.limits.ip, h.limits.window, err = lc.policies(); err != nil {
		return fmt.Errorf("mfa: %w", err)
	}
	if h.MaxBody == 0 {
		h.MaxBody = defaultMaxBody
	}
	if h.TrustedDevice != nil && *h.TrustedDevice < 0 {
		return fmt.Errorf("mfa: trusted_device must be 0 (off) or a positive duration")
	}
	if h.EnrollmentGrace < 0 {
		return fmt.Errorf("mfa: enrollment_grace must be positive")
	}
	if h.MaxBody < minMaxBody || h.MaxBody > maxMaxBody {
		return fmt.Errorf("mfa: max_body must be between %d and %d bytes, got %d", minMaxBody, maxMaxBody, h.MaxBody)
	}
	if h.KeepBody > maxKeepBody {
		return fmt.Errorf("mfa: keep_body must be at most %d bytes (what a kept request can hold), got %d", maxKeepBody, h.KeepBody)
	}
	if h.TrustedDevice != nil && time.Duration(*h.TrustedDevice) > maxTrustedDevice {
		return fmt.Errorf("mfa: trusted_device must be at most 400d (browsers keep a cookie no longer), got %v", time.Duration(*h.TrustedDevice))
	}
	if h.CookieDomain != "" && !validCookieDomain(h.CookieDomain) {
		return fmt.Errorf("mfa: cookie_domain %q is not a domain name such as example.com (letters, digits and hyphens; punycode for other scripts)", h.CookieDomain)
	}
	h.CookieDomain = strings.TrimPrefix(strings.ToLower(h.CookieDomain), ".")
	h.cookies = newCookieNames(h.CookieDomain)
	h.totp = totp.DefaultParams()
	h.secondFactors = h.newSecondFactors()
	return nil
}

func (h *Handler) brandingOptions() challengepage.Branding {
	if h.Branding == nil {
		return challengepage.Branding{}
	}
	return challengepage.Branding{Title: h.Branding.Title, LogoURL: h.Branding.Logo, Color: h.Branding.Color}
}

func (h *Handler) provisionStore(ctx caddy.Context) error {
	var opener StoreOpener = &FileStore{}
	if h.StoreRaw != nil {
		mod, err := ctx.LoadModule(h, "StoreRaw")
		if err != nil {
			return fmt.Errorf("mfa: store: %w", err)
		}
		opener = mod.(StoreOpener)
	} else if err := opener.(*FileStore).Provision(ctx); err != nil {
		return fmt.Errorf("mfa: store: %w", err)
	}
	b, key, err := acquireBackend(ctx, opener, h.now)
	if err != nil {
		return fmt.Errorf("mfa: store: %w", err)
	}
	h.backend, h.poolKey = b, key
	return nil
}

// Cleanup releases this config's hold on the shared store.
func (h *Handler) Cleanup() error {
	if h.poolKey == "" {
		return nil
	}
	_, err := backends.Delete(h.poolKey)
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
