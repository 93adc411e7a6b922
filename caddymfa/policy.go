package caddymfa

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// requirement is what a protected request needs from its session.
type requirement struct {
	// Bypass: no check at all (health checks, webhooks).
	Bypass bool
	// MFA: the session must have passed a second factor (or be within an
	// enrollment grace period).
	MFA bool
	// StepUp: the second factor must be fresher than MaxAge and, if
	// Factors is set, of one of those types. A trusted device never
	// counts.
	StepUp  bool
	MaxAge  time.Duration
	Factors []string
}

// requirementFor decides what request r needs: bypass rules first, then
// the strictest step-up rule that matches, then the site's enforcement.
func (h *Handler) requirementFor(r *http.Request) requirement {
	if len(h.Bypass) > 0 && h.bypassed(r) {
		return requirement{Bypass: true}
	}
	need := requirement{MFA: h.enforce == enforceRequired}
	for i := range h.StepUp {
		rule := &h.StepUp[i]
		if !h.stepUpMatches(rule, r) {
			continue
		}
		if !need.StepUp || rule.maxAge() < need.MaxAge {
			need.MaxAge = rule.maxAge()
		}
		if len(rule.Factors) > 0 {
			if need.Factors == nil {
				need.Factors = rule.Factors
			} else {
				// Several rules: only factors all of them accept (an
				// empty, non-nil list accepts none).
				both := []string{}
				for _, f := range need.Factors {
					if slices.Contains(rule.Factors, f) {
						both = append(both, f)
					}
				}
				need.Factors = both
			}
		}
		need.StepUp, need.MFA = true, true
	}
	return need
}

// bypassed reports whether r may skip every check. Paths a backend could
// read differently from Caddy's matchers (dot segments, backslashes,
// encoded slashes or dots, path parameters, doubled slashes) never bypass:
// they meet the normal checks instead.
func (h *Handler) bypassed(r *http.Request) bool {
	if ambiguousPath(r.URL.Path) || (r.URL.RawPath != "" && ambiguousPath(r.URL.RawPath)) {
		return false
	}
	for i := range h.Bypass {
		if ok, err := h.Bypass[i].matchers.AnyMatchWithError(r); ok && err == nil {
			return true
		}
	}
	return false
}

// stepUpMatches checks a rule against the path as Caddy reads it, as a
// lenient backend might normalise it, and as a backend that routes on the
// segments as sent might read it, so an odd spelling cannot dodge a
// step-up. Only a path with dot segments, backslashes, path parameters or
// doubled slashes has the other two readings.
func (h *Handler) stepUpMatches(rule *StepUpRule, r *http.Request) bool {
	if ok, err := rule.matchers.AnyMatchWithError(r); ok || err != nil {
		return true
	}
	alt := normalizedPath(r.URL.Path)
	if alt == r.URL.Path {
		return false
	}
	r2 := r.Clone(r.Context())
	for _, p := range []string{alt, literalPath(r.URL.Path)} {
		r2.URL.Path, r2.URL.RawPath = p, ""
		if ok, err := rule.matchers.AnyMatchWithError(r2); ok || err != nil {
			return true
		}
	}
	return false
}

func ambiguousPath(p string) bool {
	lp := strings.ToLower(p)
	return strings.Contains(p, "..") || strings.Contains(p, "//") || strings.ContainsAny(p, "\\;") ||
		strings.Contains(lp, "%2e") || strings.Contains(lp, "%2f") || strings.Contains(lp, "%5c") ||
		strings.Contains(p, "%25")
}

// normalizedPath is p as a lenient backend might read it: backslashes as
// slashes, path parameters dropped, dot segments resolved.
func normalizedPath(p string) string { return cleanPath(lenientPath(p), true) }

// literalPath is p as a backend that routes on its segments as sent might
// read it: like normalizedPath, but dot segments are passed over instead
// of resolved, so /admin/x/../../public still routes under /admin/.
func literalPath(p string) string { return cleanPath(lenientPath(p), false) }

// lenientPath has backslashes as slashes and path parameters dropped.
func lenientPath(p string) string {
	p = strings.ReplaceAll(p, "\\", "/")
	if strings.Contains(p, ";") {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			if j := strings.IndexByte(s, ';'); j >= 0 {
				segs[i] = s[:j]
			}
		}
		p = strings.Join(segs, "/")
	}
	return p
}

// cleanPath drops empty and "." segments, and resolves ".." ones when
// resolve is set (else drops them too).
func cleanPath(p string, resolve bool) string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		switch s {
		case "", ".":
		case "..":
			if resolve && len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	c := "/" + strings.Join(out, "/")
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// satisfies returns nil when s is good enough for need at now, else the
// 401 that the challenge answers with.
func (s session) satisfies(need requirement, now time.Time) error {
	if need.MFA && !s.MFAVerified && !now.Before(s.GraceUntil) {
		return errMFARequired
	}
	if !need.StepUp {
		return nil
	}
	fresh := s.MFAVerified && s.MFAFactor != factorDevice && !s.MFATime.IsZero() &&
		now.Sub(s.MFATime) <= need.MaxAge
	if fresh && need.Factors != nil && !slices.Contains(need.Factors, s.MFAFactor) {
		fresh = false
	}
	if !fresh {
		return stepUpRequired(need.MaxAge)
	}
	return nil
}

// stepUpRequired is RFC 9470's answer: a fresher authentication is needed.
func stepUpRequired(maxAge time.Duration) *apiError {
	secs := int(maxAge / time.Second)
	return &apiError{
		Status:  http.StatusUnauthorized,
		Code:    "insufficient_user_authentication",
		Message: "Please confirm it's you to continue.",
		Authenticate: `Bearer error="insufficient_user_authentication", error_description="A more recent second factor is required", max_age=` +
			strconv.Itoa(secs),
		MaxAge: secs,
	}
}

// factorDevice is the MFAFactor of a session whose second factor was a
// trusted device.
const factorDevice = "device"
