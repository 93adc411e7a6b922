package caddymfa

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// A browser form (or a page's JSON call) that meets the challenge because
// the session ended or the route needs a step-up is not lost: its body is
// kept in the store, encrypted and single-use, and after the challenge the
// browser's return to the URL is turned back into the original request,
// which reaches the upstream exactly once.

const (
	defaultKeepBody = 64 << 10
	parkLifetime    = 10 * time.Minute
	// resumeCookie holds the id of this browser's parked request; only
	// this browser can resume it.
	resumeCookie = "__Host-mfa_resume"
)

// parkPerIP requests from one client IP are kept per parkLifetime; more
// meet the challenge without being kept, so that no client can fill the
// store (at most parkPerIP × keep_body per IP at a time).
const parkPerIP = 20

var parkPolicy = store.LockPolicy{Threshold: parkPerIP, Locks: []time.Duration{parkLifetime}, Forget: parkLifetime}

// parkedRequest is what is kept of a request.
type parkedRequest struct {
	Method      string `json:"m"`
	URI         string `json:"u"`
	ContentType string `json:"t,omitempty"`
	Body        []byte `json:"b"`
	// User is whose session the request came with, if it came with one
	// (a step-up, or a session that ran out): only that user resumes it.
	User string `json:"usr,omitempty"`
}

func (h *Handler) keepBodyLimit() int64 {
	switch {
	case h.KeepBody < 0:
		return 0
	case h.KeepBody == 0:
		return defaultKeepBody
	}
	return h.KeepBody
}

// parkRequest keeps r for replay after the challenge, if it is a browser
// request with a body within the limit sent by a page of this site (a
// cross-site post is never kept: it would run once the user signed in;
// nor is a request that does not show where it came from, so that clients
// without a session cannot fill the store). It reports whether r was kept.
func (h *Handler) parkRequest(w http.ResponseWriter, r *http.Request) bool {
	limit := h.keepBodyLimit()
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodConnect:
		return false
	}
	if limit == 0 || r.ContentLength > limit || !fromOwnPage(r) || http.NewCrossOriginProtection().Check(r) != nil {
		return false
	}
	uri := r.URL.RequestURI()
	if safeReturnTo(uri) != uri {
		// The sign-in would send the browser elsewhere: it never comes back
		// to take the request.
		return false
	}
	// Headers can be forged: a client that claims to be our page still
	// keeps at most parkPerIP requests per ten minutes.
	if a, err := h.backend.CountAttempt(r.Context(), h.attemptKey("park", limitedClient(clientIP(r))), h.now(), parkPolicy); err != nil || !a.Allowed {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil || int64(len(body)) > limit {
		return false
	}
	data, err := json.Marshal(parkedRequest{Method: r.Method, URI: uri, ContentType: r.Header.Get("Content-Type"), Body: body, User: h.parkOwner(r)})
	if err != nil {
		return false
	}
	id := newID()
	sealed, err := h.ring.Seal(data, []byte("parked "+id))
	if err != nil {
		return false
	}
	until := h.now().Add(parkLifetime)
	if err := h.backend.ParkRequest(r.Context(), id, sealed, until); err != nil {
		h.logStoreError("keeping a request across the challenge", err)
		return false
	}
	http.SetCookie(w, h.cookies.make(resumeCookie, id+"."+uriTag(uri), until))
	return true
}

// fromOwnPage reports whether r positively shows it was sent by a page of
// this site: Sec-Fetch-Site: same-origin, or an Origin equal to r's own.
func fromOwnPage(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	origin := r.Header.Get("Origin")
	return origin != "" && strings.EqualFold(origin, scheme+"://"+r.Host)
}

// parkOwner is the user of the session cookie r came with, "" for none.
// The token's times and revocation are not checked: a session that just
// ran out still says whose request this is.
func (h *Handler) parkOwner(r *http.Request) string {
	return h.tokens.sessionOwner(h.sessionCookie(r), h.sessionAudience(r))
}

// uriTag names the URL a request was parked for, in its resume cookie, so
// that a GET of another URL leaves it parked instead of taking it.
func uriTag(uri string) string {
	sum := sha256.Sum256([]byte(uri))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// resumeParked turns the browser's GET back into the request it parked, if
// it has one for this URL. The caller has checked the session s, and that
// a resume cookie came.
func (h *Handler) resumeParked(w http.ResponseWriter, r *http.Request, s session) bool {
	if r.Method != http.MethodGet {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		// A link on another site must not replay the kept request; it
		// stays for the browser's own return.
		return false
	}
	id, tag, _ := strings.Cut(cookieValue(r, resumeCookie), ".")
	if id == "" || len(id) > 64 || tag != uriTag(r.URL.RequestURI()) {
		// Parked for another URL (the user went elsewhere first): it
		// waits for that one, or expires.
		return false
	}
	http.SetCookie(w, h.cookies.clear(resumeCookie))
	sealed, err := h.backend.TakeParkedRequest(r.Context(), id, h.now())
	if err != nil {
		return false
	}
	data, err := h.ring.Open(sealed, []byte("parked "+id))
	if err != nil {
		return false
	}
	var p parkedRequest
	if json.Unmarshal(data, &p) != nil || p.URI != r.URL.RequestURI() {
		return false
	}
	if p.User != "" && p.User != s.User {
		// Another user signed in in this browser: the request is not
		// theirs to send. It is dropped.
		return false
	}
	r.Method = p.Method
	r.Body = io.NopCloser(bytes.NewReader(p.Body))
	r.ContentLength = int64(len(p.Body))
	r.Header.Set("Content-Length", strconv.Itoa(len(p.Body)))
	if p.ContentType != "" {
		r.Header.Set("Content-Type", p.ContentType)
	} else {
		r.Header.Del("Content-Type")
	}
	return true
}
