package caddymfa

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// An mfa_token is worth no more than what stood when its first factor
// passed: taken before the user's removal, a password change or an admin
// reset, it starts no session and sets up no authenticator, whether sent
// to the API or kept in the browser's pending cookie.
func TestPendingTokenOvertakenIsRefused(t *testing.T) {
	a, b := userHashes(t)
	cases := []struct {
		name     string
		overtake func(og *opsGateway)
	}{
		{"user removed", func(og *opsGateway) {
			og.reload(fmt.Sprintf("mfa {\n\t\tsecret %s\n\t\tuser bob %s\n\t\tstore file {STORE}\n\t}", testSecret, b))
		}},
		{"password changed", func(og *opsGateway) {
			og.reload(strings.Replace(defaultMFA(t), a, testPasswordHash(t, "new-password"), 1))
		}},
		{"admin reset", func(og *opsGateway) {
			og.adminJSON("POST", "/mfa/users/alice/reset", http.StatusOK)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			og := startOpsGateway(t, defaultMFA(t), opsOptions{admin: true})
			secret, _, _ := og.client().enrollAPI("alice", "alice-password")
			og.clock.Advance(time.Minute)
			api := og.client()
			tok := api.loginAPI("alice", "alice-password")
			browser := og.client()
			r := browser.signInBrowser("/", "alice", "alice-password")
			mustStatus(t, r, http.StatusSeeOther)
			form := formFields(t, browser.get(r.Header.Get("Location")).Body, "/_mfa/verify")

			tc.overtake(og)
			og.clock.Advance(2 * time.Second)
			code := codeAt(t, secret, og.clock.Now())
			for _, call := range []struct {
				path string
				body map[string]string
			}{
				{"enroll/totp", map[string]string{"mfa_token": tok}},
				{"verify", map[string]string{"mfa_token": tok, "code": code}},
			} {
				if r, m := api.api("POST", call.path, call.body); r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_token" {
					t.Errorf("POST %s: %d %v", call.path, r.StatusCode, m)
				}
			}
			// The browser is back at the sign-in page.
			if page := browser.get("/"); !strings.Contains(page.Body, `action="/_mfa/login"`) {
				t.Errorf("the flow goes on after it: %s", truncateForLog(pageText(page.Body)))
			}
			form.Set("code", code)
			if r := browser.postForm("/_mfa/verify", form); r.StatusCode == http.StatusSeeOther {
				t.Errorf("verify form: %d to %s", r.StatusCode, r.Header.Get("Location"))
			}
			if browser.cookie("__Host-mfa_session") != nil {
				t.Error("the browser got a session")
			}
		})
	}
}

// A session takes the password tag of the mfa_token that led to it, not
// the one current when it starts: a password changed in between still
// ends the session at its first request.
func TestSessionStartsWithThePendingTokensPasswordTag(t *testing.T) {
	h := newBenchHandler(t, nil)
	r := httptest.NewRequest(http.MethodPost, "http://"+benchHost+"/_mfa/api/v1/verify", nil)
	now := h.now()
	ns := newSession{User: "alice", AuthTime: now, AMR: []string{"pwd", "otp", "mfa"}, MFAFactor: "totp"}
	ns.spendToken(pending{User: "alice", ID: "j", ExpiresAt: now.Add(time.Minute), AuthTime: now, PasswordTag: "older"})
	if s, _ := h.prepareSession(r, ns); s.PasswordTag != "older" {
		t.Errorf("session from an mfa_token: pwv %q, want the token's", s.PasswordTag)
	}
	// Without a token (a trusted device, `enforce enrolled`): the current one.
	if s, _ := h.prepareSession(r, newSession{User: "alice", AuthTime: now}); s.PasswordTag == "" || s.PasswordTag != h.passwordTags["alice"] {
		t.Errorf("session without an mfa_token: pwv %q, want %q", s.PasswordTag, h.passwordTags["alice"])
	}
}
