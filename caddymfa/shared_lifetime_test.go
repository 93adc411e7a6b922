package caddymfa

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// TestRevocationLastsTheLongestSharedLifetime: two sites share a store and
// a cookie_domain, so each accepts and renews the other's sessions up to
// its own session_lifetime. A logout on the site of 1 h must still hold on
// the site of 12 h after that hour. Sites on the same Redis data whose
// connection settings differ have a backend each, and count as sharing.
func TestRevocationLastsTheLongestSharedLifetime(t *testing.T) {
	cases := []struct {
		name   string
		stores func(t *testing.T) (a, b string)
	}{
		{"one file", func(*testing.T) (string, string) { return fileStore, fileStore }},
		{"one Redis, another pool_size", redisStores("", "pool_size 5")},
		{"one Redis, another fail_closed", redisStores("", "fail_closed")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storeA, storeB := tc.stores(t)
			og, a, b := sharedLifetimeSitesOn(t, storeA, storeB)
			_, _, tok := a.enrollAPI("alice", "alice-password")
			// Kept alive on site B past half an hour, then signed out on site A.
			og.clock.Advance(25 * time.Minute)
			tok = renewOn(t, b, tok)
			og.clock.Advance(20 * time.Minute)
			tok = renewOn(t, b, tok)
			r, _ := a.api("POST", "logout", nil, "Authorization", "Bearer "+tok)
			mustStatus(t, r, http.StatusNoContent)

			// Past site A's lifetime (and leeway), with lapsed revocations
			// swept as every backend does once a minute, the token is still
			// dead on B.
			og.clock.Advance(16 * time.Minute)
			backends.Range(func(_, val any) bool {
				val.(*backend).revoked.sweep(og.clock.Now())
				return true
			})
			r, _ = b.api("GET", "session", nil, "Authorization", "Bearer "+tok)
			mustStatus(t, r, http.StatusUnauthorized)
		})
	}
}

// TestSessionListingShowsItsLatestEnd: a session begun on the site of 1 h
// is listed there with the end of the site of 12 h, where it may be kept
// alive. Its end on this site alone would be in the past while it still
// works on the other, and it must stay listed there for its user to end.
func TestSessionListingShowsItsLatestEnd(t *testing.T) {
	_, a, _ := sharedLifetimeSites(t)
	_, _, tok := a.enrollAPI("alice", "alice-password")
	r, m := a.api("GET", "account", nil, "Authorization", "Bearer "+tok)
	mustStatus(t, r, http.StatusOK)
	s := m["sessions"].([]any)[0].(map[string]any)
	if d := time.Duration(s["expires_at"].(float64)-s["created_at"].(float64)) * time.Second; d != 12*time.Hour {
		t.Errorf("listed as ending %v after sign-in, want 12h", d)
	}
}

const fileStore = "store file {STORE}"

// redisStores returns store lines for one test Redis, db 0, with extraA
// and extraB in their blocks.
func redisStores(extraA, extraB string) func(t *testing.T) (string, string) {
	return func(t *testing.T) (string, string) {
		addr := testenv.Redis(t)
		line := func(extra string) string { return "store redis://" + addr + "/0 {\n" + extra + "\n}" }
		return line(extraA), line(extraB)
	}
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
	return sharedLifetimeSitesOn(t, fileStore, fileStore)
}

// sharedLifetimeSitesOn is sharedLifetimeSites with site A on storeA and
// site B on storeB, store lines that reach the same data.
func sharedLifetimeSitesOn(t *testing.T, storeA, storeB string) (*opsGateway, *client, *client) {
	t.Helper()
	portB := freePort(t)
	shared := func(site, store string) string {
		return strings.Replace(site, "store file {STORE}", store+"\ncookie_domain localhost", 1)
	}
	siteB := fmt.Sprintf("http://localhost:%d {\n%s\nreverse_proxy {UPSTREAM}\n}", portB, shared(policyMFA(t, "session_lifetime 12h"), storeB))
	og := startOpsGateway(t, shared(policyMFA(t, "session_lifetime 1h"), storeA), opsOptions{sites: siteB})
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
