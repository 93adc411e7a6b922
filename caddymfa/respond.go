package caddymfa

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddymfa/caddy-mfa/challengepage"
)

// apiError is every "no" the handler gives: one status, one stable error
// code for API clients, one sentence for people.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
	// Authenticate is the WWW-Authenticate value of a 401; a 401 without
	// one gets defaultChallenge.
	Authenticate string
	// Allow lists the methods of a 405.
	Allow string
	// MaxAge (seconds) of a step-up answer, for API clients.
	MaxAge int
	cause  error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.cause.Error()
	}
	return e.Code
}

func (e *apiError) Unwrap() error { return e.cause }

var (
	errInvalidCredentials = &apiError{Status: http.StatusUnauthorized, Code: "invalid_credentials", Message: "Wrong username or password."}
	errInvalidCode        = &apiError{Status: http.StatusUnauthorized, Code: "invalid_code", Message: "That code didn't work. Check your authenticator app and try again."}
	errInvalidRecovery    = &apiError{Status: http.StatusUnauthorized, Code: "invalid_code", Message: "That recovery code didn't work. Each code works only once."}
	errInvalidMFAToken    = &apiError{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "This sign-in attempt has expired. Please sign in again."}
	errAuthRequired       = &apiError{Status: http.StatusUnauthorized, Code: "authentication_required", Message: "Please sign in.", Authenticate: `Bearer`}
	errMFARequired        = &apiError{Status: http.StatusUnauthorized, Code: "mfa_required", Message: "Please confirm with your second factor.", Authenticate: `Bearer`}
	errAccountLocked      = &apiError{Status: http.StatusTooManyRequests, Code: "account_locked", Message: "Too many wrong codes. Use a recovery code, or ask an administrator to unlock your account."}
	errCSRF               = &apiError{Status: http.StatusForbidden, Code: "csrf_failed", Message: "This form is out of date or was sent from another site. Reload the page and try again."}
	errNotFound           = &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "There is nothing here."}
	errEnrollmentGone     = &apiError{Status: http.StatusNotFound, Code: "enrollment_not_found", Message: "This setup has expired or was replaced. Please start again."}
	errNoEnrollment       = &apiError{Status: http.StatusConflict, Code: "enrollment_not_allowed", Message: "A second factor is already set up for this account; sign in with it first."}
	errTooLarge           = &apiError{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Message: "The request is too large."}
)

func badRequest(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: fmt.Sprintf(format, args...)}
}

func rateLimited(retry time.Duration) *apiError {
	return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "Too many attempts. Please wait before trying again.", RetryAfter: retry}
}

// methodNotAllowed is a 405 naming the methods the route takes, for
// people and in Allow (RFC 9110 15.5.6).
func methodNotAllowed(methods ...string) *apiError {
	words := strings.Join(methods, ", ")
	if n := len(methods); n > 1 {
		words = strings.Join(methods[:n-1], ", ") + " or " + methods[n-1]
	}
	return &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
		Message: "Use " + words + " here.", Allow: strings.Join(methods, ", ")}
}

// defaultChallenge is the WWW-Authenticate of a 401 that names no other
// (RFC 9110 15.5.2 wants one on every 401): the scheme the gateway takes
// on protected routes, as its "please sign in" answer to API clients says.
const defaultChallenge = "Bearer"

// unavailable wraps a store failure: new sign-ins get a clear 503.
func unavailable(err error) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
		Message: "Sign-in is temporarily unavailable. Please try again in a minute.", RetryAfter: 30 * time.Second, cause: err}
}

// asAPIError turns any error into the answer the client gets; unexpected
// errors become a 503 whose cause is logged, never shown.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return unavailable(err)
}

// wantsJSON: API clients ask for JSON and not for HTML.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// pageHeaders are set on every answer of ours: nothing is cached, framed,
// sniffed or leaked through Referer.
func pageHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
}

func newNonce() string { return rand.Text() }

// contentSecurityPolicy is our pages' policy: their own nonce for styles
// and scripts, images from imgSrc (see imgSources), nothing else.
func contentSecurityPolicy(nonce, imgSrc string) string {
	return "default-src 'none'; style-src 'nonce-" + nonce + "'; script-src 'nonce-" + nonce +
		"'; img-src " + imgSrc + "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
}

// imgSources is the img-src of our pages: the site itself and data: URLs
// (the QR code), and the origin of a branding logo given as an https URL,
// so that it shows. A host with a byte a CSP source cannot carry is left
// out (the logo then does not show) rather than let into the policy.
func imgSources(logo string) string {
	const base = "'self' data:"
	u, err := url.Parse(logo)
	if err != nil || u.Scheme != "https" {
		return base
	}
	host := u.Host
	if host == "" || strings.ContainsFunc(host, func(r rune) bool {
		return !(r == '.' || r == '-' || r == ':' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) {
		return base
	}
	return base + " https://" + host
}

// writePage renders an HTML page with status.
func (h *Handler) writePage(w http.ResponseWriter, status int, nonce string, v challengepage.View) error {
	var buf bytes.Buffer
	if err := h.pages.Render(&buf, v); err != nil {
		h.logger.Error("rendering page", zap.Error(err))
		return h.writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal_error"})
	}
	pageHeaders(w)
	challengeHeader(w, status)
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy(nonce, h.imgSrc))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// writeJSON answers an API client.
func (h *Handler) writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	pageHeaders(w)
	challengeHeader(w, status)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}

// writeAPIError answers an API client with err.
func (h *Handler) writeAPIError(w http.ResponseWriter, r *http.Request, err error) error {
	ae := asAPIError(err)
	h.logFailure(r, ae)
	body := map[string]any{"error": ae.Code, "message": ae.Message}
	h.errorHeaders(w, ae)
	if ae.RetryAfter > 0 {
		body["retry_after"] = retrySeconds(ae.RetryAfter)
	}
	if ae.MaxAge > 0 {
		body["max_age"] = ae.MaxAge
	}
	return h.writeJSON(w, ae.Status, body)
}

func (h *Handler) errorHeaders(w http.ResponseWriter, ae *apiError) {
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(ae.RetryAfter)))
	}
	if ae.Authenticate != "" {
		w.Header().Set("WWW-Authenticate", ae.Authenticate)
	}
	if ae.Allow != "" {
		w.Header().Set("Allow", ae.Allow)
	}
}

// challengeHeader gives a 401 that carries no WWW-Authenticate the
// default one.
func challengeHeader(w http.ResponseWriter, status int) {
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", defaultChallenge)
	}
}

func (h *Handler) logFailure(r *http.Request, ae *apiError) {
	if ae.Status >= 500 {
		h.logger.Error("request failed", zap.String("uri_path", r.URL.Path), zap.String("error", ae.Code), zap.Error(ae.cause))
	}
}

func retrySeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}

// readJSON decodes a JSON request body into v strictly: the right content
// type, one object, no unknown fields, within the size limit.
func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "Send the request body as application/json."}
	}
	if r.ContentLength > h.MaxBody {
		return errTooLarge // refused before reading: a client that sent Expect: 100-continue never uploads it
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return badRequest("The request body is not valid JSON for this call: %s.", jsonProblem(err))
	}
	if dec.More() {
		return badRequest("The request body must hold exactly one JSON object.")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	return "malformed"
}
