package caddymfa

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A replayed mfa_token is refused before anything is spent: a recovery
// code sent with a token that already signed in stays valid, and an
// authenticator confirmed with one stays pending.

func TestSpentMFATokenCostsNoRecoveryCode(t *testing.T) {
	_, c, sp := spentToken(t)
	codes, tok := sp.codes, sp.token
	bearer := []string{"Authorization", "Bearer " + sp.access}

	// The same token again, now with a recovery code.
	r, m := c.api("POST", "verify", map[string]any{"mfa_token": tok, "recovery_code": codes[0]})
	if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_token" {
		t.Fatalf("a spent mfa_token with a recovery code: %d %v", r.StatusCode, m)
	}
	r, m = c.api("GET", "account", nil, bearer...)
	mustStatus(t, r, http.StatusOK)
	if m["recovery_codes_left"] != float64(len(codes)) {
		t.Errorf("recovery codes left after the refused replay: %v, want %d", m["recovery_codes_left"], len(codes))
	}
	// The code still signs in.
	r, m = c.api("POST", "verify", map[string]any{"mfa_token": c.loginAPI("alice", "alice-password"), "recovery_code": codes[0]})
	if r.StatusCode != http.StatusOK || m["status"] != "authenticated" {
		t.Errorf("the recovery code after the refused replay: %d %v", r.StatusCode, m)
	}
}

func TestSpentMFATokenConfirmsNoEnrollment(t *testing.T) {
	g, c, tok, factorID, secret := skippedSetup(t)
	r, m := c.api("POST", "enroll/totp/confirm", map[string]any{"mfa_token": tok, "factor_id": factorID, "code": codeAt(t, secret, g.clock.Now())})
	if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_token" || m["recovery_codes"] != nil {
		t.Fatalf("confirming with a spent mfa_token: %d %v", r.StatusCode, m)
	}
	// Nothing was turned on: bob still has no authenticator.
	r, m = g.client().api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
	if r.StatusCode != http.StatusAccepted || m["status"] != "enrollment_required" {
		t.Errorf("bob after the refused confirmation: %d %v", r.StatusCode, m)
	}
}

// TestSpentMFATokenCountsNoAttempt: codes sent with a token that already
// signed in are not counted and not looked at: a wrong code and a right
// one both get invalid_token.
func TestSpentMFATokenCountsNoAttempt(t *testing.T) {
	g, c, sp := spentToken(t)
	secret, tok := sp.secret, sp.token
	g.clock.Advance(time.Minute)
	for _, code := range []string{"000000", codeAt(t, secret, g.clock.Now())} {
		r, m := c.api("POST", "verify", map[string]any{"mfa_token": tok, "code": code})
		if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_token" {
			t.Errorf("code %s with a spent mfa_token: %d %v, want 401 invalid_token", code, r.StatusCode, m)
		}
	}
	if n := g.secondFactorFailures(t, "alice"); n != 0 {
		t.Errorf("codes with a spent mfa_token counted %d attempts", n)
	}
}

// spent is alice's authenticator and an mfa_token she has signed in with.
type spent struct {
	secret string
	codes  []string // her recovery codes
	token  string   // the spent mfa_token
	access string   // the session it started
}

func spentToken(t *testing.T) (*gateway, *client, spent) {
	t.Helper()
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	var sp spent
	sp.secret, sp.codes, _ = c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)
	sp.token = c.loginAPI("alice", "alice-password")
	r, m := c.api("POST", "verify", map[string]any{"mfa_token": sp.token, "code": codeAt(t, sp.secret, g.clock.Now())})
	mustStatus(t, r, http.StatusOK)
	sp.access = m["access_token"].(string)
	return g, c, sp
}

// An mfa_token that already signed in cannot start, or replace, a setup.
func TestSpentMFATokenStartsNoEnrollment(t *testing.T) {
	g, c, tok, factorID, _ := skippedSetup(t)
	r, m := c.api("POST", "enroll/totp", map[string]string{"mfa_token": tok})
	if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_token" {
		t.Fatalf("enroll with a spent mfa_token: %d %v, want 401 invalid_token", r.StatusCode, m)
	}
	factors, err := g.backendFor(t).Factors(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(factors) != 1 || factors[0].ID != factorID {
		t.Errorf("bob's setups after the refused replay: %+v, want only %s", factors, factorID)
	}
}

// The browser's "start again" button, replayed with a pending cookie that
// already signed in, starts nothing either.
func TestSpentPendingCookieStartsNoEnrollment(t *testing.T) {
	g := startGateway(t, policyMFA(t, "enrollment_grace 7d"))
	c := g.client()
	r := c.signInBrowser("/", "bob", "bob-password")
	mustStatus(t, r, http.StatusSeeOther)
	page := c.get("/")
	mustStatus(t, page, http.StatusUnauthorized)
	restart := formFields(t, page.Body, "/_mfa/enroll/start")
	var pendingCookie *http.Cookie
	u, _ := url.Parse(g.base)
	for _, ck := range c.jar.Cookies(u) {
		if strings.Contains(ck.Name, "pending") {
			pendingCookie = ck
		}
	}
	if pendingCookie == nil {
		t.Fatal("no pending cookie after the password")
	}
	before, err := g.backendFor(t).Factors(context.Background(), "bob")
	if err != nil || len(before) != 1 {
		t.Fatalf("setups after the password: %+v %v", before, err)
	}
	mustStatus(t, c.postForm("/_mfa/enroll/skip", formFields(t, page.Body, "/_mfa/enroll/skip")), http.StatusSeeOther)

	replay := g.client()
	replay.jar.SetCookies(u, c.jar.Cookies(u))
	replay.jar.SetCookies(u, []*http.Cookie{pendingCookie})
	if r := replay.postForm("/_mfa/enroll/start", restart); r.StatusCode < 400 {
		t.Fatalf("start again with a spent pending cookie: %d", r.StatusCode)
	}
	after, err := g.backendFor(t).Factors(context.Background(), "bob")
	if err != nil || len(after) != 1 || after[0].ID != before[0].ID {
		t.Errorf("setups after the refused replay: %+v %v, want only %s", after, err, before[0].ID)
	}
}

// skippedSetup: under an enrollment grace, bob signs in with his password,
// starts a setup with his mfa_token, then skips it, which spends the
// token. It returns the token, the setup's factor id and its secret.
func skippedSetup(t *testing.T) (g *gateway, c *client, tok, factorID, secret string) {
	t.Helper()
	g = startGateway(t, policyMFA(t, "enrollment_grace 7d"))
	c = g.client()
	r, m := c.api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
	mustStatus(t, r, http.StatusAccepted)
	tok = m["mfa_token"].(string)
	r, m = c.api("POST", "enroll/totp", map[string]string{"mfa_token": tok})
	mustStatus(t, r, http.StatusOK)
	factorID, secret = m["factor_id"].(string), m["secret"].(string)
	r, _ = c.api("POST", "enroll/skip", map[string]string{"mfa_token": tok})
	mustStatus(t, r, http.StatusOK)
	return g, c, tok, factorID, secret
}
