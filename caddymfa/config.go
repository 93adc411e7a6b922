package caddymfa

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// Defaults of every knob; SECURITY.md gives the reasons.
const (
	defaultPrefix          = "/_mfa/"
	defaultSessionLifetime = 12 * time.Hour
	defaultSessionIdle     = 30 * time.Minute
	defaultPendingLifetime = 5 * time.Minute
	defaultEnrollLifetime  = 15 * time.Minute
	defaultMaxBody         = 64 << 10
	enforceRequired        = "required"
	enforceEnrolled        = "enrolled"
)

// UserConfig is one built-in user of the first factor.
type UserConfig struct {
	Name        string   `json:"name"`
	Password    string   `json:"password"` // argon2id or bcrypt hash
	Email       string   `json:"email,omitempty"`
	DisplayName string   `json:"display_name,omitempty"`
	Groups      []string `json:"groups,omitempty"`
}

// HeaderNames are the request headers that carry the identity upstream.
// An empty name keeps the default: Authelia's names for user, email, name
// and groups, and no header for methods, auth_time and mfa_time, which are
// sent only when named (each header costs every proxied request). "-"
// turns a header off. Whatever the names, the client's own copies of the
// configured and of all seven standard names are always removed.
type HeaderNames struct {
	User     string `json:"user,omitempty"`
	Email    string `json:"email,omitempty"`
	Name     string `json:"name,omitempty"`
	Groups   string `json:"groups,omitempty"`
	Methods  string `json:"methods,omitempty"`
	AuthTime string `json:"auth_time,omitempty"`
	MFATime  string `json:"mfa_time,omitempty"`
}

// standardHeaderNames are the names the README documents for each header.
func standardHeaderNames() HeaderNames {
	return HeaderNames{
		User:     "Remote-User",
		Email:    "Remote-Email",
		Name:     "Remote-Name",
		Groups:   "Remote-Groups",
		Methods:  "Remote-MFA-Methods",
		AuthTime: "Remote-Auth-Time",
		MFATime:  "Remote-MFA-Time",
	}
}

// withDefaults fills empty names with the defaults and drops "-" ones.
func (hn HeaderNames) withDefaults() HeaderNames {
	d := standardHeaderNames()
	d.Methods, d.AuthTime, d.MFATime = "", "", ""
	pick := func(v, def string) string {
		switch v {
		case "":
			return def
		case "-":
			return ""
		}
		return v
	}
	return HeaderNames{
		User:     pick(hn.User, d.User),
		Email:    pick(hn.Email, d.Email),
		Name:     pick(hn.Name, d.Name),
		Groups:   pick(hn.Groups, d.Groups),
		Methods:  pick(hn.Methods, d.Methods),
		AuthTime: pick(hn.AuthTime, d.AuthTime),
		MFATime:  pick(hn.MFATime, d.MFATime),
	}
}

// protocolHeaders carry the request itself, its credentials or what the
// proxy adds; an identity header by one of these names would break the
// request or be overwritten.
var protocolHeaders = []string{
	"Host", "Cookie", "Authorization", "Proxy-Authorization", "Content-Length", "Content-Type",
	"Content-Encoding", "Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection", "TE",
	"Trailer", "Upgrade", "Expect", "Forwarded", "X-Forwarded-For", "X-Forwarded-Proto",
	"X-Forwarded-Host", "Via",
}

// check refuses configured names that are a protocol header, or that two
// fields share (the second value would silently replace the first).
func (hn HeaderNames) check() error {
	fields := []struct{ field, name string }{
		{"user", hn.User}, {"email", hn.Email}, {"name", hn.Name}, {"groups", hn.Groups},
		{"methods", hn.Methods}, {"auth_time", hn.AuthTime}, {"mfa_time", hn.MFATime},
	}
	for i, f := range fields {
		if f.name == "" {
			continue
		}
		for _, p := range protocolHeaders {
			if sameHeaderName(f.name, p) {
				return fmt.Errorf("%s: %q is a header of HTTP or of the proxy; give the identity header its own name", f.field, f.name)
			}
		}
		for _, g := range fields[:i] {
			if sameHeaderName(f.name, g.name) {
				return fmt.Errorf("%s and %s are both sent as %q; give each its own name", g.field, f.field, f.name)
			}
		}
	}
	return nil
}

// names lists the configured header names, canonicalised.
func (hn HeaderNames) names() []string {
	var out []string
	for _, n := range []string{hn.User, hn.Email, hn.Name, hn.Groups, hn.Methods, hn.AuthTime, hn.MFATime} {
		if n != "" {
			out = append(out, http.CanonicalHeaderKey(n))
		}
	}
	return out
}

// LockoutConfig tunes the failed-attempt limits. Zero values take the
// defaults of SECURITY.md.
type LockoutConfig struct {
	// Threshold failures lock an account (per user) for the next of
	// Durations; the last duration repeats.
	Threshold int              `json:"threshold,omitempty"`
	Durations []caddy.Duration `json:"durations,omitempty"`
	// MaxFailures consecutive second-factor failures leave only a recovery
	// code (or an admin reset) to unlock the account.
	MaxFailures int `json:"max_failures,omitempty"`
	// IPThreshold failures from one client IP (any user, any factor) lock
	// that IP; spraying across accounts hits this limit.
	IPThreshold int `json:"ip_threshold,omitempty"`
	// Forget drops a first-factor or IP counter after this long without
	// failures. Second-factor counters are never forgotten, only reset by
	// a success.
	Forget caddy.Duration `json:"forget,omitempty"`
}

// guessWindow is the span over which max_failures also caps failed codes,
// successes or not: it keeps the odds of guessing small even when the
// account's owner signs in (and so resets the lock counter) every day.
const guessWindow = 30 * 24 * time.Hour

// policies turns the configuration into the store lock policies.
func (lc LockoutConfig) policies() (secondFactor, password, ip, window store.LockPolicy, err error) {
	threshold := lc.Threshold
	if threshold == 0 {
		threshold = 5
	}
	locks := []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour}
	if len(lc.Durations) > 0 {
		locks = locks[:0]
		for _, d := range lc.Durations {
			if d <= 0 {
				return secondFactor, password, ip, window, fmt.Errorf("lockout durations must be positive, got %v", time.Duration(d))
			}
			locks = append(locks, time.Duration(d))
		}
	}
	maxFailures := lc.MaxFailures
	if maxFailures == 0 {
		maxFailures = 100
	}
	ipThreshold := lc.IPThreshold
	if ipThreshold == 0 {
		ipThreshold = 20
	}
	forget := time.Duration(lc.Forget)
	if forget == 0 {
		forget = 24 * time.Hour
	}
	switch {
	case threshold < 1 || threshold > 100:
		return secondFactor, password, ip, window, fmt.Errorf("lockout threshold must be between 1 and 100, got %d", threshold)
	case maxFailures < threshold || maxFailures > 100:
		// NIST SP 800-63B 5.2.2: no more than 100 consecutive failures.
		return secondFactor, password, ip, window, fmt.Errorf("lockout max_failures must be between threshold (%d) and 100, got %d", threshold, maxFailures)
	case ipThreshold < 1:
		return secondFactor, password, ip, window, fmt.Errorf("lockout ip_threshold must be positive, got %d", ipThreshold)
	case forget < 0:
		return secondFactor, password, ip, window, fmt.Errorf("lockout forget must be positive")
	}
	secondFactor = store.LockPolicy{Threshold: threshold, Locks: locks, HardCap: maxFailures}
	password = store.LockPolicy{Threshold: threshold, Locks: locks, Forget: forget}
	ip = store.LockPolicy{Threshold: ipThreshold, Locks: locks, Forget: forget}
	window = store.LockPolicy{Threshold: maxFailures, Locks: []time.Duration{guessWindow}, Forget: guessWindow}
	return secondFactor, password, ip, window, nil
}

// BrandingConfig restyles the built-in pages.
type BrandingConfig struct {
	Title string `json:"title,omitempty"`
	Logo  string `json:"logo,omitempty"`
	Color string `json:"color,omitempty"`
}

// Limits of the body settings. A kept request is stored sealed, its body
// in base64 next to its URL, and a store holds at most 1 MiB of it.
const (
	minMaxBody       = 1 << 10
	maxMaxBody       = 16 << 20
	maxKeepBody      = 512 << 10
	maxTrustedDevice = 400 * 24 * time.Hour
)

// validCookieDomain accepts what browsers (and net/http, which otherwise
// drops the Domain attribute) take as a cookie domain: dot-separated
// labels of ASCII letters, digits and inner hyphens, a leading dot
// allowed.
func validCookieDomain(d string) bool {
	d = strings.TrimPrefix(d, ".")
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

// normalizePrefix makes "/_mfa", "_mfa/" and "/_mfa/" all "/_mfa/".
func normalizePrefix(p string) (string, error) {
	if p == "" {
		return defaultPrefix, nil
	}
	p = "/" + strings.Trim(p, "/") + "/"
	if p == "//" || strings.ContainsAny(p, "?#%\\ ") {
		return "", fmt.Errorf("prefix %q must be a plain path such as /_mfa/", p)
	}
	// A browser would clean "." and ".." segments and "//" out of our
	// forms' actions, and post them outside the prefix.
	for _, seg := range strings.Split(strings.Trim(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("prefix %q must be a plain path such as /_mfa/ (no empty, . or .. segments)", p)
		}
	}
	return p, nil
}
