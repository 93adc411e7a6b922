package caddymfa

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// oldAttemptKey names a counter as builds before secret-independent names
// did: keyed by the first secret then configured.
func oldAttemptKey(t *testing.T, secret, kind, value string) string {
	t.Helper()
	ring, err := keys.NewRing(secret)
	if err != nil {
		t.Fatal(err)
	}
	return kind + ":" + hex.EncodeToString(ring.KeyedHash("attempt key", []byte(kind+"\x00"+value))[:16])
}

// seedOldCounter counts n attempts of an older build under its name for
// kind's counter of alice, with the policy that build counted it by.
func seedOldCounter(t *testing.T, og *opsGateway, kind string, n int) string {
	t.Helper()
	sf, _, _, window, err := LockoutConfig{}.policies()
	if err != nil {
		t.Fatal(err)
	}
	policy := map[string]store.LockPolicy{"mfa": sf, "mfa30": window}[kind]
	key := oldAttemptKey(t, testSecret, kind, "alice")
	for range n {
		if _, err := og.backendFor(t).CountAttempt(context.Background(), key, og.clock.Now(), policy); err != nil {
			t.Fatal(err)
		}
	}
	return key
}

// TestLegacyHardLockSurvivesUpgrade: an account that reached the hard cap
// under an older build's counter name stays locked after the upgrade (and
// after a rotation that moves that build's secret second), until a
// recovery code or an admin unlock clears it.
func TestLegacyHardLockSurvivesUpgrade(t *testing.T) {
	og := startOpsGateway(t, defaultMFA(t), opsOptions{admin: true})
	c := og.client()
	secret, codes, _ := c.enrollAPI("alice", "alice-password")
	rightCode := func() (response, map[string]any) {
		t.Helper()
		og.clock.Advance(time.Minute)
		return c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "code": codeAt(t, secret, og.clock.Now())})
	}
	mustBeLocked := func(when string) {
		t.Helper()
		if r, m := rightCode(); r.StatusCode != http.StatusTooManyRequests || m["error"] != "account_locked" {
			t.Fatalf("the right code %s: %d %v, want 429 account_locked", when, r.StatusCode, m)
		}
	}

	seedOldCounter(t, og, "mfa", 100)
	og.clock.Advance(2 * time.Hour) // past the old counter's time lock
	mustBeLocked("with the old counter at the hard cap")
	if sf := og.adminJSON("GET", "/mfa/users/alice", http.StatusOK)["second_factor"].(map[string]any); sf["hard_locked"] != true {
		t.Errorf("admin view of the old hard lock: %v", sf)
	}
	og.adminJSON("POST", "/mfa/users/alice/unlock", http.StatusOK)
	if r, m := rightCode(); r.StatusCode != http.StatusOK {
		t.Fatalf("the right code after an admin unlock: %d %v", r.StatusCode, m)
	}

	key := seedOldCounter(t, og, "mfa", 100)
	og.clock.Advance(2 * time.Hour)
	og.reload(strings.Replace(defaultMFA(t), "secret "+testSecret, "secret rotated-secret-0123456789-abcdefghijklmnopqrstuvw\n\t\tsecret "+testSecret, 1))
	mustBeLocked("after a rotation, with the old counter under the second secret")
	r, m := c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "recovery_code": codes[0]})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("a recovery code with the old counter at the hard cap: %d %v", r.StatusCode, m)
	}
	if a, err := og.backendFor(t).Attempts(context.Background(), key, og.clock.Now()); err != nil || a.Failures != 0 {
		t.Errorf("old counter after a recovery code: %+v %v, want cleared", a, err)
	}
	if r, m := rightCode(); r.StatusCode != http.StatusOK {
		t.Errorf("the right code after a recovery code: %d %v", r.StatusCode, m)
	}
}

// TestLegacyWindowLockSurvivesUpgrade: a 30-day window locked under an
// older build's counter name refuses TOTP after the upgrade, shows in the
// admin view, and ends with an admin unlock.
func TestLegacyWindowLockSurvivesUpgrade(t *testing.T) {
	og := startOpsGateway(t, defaultMFA(t), opsOptions{admin: true})
	c := og.client()
	secret, _, _ := c.enrollAPI("alice", "alice-password")
	seedOldCounter(t, og, "mfa30", 100)
	og.clock.Advance(24 * time.Hour)
	rightCode := func() (response, map[string]any) {
		og.clock.Advance(time.Minute)
		return c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "code": codeAt(t, secret, og.clock.Now())})
	}
	if r, m := rightCode(); r.StatusCode != http.StatusTooManyRequests || m["error"] != "account_locked" {
		t.Fatalf("the right code with the old window locked: %d %v, want 429 account_locked", r.StatusCode, m)
	}
	if sf := og.adminJSON("GET", "/mfa/users/alice", http.StatusOK)["second_factor"].(map[string]any); sf["window_locked"] != true || sf["window_locked_until"] == nil {
		t.Errorf("admin view of the old window lock: %v", sf)
	}
	og.adminJSON("POST", "/mfa/users/alice/unlock", http.StatusOK)
	if r, m := rightCode(); r.StatusCode != http.StatusOK {
		t.Errorf("the right code after an admin unlock: %d %v", r.StatusCode, m)
	}
}
