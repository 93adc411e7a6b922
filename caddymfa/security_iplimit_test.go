package caddymfa

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// countEvents counts the audit events named event with outcome.
func countEvents(events []map[string]any, event, outcome string) int {
	n := 0
	for _, e := range events {
		if e["event"] == event && e["outcome"] == outcome {
			n++
		}
	}
	return n
}

// parallelStatuses sends n requests at once and tallies their statuses.
func parallelStatuses(n int, send func(i int) int) map[int]int {
	statuses := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			statuses[i] = send(i)
		})
	}
	close(start)
	wg.Wait()
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	return counts
}

// SECURITY.md item 4 and the per-IP limit: parallel guesses from one
// client IP cannot all pass the IP lock before the first is counted. With
// ip_threshold 20, at most 20 + 1 are evaluated (two checks of one client
// run at once); the rest answer 429 with Retry-After, whichever names
// they try.
func TestParallelWrongPasswordsFromOneIPEvaluateAboutIPThreshold(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	counts := map[int]int{}
	// Bursts of 100 until the IP is locked: most of a burst is refused
	// while two checks run, so one burst may not reach the limit.
	for round := 0; ; round++ {
		if round == 10 {
			t.Fatalf("ten bursts and the IP is not locked (statuses %v)", counts)
		}
		for s, n := range parallelStatuses(100, func(i int) int {
			r, _ := g.client().api("POST", "login", map[string]string{"username": fmt.Sprintf("user%d-%d", round, i), "password": "guess"})
			if r.StatusCode == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			return r.StatusCode
		}) {
			counts[s] += n
		}
		r, _ := g.client().api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
		if r.StatusCode == http.StatusTooManyRequests {
			break
		}
		mustStatus(t, r, http.StatusAccepted)
	}
	evaluated := countEvents(g.auditEvents(), "signin", "failure")
	if evaluated > 21 || counts[http.StatusUnauthorized] != evaluated || len(counts) > 2 {
		t.Fatalf("statuses %v, %d passwords evaluated; want at most 21 (401), the rest 429", counts, evaluated)
	}
}

// The same for second factors: someone holding passwords of many accounts
// cannot spend the IP's budget in parallel. With the account limit out of
// the way (threshold 100), ip_threshold 5 lets at most 5 + 1 codes be
// evaluated.
func TestParallelWrongCodesFromOneIPEvaluateAboutIPThreshold(t *testing.T) {
	g := startGateway(t, policyMFA(t, "lockout {\n\t\t\tthreshold 100\n\t\t\tip_threshold 5\n\t\t}"))
	c := g.client()
	c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)
	tok := c.loginAPI("alice", "alice-password")
	counts := parallelStatuses(40, func(i int) int {
		r, _ := g.client().api("POST", "verify", map[string]string{"mfa_token": tok, "code": fmt.Sprintf("%06d", i)})
		return r.StatusCode
	})
	evaluated := countEvents(g.auditEvents(), "challenge", "failure")
	if counts[http.StatusOK] > 0 {
		t.Skip("a guessed code happened to be right")
	}
	if evaluated > 6 || counts[http.StatusUnauthorized] != evaluated || counts[http.StatusTooManyRequests] != 40-evaluated {
		t.Fatalf("statuses %v, %d codes evaluated; want at most 6, the rest 429", counts, evaluated)
	}
	// Codes refused by the IP lock were never looked at: they count
	// against the client, not the account.
	if n := g.secondFactorFailures(t, "alice"); n != evaluated {
		t.Errorf("account counter = %d, want the %d codes evaluated", n, evaluated)
	}
}

// IPv6 clients are limited by their /64 (one subscriber's usual share),
// IPv4 and IPv4-mapped IPv6 addresses by the address, behind a trusted
// proxy that reports them.
func TestIPv6ClientsLimitedBySlash64(t *testing.T) {
	og := startOpsGateway(t, defaultMFA(t), opsOptions{global: "servers {\n\t\ttrusted_proxies static 127.0.0.0/8 ::1\n\t}"})
	c := og.client()
	login := func(user, password, ip string) int {
		r, _ := c.api("POST", "login", map[string]string{"username": user, "password": password}, "X-Forwarded-For", ip)
		return r.StatusCode
	}
	cases := []struct {
		name             string
		failFrom         func(i int) string // where the 20 failures come from
		lockedIP, freeIP string             // locked by them, and not
	}{
		{"IPv6, twenty addresses of one /64", func(i int) string { return fmt.Sprintf("2001:db8:0:1::%x", i+1) },
			"2001:db8:0:1:ffff::1", "2001:db8:0:2::1"},
		{"IPv4-mapped IPv6 counts as IPv4", func(int) string { return "::ffff:203.0.113.9" },
			"203.0.113.9", "203.0.113.10"},
		{"IPv4, one address", func(int) string { return "198.51.100.7" },
			"198.51.100.7", "198.51.100.8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 20 {
				if st := login(fmt.Sprintf("user%d", i), "x", tc.failFrom(i)); st != http.StatusUnauthorized {
					t.Fatalf("failure %d: status %d", i+1, st)
				}
			}
			if st := login("alice", "alice-password", tc.lockedIP); st != http.StatusTooManyRequests {
				t.Errorf("right password from %s: %d, want 429", tc.lockedIP, st)
			}
			if st := login("alice", "alice-password", tc.freeIP); st != http.StatusAccepted {
				t.Errorf("right password from %s: %d, want 202", tc.freeIP, st)
			}
		})
	}
}

// TestColleaguesBehindOneAddressSignInAtOnce: the per-client cap on
// checks running at once makes the checks of one address wait their turn,
// it does not refuse them: eight colleagues behind one NAT address sign in
// at the same moment, password and code, and no one's account is charged.
func TestColleaguesBehindOneAddressSignInAtOnce(t *testing.T) {
	hash := testPasswordHash(t, "pw")
	var users strings.Builder
	for i := range 8 {
		fmt.Fprintf(&users, "\t\tuser u%d %s\n", i, hash)
	}
	g := startGateway(t, fmt.Sprintf("mfa {\n\t\tsecret %s\n%s\t\tstore file {STORE}\n\t}", testSecret, users.String()))
	secrets := make([]string, 8)
	for i := range 8 {
		secrets[i], _, _ = g.client().enrollAPI(fmt.Sprintf("u%d", i), "pw")
	}
	g.clock.Advance(time.Minute)
	tokens := make([]string, 8)
	logins := parallelStatuses(8, func(i int) int {
		r, m := g.client().api("POST", "login", map[string]string{"username": fmt.Sprintf("u%d", i), "password": "pw"})
		if tok, ok := m["mfa_token"].(string); ok {
			tokens[i] = tok
		}
		return r.StatusCode
	})
	if logins[http.StatusAccepted] != 8 {
		t.Fatalf("right passwords from one address at once: %v, want 8 × 202", logins)
	}
	codes := parallelStatuses(8, func(i int) int {
		r, _ := g.client().api("POST", "verify", map[string]string{"mfa_token": tokens[i], "code": codeAt(t, secrets[i], g.clock.Now())})
		return r.StatusCode
	})
	if codes[http.StatusOK] != 8 {
		t.Fatalf("right codes from one address at once: %v, want 8 × 200", codes)
	}
	for i := range 8 {
		if n := g.secondFactorFailures(t, fmt.Sprintf("u%d", i)); n != 0 {
			t.Errorf("u%d's account was charged %d failures", i, n)
		}
	}
}
