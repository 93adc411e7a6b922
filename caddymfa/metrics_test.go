package caddymfa

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestMetricsCountAFlow(t *testing.T) {
	metricsPort, secondPort := freePort(t), freePort(t)
	a, _ := userHashes(t)
	// A metrics site, as operators expose it, and a second mfa site: two
	// handlers register the same collectors with one config's registry.
	og := startOpsGateway(t, defaultMFA(t), opsOptions{sites: fmt.Sprintf(`
http://localhost:%d {
	metrics
}

http://localhost:%d {
	mfa {
		secret %s
		user alice %s
		store file {STORE}
	}
	respond "second site"
}`, metricsPort, secondPort, testSecret, a)})
	metricsURL := fmt.Sprintf("http://localhost:%d/metrics", metricsPort)
	before := scrapeMetrics(t, metricsURL)

	c := og.client()
	secret, _, token := c.enrollAPI("alice", "alice-password")
	og.clock.Advance(time.Minute)
	tok := c.loginAPI("alice", "alice-password")
	r, _ := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
	mustStatus(t, r, http.StatusUnauthorized)
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, og.clock.Now())})
	mustStatus(t, r, http.StatusOK)
	tok = c.loginAPI("alice", "alice-password")
	for range 5 {
		r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
		mustStatus(t, r, http.StatusUnauthorized)
	}
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
	mustStatus(t, r, http.StatusTooManyRequests)
	r, _ = c.api("POST", "login", map[string]string{"username": "alice", "password": "wrong"})
	mustStatus(t, r, http.StatusUnauthorized)
	r, _ = c.api("POST", "logout", nil, "Authorization", "Bearer "+token)
	mustStatus(t, r, http.StatusNoContent)

	after := scrapeMetrics(t, metricsURL)
	want := map[string]float64{
		`caddy_mfa_signins_total{outcome="success"}`:                           3,
		`caddy_mfa_signins_total{outcome="failure"}`:                           1,
		`caddy_mfa_enrollments_total{outcome="started"}`:                       1,
		`caddy_mfa_enrollments_total{outcome="success"}`:                       1,
		`caddy_mfa_enrollments_total{outcome="failure"}`:                       0,
		`caddy_mfa_challenges_total{factor="totp",outcome="failure"}`:          6,
		`caddy_mfa_challenges_total{factor="totp",outcome="success"}`:          1,
		`caddy_mfa_challenges_total{factor="recovery_code",outcome="success"}`: 0,
		`caddy_mfa_lockouts_total{kind="locked"}`:                              1,
		`caddy_mfa_lockouts_total{kind="hard_locked"}`:                         0,
		`caddy_mfa_logouts_total`:                                              1,
		// Only evaluated codes are timed: the refused seventh is not.
		`caddy_mfa_verification_duration_seconds_count{factor="totp"}`: 7,
	}
	for series, delta := range want {
		b, okB := before[series]
		a, okA := after[series]
		if !okA || (!okB && delta == 0) {
			t.Errorf("%s not exported (before: %v, after: %v)", series, okB, okA)
			continue
		}
		if a-b != delta {
			t.Errorf("%s moved by %v, want %v", series, a-b, delta)
		}
	}
	if sum := `caddy_mfa_verification_duration_seconds_sum{factor="totp"}`; after[sum] <= before[sum] {
		t.Errorf("%s did not grow", sum)
	}

	// A reload brings a fresh registry; the counts carry over.
	og.reload(defaultMFA(t))
	reloaded := scrapeMetrics(t, metricsURL)
	for series := range want {
		if reloaded[series] != after[series] {
			t.Errorf("after reload %s = %v, want %v", series, reloaded[series], after[series])
		}
	}
}
