package caddymfa

import (
	"net/http"
	"testing"
)

// TestSpentMFATokenRefusedWithinLeeway: an mfa_token is accepted until its
// exp plus the leeway, so the mark that spent it must last as long. Past
// exp, a skip of enrollment replayed would start a second password-only
// session, and a verify replayed a second session.
func TestSpentMFATokenRefusedWithinLeeway(t *testing.T) {
	past := defaultPendingLifetime + tokenLeeway/3
	t.Run("skip", func(t *testing.T) {
		g := startGateway(t, policyMFA(t, "enrollment_grace 7d"))
		c := g.client()
		r, m := c.api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
		mustStatus(t, r, http.StatusAccepted)
		tok := m["mfa_token"].(string)
		r, _ = c.api("POST", "enroll/skip", map[string]string{"mfa_token": tok})
		mustStatus(t, r, http.StatusOK)
		g.clock.Advance(past)
		r, m = c.api("POST", "enroll/skip", map[string]string{"mfa_token": tok})
		if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_token" {
			t.Fatalf("a spent mfa_token replayed within the leeway: %d %v, want 401 invalid_token", r.StatusCode, m["error"])
		}
	})
	t.Run("verify", func(t *testing.T) {
		g, c, sp := spentToken(t)
		g.clock.Advance(past)
		r, m := c.api("POST", "verify", map[string]any{"mfa_token": sp.token, "recovery_code": sp.codes[0]})
		if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_token" {
			t.Fatalf("a spent mfa_token replayed within the leeway: %d %v, want 401 invalid_token", r.StatusCode, m["error"])
		}
	})
}
