package caddymfa

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// An authenticator being added belongs to the session that started it:
// confirming it refreshes that session's second factor, so no other
// session of the user may see its secret or confirm it, and a token of
// the same session from before its step-up may not either.

// addingAlice is alice, enrolled, with a second session ("other") signed
// in earlier and now stale, and a first session that has just confirmed
// again and started adding an authenticator.
type addingAlice struct {
	g               *gateway
	c               *client
	secret          string   // her active authenticator
	fresh, stale    []string // Authorization headers of the starting session: after and before its step-up
	other           []string // another session of hers
	factorID, setup string   // the authenticator being added
}

func startAdding(t *testing.T) addingAlice {
	t.Helper()
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	var a addingAlice
	var token string
	a.g, a.c = g, c
	a.secret, _, token = c.enrollAPI("alice", "alice-password")
	a.stale = []string{"Authorization", "Bearer " + token}
	g.clock.Advance(time.Minute)
	mfaTok := c.loginAPI("alice", "alice-password")
	r, m := c.api("POST", "verify", map[string]string{"mfa_token": mfaTok, "code": codeAt(t, a.secret, g.clock.Now())})
	mustStatus(t, r, http.StatusOK)
	a.other = []string{"Authorization", "Bearer " + m["access_token"].(string)}
	g.clock.Advance(6 * time.Minute)
	r, m = c.api("POST", "verify", map[string]string{"code": codeAt(t, a.secret, g.clock.Now())}, a.stale...)
	mustStatus(t, r, http.StatusOK)
	a.fresh = []string{"Authorization", "Bearer " + m["access_token"].(string)}
	r, m = c.api("POST", "enroll/totp", map[string]string{}, a.fresh...)
	mustStatus(t, r, http.StatusOK)
	a.factorID, a.setup = m["factor_id"].(string), m["secret"].(string)
	return a
}

// stillStale checks that the session behind hdr earned no step-up.
func (a addingAlice) stillStale(t *testing.T, hdr []string) {
	t.Helper()
	r, m := a.c.api("POST", "account/recovery_codes", nil, hdr...)
	if r.StatusCode != http.StatusUnauthorized || m["error"] != "insufficient_user_authentication" {
		t.Fatalf("new recovery codes from a session that did not confirm again: %d %v", r.StatusCode, m)
	}
}

func TestAddingAuthenticatorOnlyBySessionThatStartedIt(t *testing.T) {
	a := startAdding(t)
	g, c := a.g, a.c
	confirm := func(hdr []string) (response, map[string]any) {
		return c.api("POST", "enroll/totp/confirm", map[string]string{
			"factor_id": a.factorID, "code": codeAt(t, a.setup, g.clock.Now()),
		}, hdr...)
	}

	for name, hdr := range map[string][]string{
		"another session":                     a.other,
		"the same session before its step-up": a.stale,
	} {
		t.Run(name, func(t *testing.T) {
			if r := c.get("/_mfa/account/enroll", hdr...); r.StatusCode == http.StatusOK || strings.Contains(r.Body, a.setup) {
				t.Fatalf("the setup page answered %d, showing the secret: %v", r.StatusCode, strings.Contains(r.Body, a.setup))
			}
			r, m := confirm(hdr)
			if r.StatusCode != http.StatusNotFound || m["error"] != "enrollment_not_found" {
				t.Fatalf("confirm: %d %v, want 404 enrollment_not_found", r.StatusCode, m)
			}
			a.stillStale(t, hdr)
		})
	}
	if n := g.secondFactorFailures(t, "alice"); n != 0 {
		t.Errorf("refused confirmations counted %d attempts", n)
	}

	// The session that started it sees it and confirms it.
	page := c.get("/_mfa/account/enroll", a.fresh...)
	mustStatus(t, page, http.StatusOK)
	if !strings.Contains(page.Body, a.setup) {
		t.Errorf("the setup page does not show the secret to the session that started it")
	}
	r, m := confirm(a.fresh)
	mustStatus(t, r, http.StatusOK)
	r, m = c.api("GET", "account", nil, "Authorization", "Bearer "+m["access_token"].(string))
	mustStatus(t, r, http.StatusOK)
	if fs := m["factors"].([]any); len(fs) != 2 {
		t.Errorf("factors after adding: %v", fs)
	}
}

// The browser's form confirms as the API does: another browser session of
// the user gets nothing from it.
func TestAddingAuthenticatorFormOnlyBySessionThatStartedIt(t *testing.T) {
	a := startAdding(t)
	g := a.g
	// A browser that signed in with a code, six minutes before it tries.
	b := g.client()
	g.clock.Advance(time.Minute)
	mustStatus(t, b.verifyBrowser("/", "alice", "alice-password", url.Values{"code": {codeAt(t, a.secret, g.clock.Now())}}), http.StatusSeeOther)
	g.clock.Advance(6 * time.Minute)

	page := b.get("/_mfa/account/enroll")
	if page.StatusCode != http.StatusSeeOther || strings.Contains(page.Body, a.setup) {
		t.Fatalf("another browser's setup page: %d, want a redirect without the secret", page.StatusCode)
	}
	acct := b.get("/_mfa/account")
	mustStatus(t, acct, http.StatusOK)
	form := formFields(t, acct.Body, "/_mfa/account/factors/totp")
	form.Set("factor_id", a.factorID)
	form.Set("code", codeAt(t, a.setup, g.clock.Now()))
	if r := b.postForm("/_mfa/enroll/confirm", form); r.StatusCode < 400 {
		t.Fatalf("another browser confirmed the setup: %d %s", r.StatusCode, pageText(r.Body))
	}
	acct = b.get("/_mfa/account")
	r := b.postForm("/_mfa/account/recovery-codes", formFields(t, acct.Body, "/_mfa/account/recovery-codes"))
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("new recovery codes after the refused confirmation: %d, want the step-up page", r.StatusCode)
	}
	factors, err := g.backendFor(t).Factors(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(factors) != 2 || !factors[1].Pending {
		t.Errorf("factors after the refused confirmation: %+v", factors)
	}
}

// A first enrollment's confirm with a setup that does not exist looks at
// no code: nothing is counted against the user.
func TestConfirmUnknownSetupCountsNoAttempt(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	r, m := c.api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
	mustStatus(t, r, http.StatusAccepted)
	tok := m["mfa_token"].(string)
	for range 3 {
		r, m = c.api("POST", "enroll/totp/confirm", map[string]string{"mfa_token": tok, "factor_id": "gone", "code": "123456"})
		if r.StatusCode != http.StatusNotFound || m["error"] != "enrollment_not_found" {
			t.Fatalf("confirm of an unknown setup: %d %v", r.StatusCode, m)
		}
	}
	if n := g.secondFactorFailures(t, "bob"); n != 0 {
		t.Errorf("confirming an unknown setup counted %d attempts", n)
	}
}
