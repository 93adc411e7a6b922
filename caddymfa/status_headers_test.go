package caddymfa

import (
	"net/http"
	"testing"
)

func TestPagesSend405AllowAnd401Challenge(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/_mfa/verify", "POST"},
		{"GET", "/_mfa/enroll/confirm", "POST"},
		{"PUT", "/_mfa/login", "GET, HEAD, POST"},
		{"PUT", "/_mfa/", "GET, HEAD"},
		{"DELETE", "/_mfa/logout", "GET, HEAD, POST"},
		{"POST", "/_mfa/assets/style.css", "GET, HEAD"},
	} {
		req, _ := http.NewRequest(tc.method, g.base+tc.path, nil)
		req.Header.Set("Accept", "text/html")
		r := c.do(req)
		mustStatus(t, r, http.StatusMethodNotAllowed)
		if got := r.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	if r, _ := c.api("GET", "login", nil); r.Header.Get("Allow") != "POST" {
		t.Errorf("API GET login: Allow %q", r.Header.Get("Allow"))
	}

	// Every 401 names a scheme; those of the JSON API keep theirs.
	html401 := map[string]response{
		"sign-in interstitial": c.get("/dashboard"),
		"wrong password":       g.client().signInBrowser("/", "alice", "not-her-password"),
	}
	for name, r := range html401 {
		mustStatus(t, r, http.StatusUnauthorized)
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", name)
		}
	}
	req, _ := http.NewRequest("GET", g.base+"/dashboard", nil)
	req.Header.Set("Accept", "application/json")
	if r := c.do(req); r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("JSON 401: %d WWW-Authenticate %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	r, _ := c.api("POST", "login", map[string]string{"username": "alice", "password": "not-her-password"})
	if r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("JSON wrong password: %d WWW-Authenticate %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
}
