package caddymfa

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A lock is reported when it starts: the failure that puts it in force
// (the account's fifth, the hard cap, the 30-day window, a name's fifth
// wrong password, the IP's threshold) writes one `lockout` event with
// refused=false and moves caddy_mfa_lockouts_total once; the attempts it
// refuses afterwards are `lockout` events with refused=true and move no
// metric.
func TestLockStartIsAuditedAndCountedOnce(t *testing.T) {
	cases := []struct {
		name    string
		lockout string
		play    func(t *testing.T, og *opsGateway)
		starts  map[string]int // lockout events with refused=false, by outcome
	}{
		{"second factor: time lock, hard cap and window", "max_failures 10", func(t *testing.T, og *opsGateway) {
			c := og.client()
			c.enrollAPI("alice", "alice-password")
			og.clock.Advance(time.Minute)
			verify := func(want int) {
				t.Helper()
				r, _ := c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "code": "000000"})
				mustStatus(t, r, want)
			}
			for range 5 {
				verify(http.StatusUnauthorized)
			}
			og.clock.Advance(6 * time.Minute)
			// The tenth failure reaches max_failures, of the lock counter
			// and of the 30-day window alike.
			for range 5 {
				verify(http.StatusUnauthorized)
			}
			verify(http.StatusTooManyRequests)
			verify(http.StatusTooManyRequests)
		}, map[string]int{"locked": 1, "hard_locked": 1, "window_locked": 1}},
		{"enrollment confirmation", "max_failures 10", func(t *testing.T, og *opsGateway) {
			c := og.client()
			r, m := c.api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
			mustStatus(t, r, http.StatusAccepted)
			tok := m["mfa_token"].(string)
			r, m = c.api("POST", "enroll/totp", map[string]string{"mfa_token": tok})
			mustStatus(t, r, http.StatusOK)
			confirm := func(want int) {
				t.Helper()
				r, _ := c.api("POST", "enroll/totp/confirm", map[string]any{"mfa_token": tok, "factor_id": m["factor_id"], "code": "000000"})
				mustStatus(t, r, want)
			}
			for range 5 {
				confirm(http.StatusUnauthorized)
			}
			confirm(http.StatusTooManyRequests)
			confirm(http.StatusTooManyRequests)
		}, map[string]int{"locked": 1}},
		{"password and client IP", "ip_threshold 8", func(t *testing.T, og *opsGateway) {
			c := og.client()
			login := func(user string, want int) {
				t.Helper()
				r, _ := c.api("POST", "login", map[string]string{"username": user, "password": "wrong"})
				mustStatus(t, r, want)
			}
			for range 5 {
				login("carol", http.StatusUnauthorized)
			}
			login("carol", http.StatusTooManyRequests)
			for i := range 3 {
				login(fmt.Sprintf("dave%d", i), http.StatusUnauthorized)
			}
			login("erin", http.StatusTooManyRequests)
			login("erin", http.StatusTooManyRequests)
		}, map[string]int{"user_locked": 1, "ip_locked": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			metricsPort := freePort(t)
			og := startOpsGateway(t, policyMFA(t, "lockout {\n\t\t\t"+tc.lockout+"\n\t\t}"), opsOptions{sites: fmt.Sprintf(`
http://localhost:%d {
	metrics
}`, metricsPort)})
			metricsURL := fmt.Sprintf("http://localhost:%d/metrics", metricsPort)
			before := scrapeMetrics(t, metricsURL)
			tc.play(t, og)
			after := scrapeMetrics(t, metricsURL)

			starts, refusals := map[string]int{}, 0
			for _, e := range og.auditEvents() {
				if e["event"] != "lockout" {
					continue
				}
				switch e["refused"] {
				case false:
					starts[e["outcome"].(string)]++
				case true:
					refusals++
				default:
					t.Errorf("lockout event without refused: %v", e)
				}
			}
			for _, kind := range []string{"user_locked", "ip_locked", "locked", "hard_locked", "window_locked"} {
				if starts[kind] != tc.starts[kind] {
					t.Errorf("%d %s locks started, want %d (all: %v)", starts[kind], kind, tc.starts[kind], starts)
				}
				series := fmt.Sprintf(`caddy_mfa_lockouts_total{kind=%q}`, kind)
				if moved := after[series] - before[series]; moved != float64(tc.starts[kind]) {
					t.Errorf("%s moved by %v, want %d", series, moved, tc.starts[kind])
				}
			}
			if refusals < 2 {
				t.Errorf("%d refusals audited, want at least 2", refusals)
			}
		})
	}
}
