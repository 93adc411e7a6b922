package caddymfa

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// identityVar carries the identity_from value, read before the client's
// identity headers are stripped (forward_auth may have put it in one).
const identityVar = "mfa.upstream_identity"

// ServeHTTP is where every request is decided: reserved routes are ours,
// the route's requirement (policy.go) says what a session must show, a good
// enough session goes on to next with the identity attached, anything else
// meets the challenge.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.IdentityFrom != "" {
		caddyhttp.SetVar(r.Context(), identityVar, h.resolveIdentity(r))
	}
	h.stripIdentityHeaders(r)

	if strings.HasPrefix(r.URL.Path, h.prefix) {
		return h.serveReserved(w, r)
	}

	need := h.requirementFor(r)
	if need.Bypass {
		return next.ServeHTTP(w, r)
	}
	now := h.now()
	// One walk over the Cookie header serves the session lookup, the
	// resume check and the stripping of our cookies; the cache entry it
	// finds for the session token serves the token check.
	hit := cacheHit{c: h.tokens.verified}
	ck := h.cookies.scan(r, hit.known)
	s, src, err := h.requestSessionWith(r, now, ck.session, hit.e)
	if err == nil && ck.resume && h.resumeParked(w, r, s) {
		need = h.requirementFor(r) // it is the original request now
	}
	if err == nil {
		err = s.satisfies(need, now)
	}
	if err != nil {
		// Never on a step-up route: that needs a second factor even
		// under `enforce enrolled`, so the user is asked to set one up.
		if s, ok := h.unenrolledIdentity(r, need); ok {
			h.cookies.stripScanned(r, ck)
			h.setIdentity(r, s)
			return next.ServeHTTP(w, r)
		}
		return h.challenge(w, r, err)
	}
	h.passOn(w, r, s, src, now, ck)
	return next.ServeHTTP(w, r)
}

// passOn prepares a request with a good session for the upstream: the
// cookie slides, our credentials are removed, the identity is attached.
// ck is the request's cookie scan.
func (h *Handler) passOn(w http.ResponseWriter, r *http.Request, s session, src int, now time.Time, ck cookieScan) {
	if src == fromBearer {
		delete(r.Header, "Authorization")
	} else {
		h.renewIfDue(w, s, now)
	}
	h.cookies.stripScanned(r, ck)
	h.setIdentity(r, s)
}

func (h *Handler) resolveIdentity(r *http.Request) string {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return ""
	}
	return strings.TrimSpace(repl.ReplaceKnown(h.IdentityFrom, ""))
}

// upstreamIdentity is the user an earlier handler vouched for, "" if none.
func (h *Handler) upstreamIdentity(r *http.Request) string {
	v, _ := caddyhttp.GetVar(r.Context(), identityVar).(string)
	return v
}

// unenrolledIdentity lets the user an earlier handler vouched for through
// without a second factor when `enforce enrolled` applies and that user has
// none. It costs a store read per request until the user enrolls; when the
// store cannot say, the request is challenged.
func (h *Handler) unenrolledIdentity(r *http.Request, need requirement) (session, bool) {
	if h.IdentityFrom == "" || h.enforce != enforceEnrolled || need.StepUp {
		return session{}, false
	}
	user := h.upstreamIdentity(r)
	if user == "" {
		return session{}, false
	}
	active, err := h.activeFactors(r.Context(), user)
	if err != nil || len(active) > 0 {
		return session{}, false
	}
	return session{User: user, AuthTime: h.now()}, true
}

// serveReserved dispatches the routes under the prefix. None of them
// reaches the upstream.
func (h *Handler) serveReserved(w http.ResponseWriter, r *http.Request) error {
	route := strings.TrimPrefix(r.URL.Path, h.prefix)
	if api, ok := strings.CutPrefix(route, "api/v1/"); ok {
		return h.serveAPI(w, r, api)
	}
	if asset, ok := strings.CutPrefix(route, "assets/"); ok {
		return h.serveAsset(w, r, asset)
	}
	if rest, ok := strings.CutPrefix(route, "account"); ok && (rest == "" || rest[0] == '/') {
		return h.serveAccount(w, r, strings.TrimPrefix(rest, "/"))
	}
	return h.servePage(w, r, route)
}

// challenge answers a request that lacks a (good enough) session: JSON
// 401 for API clients, the sign-in page in place for browsers.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request, reason error) error {
	if wantsJSON(r) {
		return h.writeAPIError(w, r, reason)
	}
	if asAPIError(reason).Status == http.StatusServiceUnavailable {
		// The store cannot vouch for sessions (fail_closed): a sign-in
		// page would only lead to the same 503.
		return h.pageError(w, r, reason)
	}
	if h.parkRequest(w, r) {
		caddyhttp.SetVar(r.Context(), noticeVar, "What you sent is kept: it goes through once you have signed in.")
	}
	return h.showFlow(w, r, h.browserURI(r), nil)
}

// browserURI is the URI the browser asked for, to send it back there after
// the sign-in. A rewrite before this handler (try_files, uri, rewrite,
// handle_path) changes r's; Caddy keeps the original.
func (h *Handler) browserURI(r *http.Request) string {
	orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if !ok || orig.URL == nil {
		return r.URL.RequestURI()
	}
	if orig.URL.Path != r.URL.Path && h.pathWarned != nil && h.pathWarned.CompareAndSwap(false, true) {
		h.logger.Warn("the request path was changed before mfa (handle_path, uri strip_prefix, rewrite or try_files): "+
			"its pages post to the reserved prefix, which must reach this mfa handler unchanged",
			zap.String("path", orig.URL.Path), zap.String("mfa_sees", r.URL.Path), zap.String("prefix", h.prefix))
	}
	return orig.URL.RequestURI()
}

// noticeVar carries a neutral message for the page being rendered.
const noticeVar = "mfa.page_notice"
