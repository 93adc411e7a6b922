package caddymfa

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAuditEventsAndNoSecretsInLogs(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	secret, codes, token := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)

	// A failure, a success, a recovery code, a lockout, a logout.
	tok := c.loginAPI("alice", "alice-password")
	c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
	code := codeAt(t, secret, g.clock.Now())
	c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": code})
	rcTok := c.loginAPI("alice", "alice-password")
	c.api("POST", "verify", map[string]string{"mfa_token": rcTok, "recovery_code": codes[1]})
	c.api("POST", "login", map[string]string{"username": "alice", "password": "wrong-password-1"})
	for range 6 {
		c.api("POST", "login", map[string]string{"username": "bob", "password": "wrong-password-2"})
	}
	r, _ := c.api("POST", "logout", nil, "Authorization", "Bearer "+token)
	mustStatus(t, r, http.StatusNoContent)
	browser := g.client()
	browser.verifyBrowser("/", "alice", "alice-password", url.Values{"code": {"123456"}})

	want := map[string]bool{
		"signin/password/success": false, "signin/password/failure": false,
		"enrollment/totp/success": false, "enrollment_started/totp/success": false,
		"challenge/totp/failure": false, "challenge/totp/success": false,
		"challenge/recovery_code/success": false, "recovery_code_used/recovery_code/success": false,
		"lockout/password/user_locked": false, "logout//success": false,
	}
	for _, e := range g.auditEvents() {
		for _, f := range []string{"event", "user", "client_ip", "factor", "outcome", "request_id", "time"} {
			if _, ok := e[f]; !ok {
				t.Errorf("audit event without %s: %v", f, e)
			}
		}
		if e["client_ip"] == "" || e["request_id"] == "" {
			t.Errorf("audit event lacks client IP or request id: %v", e)
		}
		key := e["event"].(string) + "/" + e["factor"].(string) + "/" + e["outcome"].(string)
		if _, ok := want[key]; ok {
			want[key] = true
		}
		if key == "recovery_code_used/recovery_code/success" && e["codes_left"] != float64(len(codes)-1) {
			t.Errorf("recovery code event: codes_left %v", e["codes_left"])
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("no audit event %s", k)
		}
	}

	logs := g.logs()
	for name, s := range map[string]string{
		"password": "alice-password", "wrong password": "wrong-password-1", "TOTP secret": secret,
		"code": code, "recovery code": codes[1], "access token": token, "mfa_token": tok,
		"master secret": testSecret,
	} {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s", name)
		}
	}
	for _, c := range codes {
		if strings.Contains(logs, c) || strings.Contains(logs, strings.ReplaceAll(c, "-", "")) {
			t.Error("the log contains a recovery code")
		}
	}
}

func TestRecoveryCodeSingleUseUnderConcurrency(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, codes, _ := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)
	tokens := make([]string, 20)
	for i := range tokens {
		tokens[i] = c.loginAPI("alice", "alice-password")
	}
	var wg sync.WaitGroup
	results := make(chan int, 20)
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := g.client().api("POST", "verify", map[string]string{"mfa_token": tok, "recovery_code": codes[0]})
			results <- r.StatusCode
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for s := range results {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized, http.StatusTooManyRequests:
		default:
			t.Errorf("status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d successes with one recovery code, want 1", ok)
	}
}

func TestTOTPCodeAcceptedOnceUnderConcurrency(t *testing.T) {
	g, c, secret := enrolledAlice(t, defaultMFA(t))
	code := codeAt(t, secret, g.clock.Now())
	tokens := make([]string, 20)
	for i := range tokens {
		tokens[i] = c.loginAPI("alice", "alice-password")
	}
	var wg sync.WaitGroup
	results := make(chan int, 20)
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := g.client().api("POST", "verify", map[string]string{"mfa_token": tok, "code": code})
			results <- r.StatusCode
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for s := range results {
		if s == http.StatusOK {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d successes with one TOTP code, want 1", ok)
	}
}

// The code a sign-in spent does not confirm a step-up right after; the
// next code does.
func TestTOTPCodeSpentAtSignInRefusedForStepUp(t *testing.T) {
	g, c, secret := enrolledAlice(t, defaultMFA(t))
	code := codeAt(t, secret, g.clock.Now())
	r, m := c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "code": code})
	mustStatus(t, r, http.StatusOK)
	bearer := "Bearer " + m["access_token"].(string)
	r, m = c.api("POST", "verify", map[string]string{"code": code}, "Authorization", bearer)
	mustStatus(t, r, http.StatusUnauthorized)
	if m["error"] != "invalid_code" {
		t.Fatalf("step-up with the spent code: %v, want invalid_code", m)
	}
	g.clock.Advance(30 * time.Second)
	r, _ = c.api("POST", "verify", map[string]string{"code": codeAt(t, secret, g.clock.Now())}, "Authorization", bearer)
	mustStatus(t, r, http.StatusOK)
}

// A spent mfa_token is refused as such even with a good code, and the
// refused sign-in spends nothing: the store writes the token, the code's
// step and the session in one transaction, so the code still works with
// a new mfa_token.
func TestSpentMFATokenSpendsNoCode(t *testing.T) {
	g, c, secret := enrolledAlice(t, defaultMFA(t))
	tok := c.loginAPI("alice", "alice-password")
	r, _ := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now())})
	mustStatus(t, r, http.StatusOK)
	g.clock.Advance(30 * time.Second)
	code := codeAt(t, secret, g.clock.Now())
	r, m := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": code})
	mustStatus(t, r, http.StatusUnauthorized)
	if m["error"] != "invalid_token" {
		t.Fatalf("a spent mfa_token with a good code: %v, want invalid_token", m)
	}
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "code": code})
	mustStatus(t, r, http.StatusOK)
}
