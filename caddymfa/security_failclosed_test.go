package caddymfa

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// SECURITY.md item 17, limits never skipped: with one counter at a time
// unreadable (a Redis key of the wrong type where the counter lives), a
// sign-in that needs it answers 503 and goes no further, even with the
// right password or code; with the counter back, the same step works.
// A closed store cannot show this: any later store call would 503 too.
func TestLimitsAreNeverSkippedWhenTheirCounterFails(t *testing.T) {
	addr := testenv.Redis(t)
	prefix := "failclosed:" + newID() + ":"
	site := strings.Replace(defaultMFA(t), "store file {STORE}", "store redis://"+addr+"/0 {\n\t\t\tprefix "+prefix+"\n\t\t}", 1)
	g := startGateway(t, site)
	c := g.client()
	secret, _, _ := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)

	// The Redis key of a counter the handler names with attemptKey.
	h := &Handler{ring: mustRing(t)}
	counter := func(kind, value string) string { return prefix + "a:" + h.attemptKey(kind, value) }
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	poison := func(names ...string) func() {
		for _, k := range names {
			if err := rdb.Del(t.Context(), k).Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.RPush(t.Context(), k, "not a counter").Err(); err != nil {
				t.Fatal(err)
			}
		}
		return func() { rdb.Del(t.Context(), names...) }
	}
	login := func() (int, map[string]any) {
		r, m := g.client().api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
		return r.StatusCode, m
	}

	// First factor: the password counter, then the client IP's.
	for name, names := range map[string][]string{
		"password counter":  {counter("pwd", "alice")},
		"client IP counter": {counter("ip", "127.0.0.1"), counter("ip", "::1")},
	} {
		undo := poison(names...)
		if status, m := login(); status != http.StatusServiceUnavailable || m["mfa_token"] != nil {
			t.Errorf("login with the %s unreadable: %d %v, want 503 and no mfa_token", name, status, m)
		}
		undo()
		if status, m := login(); status != http.StatusAccepted {
			t.Errorf("login with the %s back: %d %v", name, status, m)
		}
	}

	// Second factor: its counter, then the 30-day window.
	for _, kind := range []string{"mfa", "mfa30"} {
		status, m := login()
		if status != http.StatusAccepted {
			t.Fatalf("login: %d %v", status, m)
		}
		tok := m["mfa_token"].(string)
		code := codeAt(t, secret, g.clock.Now())
		undo := poison(counter(kind, "alice"))
		r, m := c.api("POST", "verify", map[string]any{"mfa_token": tok, "code": code})
		if r.StatusCode != http.StatusServiceUnavailable || m["access_token"] != nil {
			t.Errorf("verify with the %s counter unreadable: %d %v, want 503 and no session", kind, r.StatusCode, m)
		}
		undo()
		r, m = c.api("POST", "verify", map[string]any{"mfa_token": tok, "code": code})
		if r.StatusCode != http.StatusOK {
			t.Errorf("verify with the %s counter back: %d %v", kind, r.StatusCode, m)
		}
		g.clock.Advance(time.Minute)
	}
}
