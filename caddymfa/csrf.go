package caddymfa

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"
)

const purposeCSRF = "csrf"

// csrfCookie returns the browser's anti-forgery cookie value, creating one
// (and setting it on w) if the request carries none. The cookie holds
// only a random value; it grants nothing by itself.
func (h *Handler) csrfCookie(w http.ResponseWriter, r *http.Request) string {
	if v := cookieValue(r, h.cookies.csrf); len(v) >= 32 && len(v) <= 64 {
		return v
	}
	v := rand.Text() + rand.Text()
	http.SetCookie(w, h.cookies.make(h.cookies.csrf, v, time.Time{}))
	return v
}

// csrfToken derives the form token bound to the cookie value.
func (h *Handler) csrfToken(cookie string) string { return h.csrfMAC(h.ring.Current(), cookie) }

func (h *Handler) csrfMAC(kid, cookie string) string {
	key, _ := h.ring.Derive(kid, purposeCSRF)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF accepts a state-changing form only when it comes from our own
// origin (Fetch Metadata / Origin, through Go's CrossOriginProtection) and
// carries the token bound to the browser's cookie. The token is checked
// under every key of the ring so a secret rotation breaks no open form.
func (h *Handler) checkCSRF(r *http.Request, token string) bool {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return false
	}
	cookie := cookieValue(r, h.cookies.csrf)
	if cookie == "" || token == "" {
		return false
	}
	for _, kid := range h.ring.KeyIDs() {
		if hmac.Equal([]byte(h.csrfMAC(kid, cookie)), []byte(token)) {
			return true
		}
	}
	return false
}
