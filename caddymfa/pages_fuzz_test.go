package caddymfa

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
)

// FuzzReadForm: readForm answers any POST with a form or a 4xx apiError,
// accepts a form only with the token bound to the browser's cookie and a
// same-origin request, and always hands back a safe return_to.
func FuzzReadForm(f *testing.F) {
	ring, err := keys.NewRing(testSecret)
	if err != nil {
		f.Fatal(err)
	}
	h := &Handler{MaxBody: 1024, ring: ring, cookies: newCookieNames("")}
	cookie := strings.Repeat("c", 52)
	token := h.csrfToken(cookie)
	const form = "application/x-www-form-urlencoded"
	for _, seed := range []struct {
		ctype, body, cookie, site string
	}{
		{form, "csrf_token=" + token + "&username=alice&password=x&return_to=%2Freports", cookie, "same-origin"},
		{form, "csrf_token=" + token + "&return_to=%2F%2Fevil.test", cookie, ""},
		{form, "csrf_token=" + token, cookie, "cross-site"},
		{form, "csrf_token=AAAA", cookie, "same-origin"},
		{form, "username=alice", "", "same-origin"},
		{form, "%zz=1&csrf_token=" + token, cookie, "same-origin"},
		{form + "; charset=utf-8", "csrf_token=" + token + "&return_to=javascript:alert(1)", cookie, "none"},
		{"multipart/form-data; boundary=x", "--x\r\n", cookie, "same-origin"},
		{"application/json", `{"csrf_token":"x"}`, cookie, "same-origin"},
		{form, strings.Repeat("a=b&", 400), cookie, "same-origin"},
	} {
		f.Add(seed.ctype, []byte(seed.body), seed.cookie, seed.site)
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte, cookie, site string) {
		r := httptest.NewRequest("POST", "/_mfa/login", bytes.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		if cookie != "" {
			r.Header.Set("Cookie", h.cookies.csrf+"="+cookie)
		}
		vals, returnTo, err := h.readForm(httptest.NewRecorder(), r)
		if !strings.HasPrefix(returnTo, "/") || safeReturnTo(returnTo) != returnTo {
			t.Fatalf("unsafe return_to %q", returnTo)
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 {
				t.Fatalf("readForm = %v, want a 4xx apiError", err)
			}
			return
		}
		sent := cookieValue(r, h.cookies.csrf)
		if sent == "" || vals.Get("csrf_token") != h.csrfToken(sent) {
			t.Fatalf("accepted a form without the token of its cookie: %q", body)
		}
		if site == "cross-site" || site == "same-site" {
			t.Fatalf("accepted a %s form", site)
		}
	})
}
