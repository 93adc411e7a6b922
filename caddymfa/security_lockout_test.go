package caddymfa

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
)

// SECURITY.md item 14: a fresh sign-in (a new mfa_token, or a new browser)
// before every guess changes nothing; the counter is per account and
// shared by every factor.
func TestFreshSignInPerGuessNeverResetsTheCounter(t *testing.T) {
	cases := []struct {
		name  string
		guess func(g *gateway, i int) int // one wrong guess after a fresh sign-in; returns the status
	}{
		{"API, new mfa_token per guess", func(g *gateway, i int) int {
			c := g.client()
			r, _ := c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "code": "000000"})
			return r.StatusCode
		}},
		{"browser, new browser per guess", func(g *gateway, i int) int {
			return g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"code": {"000000"}}).StatusCode
		}},
		{"TOTP and recovery codes mixed", func(g *gateway, i int) int {
			c := g.client()
			body := map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "code": "000000"}
			if i%2 == 1 {
				body = map[string]string{"mfa_token": body["mfa_token"], "recovery_code": "0000-0000-0000"}
			}
			r, _ := c.api("POST", "verify", body)
			return r.StatusCode
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, defaultMFA(t))
			secret, _, _ := g.client().enrollAPI("alice", "alice-password")
			g.clock.Advance(time.Minute)
			for i := range 5 {
				if st := tc.guess(g, i); st != http.StatusUnauthorized {
					t.Fatalf("guess %d: status %d", i+1, st)
				}
			}
			c := g.client()
			r, m := c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "code": codeAt(t, secret, g.clock.Now())})
			if r.StatusCode != http.StatusTooManyRequests || m["error"] != "rate_limited" {
				t.Fatalf("right code after 5 fresh-sign-in failures: %d %v", r.StatusCode, m)
			}
			if n := g.secondFactorFailures(t, "alice"); n != 6 {
				t.Errorf("counter = %d, want 6", n)
			}
		})
	}
}

// SECURITY.md item 16: someone who knows only a user name cannot move
// that user's second-factor counter, so cannot lock them out.
func TestSecondFactorCounterNeedsAFirstFactor(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	secret, _, _ := g.client().enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)

	otherRing, _ := keys.NewRing("another-secret-0123456789-abcdefghijklmnopqrstuv")
	forger, _ := newTokenCodec(otherRing, g.clock.Now)
	now := g.clock.Now()
	forged, _ := forger.issuePending(pending{User: "alice", ID: "x", Audience: "localhost", ExpiresAt: now.Add(time.Minute), AuthTime: now}, now)
	none := jwtNone(t, `{"alg":"none","typ":"mfa-pending+jwt"}`, `{"sub":"alice","jti":"x","aud":["localhost"],"exp":9999999999,"iat":1,"auth_time":1}`)
	attacker := g.client()
	for range 10 {
		for _, tok := range []string{"", "garbage", forged, none} {
			attacker.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
			attacker.api("POST", "verify", map[string]string{"mfa_token": tok, "recovery_code": "0000-0000-0000"})
			attacker.api("POST", "enroll/totp/confirm", map[string]string{"mfa_token": tok, "factor_id": "x", "code": "000000"})
		}
		// The browser form without a sign-in in progress, and with a
		// forged one.
		page := attacker.get("/")
		form := formFields(t, page.Body, "/_mfa/login")
		form.Set("code", "000000")
		attacker.postForm("/_mfa/verify", form)
		attacker.postForm("/_mfa/verify", form, "Cookie", "__Host-mfa_pending="+forged)
	}
	if n := g.secondFactorFailures(t, "alice"); n != 0 {
		t.Fatalf("second-factor counter = %d without any first factor", n)
	}
	c := g.client()
	r, _ := c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "code": codeAt(t, secret, g.clock.Now())})
	mustStatus(t, r, http.StatusOK)
}
