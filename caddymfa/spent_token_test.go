package caddymfa

import (
	"net/http"
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
	g := startGateway(t, policyMFA(t, "enrollment_grace 7d"))
	c := g.client()
	r, m := c.api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
	mustStatus(t, r, http.StatusAccepted)
	tok := m["mfa_token"].(string)
	r, m = c.api("POST", "enroll/totp", map[string]string{"mfa_token": tok})
	mustStatus(t, r, http.StatusOK)
	factorID, secret := m["factor_id"], m["secret"].(string)
	// Skipping spends the token.
	r, _ = c.api("POST", "enroll/skip", map[string]string{"mfa_token": tok})
	mustStatus(t, r, http.StatusOK)

	r, m = c.api("POST", "enroll/totp/confirm", map[string]any{"mfa_token": tok, "factor_id": factorID, "code": codeAt(t, secret, g.clock.Now())})
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
