package caddymfa

import (
	"context"
	"encoding/base32"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
)

// handlerBackend reaches the store of the running gateway, to check what
// it holds.
func (g *gateway) backendFor(t *testing.T) *backend {
	t.Helper()
	var found *backend
	backends.Range(func(key, val any) bool {
		if key == "file:"+g.dir+"/mfa.db" {
			found = val.(*backend)
		}
		return true
	})
	if found == nil {
		t.Fatal("gateway store not open")
	}
	return found
}

func (g *gateway) secondFactorFailures(t *testing.T, user string) int {
	t.Helper()
	h := &Handler{ring: mustRing(t)}
	st, err := g.backendFor(t).Attempts(context.Background(), h.attemptKey("mfa", user), g.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return st.Failures
}

func retryAfter(t *testing.T, r response) int {
	t.Helper()
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	return n
}

func TestSecondFactorLockoutEscalatesAndSurvivesNewTokens(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	secret, _, _ := c.enrollAPI("alice", "alice-password")

	g.clock.Advance(time.Minute)
	tok := c.loginAPI("alice", "alice-password")
	for i := range 5 {
		r, m := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
		if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_code" {
			t.Fatalf("wrong code %d: %d %v", i+1, r.StatusCode, m)
		}
	}
	// Locked: even the right code is refused, with Retry-After.
	good := func() string { return codeAt(t, secret, g.clock.Now()) }
	r, m := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": good()})
	mustStatus(t, r, http.StatusTooManyRequests)
	if m["error"] != "rate_limited" || retryAfter(t, r) != 300 || m["retry_after"] != float64(300) {
		t.Fatalf("locked answer: %v, Retry-After %q", m, r.Header.Get("Retry-After"))
	}
	// A fresh sign-in (new mfa_token) does not reset the counter.
	tok2 := c.loginAPI("alice", "alice-password")
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok2, "code": good()})
	mustStatus(t, r, http.StatusTooManyRequests)

	// After the lock the right code works (fresh step: the clock moved).
	g.clock.Advance(5*time.Minute + time.Second)
	tok3 := c.loginAPI("alice", "alice-password")
	r, m = c.api("POST", "verify", map[string]string{"mfa_token": tok3, "code": good()})
	mustStatus(t, r, http.StatusOK)
	if g.secondFactorFailures(t, "alice") != 0 {
		t.Error("success did not reset the counter")
	}

	// The next round of failures locks for longer: 5 → 15 minutes.
	tok4 := c.loginAPI("alice", "alice-password")
	for range 5 {
		c.api("POST", "verify", map[string]string{"mfa_token": tok4, "code": "000000"})
	}
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok4, "code": "000000"})
	mustStatus(t, r, http.StatusTooManyRequests)
	if n := retryAfter(t, r); n != 300 {
		// Counter was reset by the success: the first lock again.
		t.Errorf("Retry-After after reset = %d, want 300", n)
	}
	g.clock.Advance(5*time.Minute + time.Second)
	for range 4 {
		c.api("POST", "verify", map[string]string{"mfa_token": tok4, "code": "000000"})
	}
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok4, "code": "000000"})
	mustStatus(t, r, http.StatusTooManyRequests)
	if n := retryAfter(t, r); n != 900 {
		t.Errorf("second lock Retry-After = %d, want 900", n)
	}
}

func TestParallelWrongCodesEvaluateAtMostThreshold(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	secret, codes, _ := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)
	tok := c.loginAPI("alice", "alice-password")

	statuses := make(chan int, 100)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := g.client()
			r, _ := cl.api("POST", "verify", map[string]string{"mfa_token": tok, "code": fmt.Sprintf("%06d", i)})
			statuses <- r.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	// Codes 000000…000099: none is right unless the secret happens to
	// produce one; a right one would answer 200.
	if counts[http.StatusUnauthorized]+counts[http.StatusOK] > 5 || counts[http.StatusTooManyRequests] < 95 {
		t.Fatalf("statuses %v: more than 5 codes were evaluated", counts)
	}
	if n := g.secondFactorFailures(t, "alice"); n < 100 && counts[http.StatusOK] == 0 {
		t.Fatalf("counter = %d, want ≥ 100", n)
	}
	if counts[http.StatusOK] > 0 {
		return // a lucky code reset the counter; the hard cap is covered below only otherwise
	}

	// At the hard cap only a recovery code unlocks, even after the time
	// lock has passed.
	g.clock.Advance(2 * time.Hour)
	tok2 := c.loginAPI("alice", "alice-password")
	r, m := c.api("POST", "verify", map[string]string{"mfa_token": tok2, "code": codeAt(t, secret, g.clock.Now())})
	mustStatus(t, r, http.StatusTooManyRequests)
	if m["error"] != "account_locked" {
		t.Errorf("hard-locked answer: %v", m)
	}
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok2, "recovery_code": codes[0]})
	mustStatus(t, r, http.StatusOK)
	g.clock.Advance(time.Minute)
	tok3 := c.loginAPI("alice", "alice-password")
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok3, "code": codeAt(t, secret, g.clock.Now())})
	mustStatus(t, r, http.StatusOK)
}

func TestUnknownUserWrongPasswordAndLockedLookAlike(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	login := func(user, pass string) (response, string) {
		r, _ := c.api("POST", "login", map[string]string{"username": user, "password": pass})
		return r, r.Body
	}
	r1, unknown := login("mallory", "whatever")
	r2, wrong := login("alice", "not-her-password")
	mustStatus(t, r1, http.StatusUnauthorized)
	mustStatus(t, r2, http.StatusUnauthorized)
	if unknown != wrong {
		t.Errorf("unknown user %q vs wrong password %q", unknown, wrong)
	}
	if s1, s2 := answerShape(r1), answerShape(r2); s1 != s2 {
		t.Errorf("answers differ: %s vs %s", s1, s2)
	}
	// Browser pages differ only in their per-request nonce and token.
	p1 := g.client().signInBrowser("/", "mallory", "x")
	p2 := g.client().signInBrowser("/", "alice", "x")
	if p1.StatusCode != p2.StatusCode || pageText(p1.Body) != pageText(p2.Body) {
		t.Errorf("pages differ: %d %q vs %d %q", p1.StatusCode, pageText(p1.Body), p2.StatusCode, pageText(p2.Body))
	}
	if s1, s2 := answerShape(p1), answerShape(p2); s1 != s2 {
		t.Errorf("pages' headers differ: %s vs %s", s1, s2)
	}

	// Five failures lock any name alike, known or not; the right password
	// is refused while locked.
	for range 4 {
		login("mallory", "whatever")
		login("alice", "not-her-password")
	}
	r3, lockedUnknown := login("mallory", "whatever")
	r4, lockedKnown := login("alice", "alice-password")
	mustStatus(t, r3, http.StatusTooManyRequests)
	mustStatus(t, r4, http.StatusTooManyRequests)
	if lockedUnknown != lockedKnown || r3.Header.Get("Retry-After") != r4.Header.Get("Retry-After") {
		t.Errorf("locked unknown %q vs locked known %q", lockedUnknown, lockedKnown)
	}
	// Password failures never touch the second-factor counter.
	if n := g.secondFactorFailures(t, "alice"); n != 0 {
		t.Errorf("second-factor counter = %d after password failures", n)
	}
	// The first-factor lock ends with time.
	g.clock.Advance(5*time.Minute + time.Second)
	r5, m := c.api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
	mustStatus(t, r5, http.StatusAccepted)
	_ = m
}

func TestClientIPLockIgnoresForwardedFor(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	// 20 failures spread over many names lock the client IP; a forged
	// X-Forwarded-For from an untrusted peer changes nothing.
	for i := range 20 {
		r, _ := c.api("POST", "login", map[string]string{"username": fmt.Sprintf("user%d", i), "password": "x"},
			"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		mustStatus(t, r, http.StatusUnauthorized)
	}
	r, m := c.api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"},
		"X-Forwarded-For", "198.51.100.7")
	mustStatus(t, r, http.StatusTooManyRequests)
	if m["error"] != "rate_limited" {
		t.Errorf("%v", m)
	}
}

func mustRing(t *testing.T) *keys.Ring {
	t.Helper()
	r, err := keys.NewRing(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestGuessWindowCapsCodesAcrossSuccesses: the owner's daily successes
// reset the lock counter, but never the cap on failed codes per 30 days,
// so a password holder cannot go on guessing between them.
func TestGuessWindowCapsCodesAcrossSuccesses(t *testing.T) {
	// An attacker spreads over many IPs; here one IP stands for them all.
	g := startGateway(t, policyMFA(t, "lockout {\n ip_threshold 1000\n }"))
	c := g.client()
	secret, codes, _ := c.enrollAPI("alice", "alice-password")
	for round := range 25 {
		g.clock.Advance(time.Hour)
		tok := c.loginAPI("alice", "alice-password")
		for range 4 { // the attacker
			r, _ := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
			mustStatus(t, r, http.StatusUnauthorized)
		}
		// the owner signs in
		r, m := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now())})
		if round < 24 {
			mustStatus(t, r, http.StatusOK)
			continue
		}
		// 100 failed codes within 30 days: even the right code is refused…
		if r.StatusCode != http.StatusTooManyRequests || m["error"] != "account_locked" {
			t.Fatalf("after 100 failures in the window: %d %v", r.StatusCode, m)
		}
	}
	// …a recovery code still works (once the short lock those five
	// attempts set has passed), and the window ends by itself.
	g.clock.Advance(5*time.Minute + time.Second)
	tok := c.loginAPI("alice", "alice-password")
	r, _ := c.api("POST", "verify", map[string]string{"mfa_token": tok, "recovery_code": codes[0]})
	mustStatus(t, r, http.StatusOK)
	g.clock.Advance(30*24*time.Hour + time.Minute)
	tok = c.loginAPI("alice", "alice-password")
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now())})
	mustStatus(t, r, http.StatusOK)
}

// The page's sign-in clears the counter of failed codes in the same store
// write that starts the session, as the API's does.
func TestPageSignInClearsCodeCounter(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	secret, _ := g.client().enrollBrowser("/", "alice", "alice-password")
	g.clock.Advance(time.Minute)

	c := g.client()
	r := c.signInBrowser("/", "alice", "alice-password")
	mustStatus(t, r, http.StatusSeeOther)
	challenge := r.Header.Get("Location")
	answer := func(code string) response {
		page := c.get(challenge)
		mustStatus(t, page, http.StatusUnauthorized)
		form := formFields(t, page.Body, "/_mfa/verify")
		form.Set("code", code)
		return c.postForm("/_mfa/verify", form)
	}
	for range 3 {
		mustStatus(t, answer("000000"), http.StatusUnauthorized)
	}
	if n := g.secondFactorFailures(t, "alice"); n != 3 {
		t.Fatalf("failures after 3 wrong codes = %d", n)
	}
	mustStatus(t, answer(codeAt(t, secret, g.clock.Now())), http.StatusSeeOther)
	if n := g.secondFactorFailures(t, "alice"); n != 0 {
		t.Errorf("failures after the right code = %d, want 0", n)
	}
	mustStatus(t, c.get("/"), http.StatusOK)
}

// answerShape is what an answer shows besides its body and per-request
// values: its header names and each cookie's name and attributes.
func answerShape(r response) string {
	var parts []string
	for name := range r.Header {
		switch name {
		case "Date", "Content-Length":
			continue // per answer, or follows the per-request nonce
		}
		parts = append(parts, "header "+name)
	}
	for _, c := range r.Cookies() {
		parts = append(parts, fmt.Sprintf("cookie %s path=%s max-age=%d secure=%t httponly=%t samesite=%d", c.Name, c.Path, c.MaxAge, c.Secure, c.HttpOnly, c.SameSite))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// TestRotationKeepsFailureCounters: adding a new secret (a rotation) must
// not forget who is locked, or every locked account and client would get
// a fresh budget of guesses.
func TestRotationKeepsFailureCounters(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	secret, _, _ := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)
	tok := c.loginAPI("alice", "alice-password")
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		r, _ := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": wrongCode(raw, g.clock.Now())})
		mustStatus(t, r, http.StatusUnauthorized)
	}
	newSecret := "rotated-secret-0123456789-abcdefghijklmnopqrstuvw"
	g.load(strings.Replace(defaultMFA(t), "secret "+testSecret, "secret "+newSecret+"\n\t\tsecret "+testSecret, 1))
	r, m := c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "code": codeAt(t, secret, g.clock.Now())})
	if r.StatusCode != http.StatusTooManyRequests || m["error"] != "rate_limited" {
		t.Errorf("the right code after a rotation, while locked: %d %v, want 429 rate_limited", r.StatusCode, m)
	}
}
