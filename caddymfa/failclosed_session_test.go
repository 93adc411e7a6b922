package caddymfa

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// With fail_closed and the store gone, a call that comes with a session
// gets the store's 503, as every route does, not a 400 for a missing
// mfa_token; a call with no credential at all still gets the 400.
func TestFailClosedSessionCallsAnswer503(t *testing.T) {
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	g := startGateway(t, strings.Replace(defaultMFA(t), "store file {STORE}",
		"store redis://"+srv.Addr()+"/0 {\n\t\t\tfail_closed\n\t\t}", 1))
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	bearer := []string{"Authorization", "Bearer " + token}
	srv.Stop()
	eventually(t, "sessions refused", func() bool {
		return c.get("/", bearer...).StatusCode == http.StatusServiceUnavailable
	})
	calls := []struct {
		call string
		body map[string]string
	}{
		{"enroll/totp", map[string]string{}},
		{"enroll/totp/confirm", map[string]string{"factor_id": "x", "code": "123456"}},
		{"verify", map[string]string{"code": "123456"}},
	}
	for _, tc := range calls {
		r, m := c.api("POST", tc.call, tc.body, bearer...)
		if r.StatusCode != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" {
			t.Errorf("%s with a session: %d %v, want 503", tc.call, r.StatusCode, m)
		}
		r, m = g.client().api("POST", tc.call, tc.body)
		if r.StatusCode != http.StatusBadRequest || m["error"] != "invalid_request" {
			t.Errorf("%s without credentials: %d %v, want 400", tc.call, r.StatusCode, m)
		}
	}
}
