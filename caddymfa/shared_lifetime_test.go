package caddymfa

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRevocationLastsTheLongestSharedLifetime: two sites share a store and
// a cookie_domain, so each accepts and renews the other's sessions up to
// its own session_lifetime. A logout on the site of 1 h must still hold on
// the site of 12 h after that hour.
func TestRevocationLastsTheLongestSharedLifetime(t *testing.T) {
	og, a, b := sharedLifetimeSites(t)
	_, _, tok := a.enrollAPI("alice", "alice-password")
	// Kept alive on site B past half an hour, then signed out on site A.
	og.clock.Advance(25 * time.Minute)
	tok = renewOn(t, b, tok)
	og.clock.Advance(20 * time.Minute)
	tok = renewOn(t, b, tok)
	r, _ := a.api("POST", "logout", nil, "Authorization", "Bearer "+tok)
	mustStatus(t, r, http.StatusNoContent)

	// Past site A's lifetime (and leeway), with lapsed revocations swept
	// as every backend does once a minute, the token is still dead on B.
	og.clock.Advance(16 * time.Minute)
	backends.Range(func(_, val any) bool {
		val.(*backend).revoked.sweep(og.clock.Now())
		return true
	})
	r, _ = b.api("GET", "session", nil, "Authorization", "Bearer "+tok)
	mustStatus(t, r, http.StatusUnauthorized)
}

// TestSessionRecordLastsTheLongestSharedLifetime: a session begun on the
// site of 1 h and alive on the site of 12 h after that hour is still
// listed, so that its user can end it.
func TestSessionRecordLastsTheLongestSharedLifetime(t *testing.T) {
	og, a, b := sharedLifetimeSites(t)
	_, _, tok := a.enrollAPI("alice", "alice-password")
	for range 3 {
		og.clock.Advance(25 * time.Minute)
		tok = renewOn(t, b, tok)
	}
	bearer := []string{"Authorization", "Bearer " + tok}
	r, m := b.api("GET", "account", nil, bearer...)
	mustStatus(t, r, http.StatusOK)
	sessions := m["sessions"].([]any)
	if len(sessions) != 1 || sessions[0].(map[string]any)["current"] != true {
		t.Fatalf("sessions listed after 75 min: %v", sessions)
	}
	r, _ = b.api("DELETE", "account/sessions/"+sessions[0].(map[string]any)["id"].(string), nil, bearer...)
	mustStatus(t, r, http.StatusNoContent)
	r, _ = b.api("GET", "session", nil, bearer...)
	mustStatus(t, r, http.StatusUnauthorized)
}

// sharedLifetimeSites starts two sites on one store and cookie_domain:
// the gateway's, with a session_lifetime of 1 h, and another of 12 h. It
// returns a client of each.
func sharedLifetimeSites(t *testing.T) (*opsGateway, *client, *client) {
	t.Helper()
	portB := freePort(t)
	shared := func(site string) string {
		return strings.Replace(site, "store file {STORE}", "store file {STORE}\ncookie_domain localhost", 1)
	}
	siteB := fmt.Sprintf("http://localhost:%d {\n%s\nreverse_proxy {UPSTREAM}\n}", portB, shared(policyMFA(t, "session_lifetime 12h")))
	og := startOpsGateway(t, shared(policyMFA(t, "session_lifetime 1h")), opsOptions{sites: siteB})
	gb := *og.gateway
	gb.base = fmt.Sprintf("http://localhost:%d", portB)
	return og, og.client(), gb.client()
}

// renewOn renews the session tok through c and returns the new token.
func renewOn(t *testing.T, c *client, tok string) string {
	t.Helper()
	r, m := c.api("GET", "session", nil, "Authorization", "Bearer "+tok)
	mustStatus(t, r, http.StatusOK)
	return m["access_token"].(string)
}
