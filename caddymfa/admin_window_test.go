package caddymfa

import (
	"net/http"
	"testing"
	"time"
)

// TestAdminShowsTheWindowLock: a user who reached max_failures failed
// codes within 30 days, with a success between them (so no lock of the
// consecutive counter), is refused TOTP; the admin view says so.
func TestAdminShowsTheWindowLock(t *testing.T) {
	og := startOpsGateway(t, policyMFA(t, "lockout {\n threshold 5\n max_failures 5\n }"), opsOptions{admin: true})
	c := og.client()
	secret, _, _ := c.enrollAPI("alice", "alice-password")
	og.clock.Advance(time.Minute)
	tok := c.loginAPI("alice", "alice-password")
	for range 4 {
		r, _ := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
		mustStatus(t, r, http.StatusUnauthorized)
	}
	r, _ := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, og.clock.Now())})
	mustStatus(t, r, http.StatusOK)
	tok = c.loginAPI("alice", "alice-password")
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
	mustStatus(t, r, http.StatusUnauthorized)
	og.clock.Advance(time.Minute)
	r, m := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, og.clock.Now())})
	if r.StatusCode != http.StatusTooManyRequests || m["error"] != "account_locked" {
		t.Fatalf("not window-locked: %d %v", r.StatusCode, m["error"])
	}

	sf := og.adminJSON("GET", "/mfa/users/alice", http.StatusOK)["second_factor"].(map[string]any)
	untilText, _ := sf["window_locked_until"].(string)
	until, _ := time.Parse(time.RFC3339, untilText)
	if sf["window_locked"] != true || !until.After(og.clock.Now().Add(29*24*time.Hour)) || sf["locked"] != false || sf["hard_locked"] != false {
		t.Errorf("lock state: %v", sf)
	}
	og.adminJSON("POST", "/mfa/users/alice/unlock", http.StatusOK)
	if sf := og.adminJSON("GET", "/mfa/users/alice", http.StatusOK)["second_factor"].(map[string]any); sf["window_locked"] != nil {
		t.Errorf("lock state after unlock: %v", sf)
	}
}
