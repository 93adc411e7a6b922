package caddymfa

import (
	"net/http"
	"strings"
	"testing"
)

// The account API's POST calls take no parameters, and hold to the rules
// of every JSON call: no body or `{}` as application/json, anything else
// refused before the action runs.
func TestAccountAPIPostBodies(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, codes, token := c.enrollAPI("alice", "alice-password")
	bearer := []string{"Authorization", "Bearer " + token}
	huge := `{"x":"` + strings.Repeat("a", 8<<20) + `"}`
	refused := []struct {
		name   string
		body   any
		ctype  string
		status int
		code   string
	}{
		{"form content type", "a=b", "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"text body", "please", "text/plain", 415, "unsupported_media_type"},
		{"unknown field", `{"all":true}`, "", 400, "invalid_request"},
		{"malformed JSON", `{`, "", 400, "invalid_request"},
		{"two objects", `{}{}`, "", 400, "invalid_request"},
		{"8 MiB body", huge, "", 413, "request_too_large"},
	}
	for _, call := range []string{"account/recovery_codes", "account/logout_everywhere"} {
		for _, tc := range refused {
			t.Run(call+"/"+tc.name, func(t *testing.T) {
				hdr := append([]string{"Expect", "100-continue"}, bearer...)
				if tc.ctype != "" {
					hdr = append(hdr, "Content-Type", tc.ctype)
				}
				r, m := c.api("POST", call, tc.body, hdr...)
				if r.StatusCode != tc.status || m["error"] != tc.code {
					t.Fatalf("status %d %v, want %d %s", r.StatusCode, m, tc.status, tc.code)
				}
			})
		}
	}
	// Nothing happened: the codes and the session are as they were.
	r, m := c.api("GET", "account", nil, bearer...)
	mustStatus(t, r, http.StatusOK)
	if m["recovery_codes_left"] != float64(len(codes)) {
		t.Fatalf("recovery codes left: %v, want %d", m["recovery_codes_left"], len(codes))
	}

	// No body, and an empty object, are both fine.
	r, _ = c.api("POST", "account/recovery_codes", nil, bearer...)
	mustStatus(t, r, http.StatusOK)
	r, _ = c.api("POST", "account/recovery_codes", `{}`, bearer...)
	mustStatus(t, r, http.StatusOK)
	r, _ = c.api("POST", "account/logout_everywhere", `{}`, bearer...)
	mustStatus(t, r, http.StatusNoContent)
}
