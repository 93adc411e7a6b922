package caddymfa

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// startAddingAuthenticator signs alice in with a browser, starts adding a
// second authenticator from the account page and returns its setup page.
func startAddingAuthenticator(t *testing.T, c *client) response {
	t.Helper()
	page := c.get("/_mfa/account")
	mustStatus(t, page, http.StatusOK)
	mustStatus(t, c.postForm("/_mfa/account/factors/totp", formFields(t, page.Body, "/_mfa/account/factors/totp")), http.StatusSeeOther)
	enroll := c.get("/_mfa/account/enroll")
	mustStatus(t, enroll, http.StatusOK)
	return enroll
}

func TestAddingAuthenticatorWrongCodeKeepsTheSetupPage(t *testing.T) {
	g := startGateway(t, policyMFA(t, ""))
	c := g.client()
	c.enrollBrowser("/", "alice", "alice-password")
	enroll := startAddingAuthenticator(t, c)
	secret := elementAttr(t, enroll.Body, "secret", "data-value")

	form := formFields(t, enroll.Body, "/_mfa/enroll/confirm")
	form.Set("code", "000000")
	bad := c.postForm("/_mfa/enroll/confirm", form)
	mustStatus(t, bad, http.StatusUnauthorized)
	if !strings.Contains(pageText(bad.Body), "That code didn't work") {
		t.Errorf("no error shown: %s", pageText(bad.Body))
	}
	if got := elementAttr(t, bad.Body, "secret", "data-value"); got != secret {
		t.Errorf("setup key after a wrong code = %q, want the one being added", got)
	}
	if strings.Contains(bad.Body, `action="/_mfa/verify"`) {
		t.Errorf("a wrong code led to the step-up page: %s", pageText(bad.Body))
	}
	if bad.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}

	// The form shown again turns the new authenticator on.
	again := formFields(t, bad.Body, "/_mfa/enroll/confirm")
	again.Set("code", codeAt(t, secret, g.clock.Now()))
	done := c.postForm("/_mfa/enroll/confirm", again)
	mustStatus(t, done, http.StatusSeeOther)
	if got := listItems(t, c.get("/_mfa/account").Body, "factors"); len(got) != 2 {
		t.Errorf("factors after adding: %q", got)
	}
}

func TestAddingAuthenticatorWhoseSetupIsGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		gone func(t *testing.T, g *gateway, c *client)
	}{
		{"replaced", func(t *testing.T, g *gateway, c *client) { startAddingAuthenticator(t, c) }},
		{"expired", func(t *testing.T, g *gateway, c *client) { g.clock.Advance(defaultEnrollLifetime + time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, policyMFA(t, ""))
			c := g.client()
			c.enrollBrowser("/", "alice", "alice-password")
			enroll := startAddingAuthenticator(t, c)
			secret := elementAttr(t, enroll.Body, "secret", "data-value")
			tc.gone(t, g, c)

			form := formFields(t, enroll.Body, "/_mfa/enroll/confirm")
			form.Set("code", codeAt(t, secret, g.clock.Now()))
			r := c.postForm("/_mfa/enroll/confirm", form)
			mustStatus(t, r, http.StatusNotFound)
			txt := pageText(r.Body)
			if !strings.Contains(txt, "This setup has expired or was replaced") || !strings.Contains(r.Body, `action="/_mfa/account/factors/totp"`) {
				t.Errorf("not the account page with the reason: %s", txt)
			}
			if strings.Contains(r.Body, `action="/_mfa/verify"`) {
				t.Errorf("a gone setup led to the step-up page: %s", txt)
			}
		})
	}
}

// loginPageShape is a sign-in page with what differs per request or per
// typed name (CSP nonce, CSRF token, the name itself) blanked out.
func loginPageShape(t *testing.T, r response, typed string) string {
	t.Helper()
	body := r.Body
	_, nonce, _ := strings.Cut(r.Header.Get("Content-Security-Policy"), "'nonce-")
	nonce, _, _ = strings.Cut(nonce, "'")
	for old, placeholder := range map[string]string{
		nonce: "NONCE", formFields(t, body, "/_mfa/login").Get("csrf_token"): "CSRF", typed: "NAME",
	} {
		if old != "" {
			body = strings.ReplaceAll(body, old, placeholder)
		}
	}
	return body
}

func TestLoginPageKeepsTheUsernameAlike(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	tries := []struct {
		name, user, password string
		status               int
	}{
		{"unknown user", "mallory", "whatever", http.StatusUnauthorized},
		{"wrong password", "alice", "not-her-password", http.StatusUnauthorized},
	}
	shapes := map[int][]string{}
	check := func(name, user, password string, status int) {
		r := g.client().signInBrowser("/", user, password)
		mustStatus(t, r, status)
		if got := elementAttr(t, r.Body, "username", "value"); got != user {
			t.Errorf("%s: username field %q, want %q", name, got, user)
		}
		if !hasAttr(elementByID(t, r.Body, "password"), "autofocus") {
			t.Errorf("%s: focus not on the password", name)
		}
		shapes[status] = append(shapes[status], loginPageShape(t, r, user))
	}
	for _, tc := range tries {
		check(tc.name, tc.user, tc.password, tc.status)
	}
	// Five failures lock any name, known or not.
	for range 4 {
		g.client().signInBrowser("/", "mallory", "whatever")
		g.client().signInBrowser("/", "alice", "not-her-password")
	}
	check("locked unknown user", "mallory", "whatever", http.StatusTooManyRequests)
	check("locked user", "alice", "alice-password", http.StatusTooManyRequests)
	for status, s := range shapes {
		if len(s) != 2 || s[0] != s[1] {
			t.Errorf("%d pages differ beyond the typed name:\n%s\n---\n%s", status, s[0], s[len(s)-1])
		}
	}
}

// recoveryFormFirst reports whether a challenge page opens on the
// recovery-code form, and whether the focus is there rather than on the
// authenticator code.
func recoveryFormFirst(t *testing.T, page string) (open, focused bool) {
	t.Helper()
	in := elementByID(t, page, "recovery_code")
	for n := in.Parent; n != nil; n = n.Parent {
		if n.Type == html.ElementNode && n.Data == "details" {
			open = hasAttr(n, "open")
			break
		}
	}
	focused = hasAttr(in, "autofocus") && !hasAttr(elementByID(t, page, "code"), "autofocus")
	return open, focused
}

func TestChallengePageKeepsTheRecoveryFormOpen(t *testing.T) {
	g, _, _ := enrolledAlice(t, policyMFA(t, "lockout {\nthreshold 5\nmax_failures 5\n}"))
	for _, tc := range []struct {
		name   string
		answer url.Values
		first  bool
	}{
		{"wrong authenticator code", url.Values{"code": {"000000"}}, false},
		{"wrong recovery code", url.Values{"recovery_code": {"aaaa-bbbb-cccc"}}, true},
	} {
		r := g.client().verifyBrowser("/", "alice", "alice-password", tc.answer)
		mustStatus(t, r, http.StatusUnauthorized)
		if open, focused := recoveryFormFirst(t, r.Body); open != tc.first || focused != tc.first {
			t.Errorf("%s: recovery form open=%t focused=%t, want %t", tc.name, open, focused, tc.first)
		}
	}
	// Past max_failures only a recovery code is taken: the page opens on it.
	for range 5 {
		g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"code": {"000000"}})
	}
	g.clock.Advance(2 * time.Hour)
	r := g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"code": {"000000"}})
	mustStatus(t, r, http.StatusTooManyRequests)
	if !strings.Contains(pageText(r.Body), "Use a recovery code") {
		t.Fatalf("not the hard lock: %s", pageText(r.Body))
	}
	if open, focused := recoveryFormFirst(t, r.Body); !open || !focused {
		t.Errorf("hard lock: recovery form open=%t focused=%t", open, focused)
	}
}
