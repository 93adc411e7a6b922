package caddymfa

import (
	"net/http"
	"testing"
	"time"
)

// TestRevocationSparesTheNextSecond: tokens carry auth_time in whole
// seconds, so "sign out everywhere" and the removal of the last factor,
// made at a fraction of a second, end the sessions begun until then and
// no session begun in the next whole second.
func TestRevocationSparesTheNextSecond(t *testing.T) {
	cases := []struct {
		name   string
		revoke func(t *testing.T, c *client, bearer []string)
		// signIn starts a new session of alice, whose recovery codes
		// (from before the revocation) are codes.
		signIn func(t *testing.T, c *client, codes []string) string
	}{
		{"logout everywhere", func(t *testing.T, c *client, bearer []string) {
			r, _ := c.api("POST", "account/logout_everywhere", nil, bearer...)
			mustStatus(t, r, http.StatusNoContent)
		}, func(t *testing.T, c *client, codes []string) string {
			r, m := c.api("POST", "verify", map[string]any{"mfa_token": c.loginAPI("alice", "alice-password"), "recovery_code": codes[0]})
			mustStatus(t, r, http.StatusOK)
			return m["access_token"].(string)
		}},
		{"last factor removed", func(t *testing.T, c *client, bearer []string) {
			r, m := c.api("GET", "account", nil, bearer...)
			mustStatus(t, r, http.StatusOK)
			id := m["factors"].([]any)[0].(map[string]any)["id"].(string)
			r, _ = c.api("DELETE", "account/factors/"+id, nil, bearer...)
			mustStatus(t, r, http.StatusNoContent)
		}, func(t *testing.T, c *client, _ []string) string {
			_, _, tok := c.enrollAPI("alice", "alice-password")
			return tok
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, defaultMFA(t))
			c := g.client()
			_, codes, old := c.enrollAPI("alice", "alice-password")
			g.clock.Advance(600 * time.Millisecond)
			tc.revoke(t, c, []string{"Authorization", "Bearer " + old})
			mustStatus(t, g.client().get("/", "Authorization", "Bearer "+old, "Accept", "application/json"), http.StatusUnauthorized)

			// 0.6 s later, in the next whole second: a new session lives.
			g.clock.Advance(600 * time.Millisecond)
			fresh := tc.signIn(t, g.client(), codes)
			mustStatus(t, g.client().get("/", "Authorization", "Bearer "+fresh, "Accept", "application/json"), http.StatusOK)
		})
	}
}
