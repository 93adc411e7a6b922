package caddymfa

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// The cache of verified sessions must never make a request pass that the
// full check would refuse. Each test warms the cache first and shows the
// entry is there, so the refusal comes from a cache hit.

// unitGateway is a provisioned handler driven in-process, with an injected
// clock.
type unitGateway struct {
	t     *testing.T
	h     *Handler
	clock *testClock
}

func newUnitGateway(t *testing.T) *unitGateway {
	c := &testClock{t: time.Now().Truncate(time.Second)}
	clock = c.Now
	t.Cleanup(func() { clock = time.Now })
	return &unitGateway{t: t, h: newBenchHandler(t, nil), clock: c}
}

// serve sends raw through the handler and returns who the upstream saw
// ("" when the request met the challenge) and the response.
func (g *unitGateway) serve(raw string) (string, *httptest.ResponseRecorder) {
	g.t.Helper()
	w := httptest.NewRecorder()
	next := &sawAlice{}
	if err := g.h.ServeHTTP(w, caddyRequest(g.t, raw, w), next); err != nil {
		g.t.Fatal(err)
	}
	if next.user != "" && w.Code != http.StatusOK {
		g.t.Fatalf("passed to the upstream and answered %d", w.Code)
	}
	return next.user, w
}

func (g *unitGateway) mustPass(what, raw string) {
	g.t.Helper()
	if user, w := g.serve(raw); user != "alice" {
		g.t.Fatalf("%s: refused (%d), want passed as alice", what, w.Code)
	}
}

func (g *unitGateway) mustRefuse(what, raw string) {
	g.t.Helper()
	if user, _ := g.serve(raw); user != "" {
		g.t.Fatalf("%s: passed as %q, want refused", what, user)
	}
}

func (g *unitGateway) mustBeCached(tok string) {
	g.t.Helper()
	if g.h.tokens.verified.get(tok) == nil {
		g.t.Fatal("token not in the cache: the test would not exercise a hit")
	}
}

func TestCachedSessionRevokedIsRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		revoke func(s session) store.Revocation
	}{
		{"session", func(s session) store.Revocation {
			return store.Revocation{SessionID: s.SID, User: s.User, ExpiresAt: s.AuthTime.Add(13 * time.Hour)}
		}},
		{"every session of the user", func(s session) store.Revocation {
			return store.Revocation{User: s.User, NotBefore: s.AuthTime.Add(time.Second), ExpiresAt: s.AuthTime.Add(13 * time.Hour)}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newUnitGateway(t)
			tok, s := signSession(t, g.h, nil)
			for _, req := range []func(string) string{browserRequest, apiRequest} {
				g.mustPass("before the revocation", req(tok))
			}
			g.mustBeCached(tok)
			if err := g.h.backend.revoke(t.Context(), c.revoke(s)); err != nil {
				t.Fatal(err)
			}
			for _, req := range []func(string) string{browserRequest, apiRequest} {
				g.mustRefuse("after the revocation", req(tok))
			}
		})
	}
}

func TestCachedSessionExpiryHonoured(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*session)
		// good is the last instant the token passes; one second later it
		// is refused.
		good func(s session) time.Time
	}{
		{"exp, with the parser's leeway", nil, func(s session) time.Time {
			return s.ExpiresAt.Add(tokenLeeway - time.Second)
		}},
		{"absolute lifetime", func(s *session) {
			s.AuthTime = s.IssuedAt.Add(-12*time.Hour + 10*time.Minute)
		}, func(s session) time.Time {
			return s.AuthTime.Add(12*time.Hour - time.Second)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newUnitGateway(t)
			// Bearer: the cookie would be renewed on the way, and the
			// renewed token is another token.
			tok, s := signSession(t, g.h, c.edit)
			g.mustPass("fresh", apiRequest(tok))
			g.mustBeCached(tok)
			g.clock.Advance(c.good(s).Sub(g.clock.Now()))
			g.mustPass("at the last good second", apiRequest(tok))
			g.mustBeCached(tok)
			g.clock.Advance(time.Second)
			g.mustRefuse("one second later", apiRequest(tok))
			if _, err := g.h.tokens.parseSession(tok, benchHost); c.edit == nil && err == nil {
				t.Error("parseSession: an expired token from the cache verified")
			}
		})
	}
}

func TestCachedSessionIssuedInTheFutureRefused(t *testing.T) {
	g := newUnitGateway(t)
	tok, _ := signSession(t, g.h, nil)
	g.mustPass("fresh", apiRequest(tok))
	// The clock steps back (an NTP correction): iat is now ahead of it.
	g.clock.Advance(-tokenLeeway - time.Second)
	g.mustBeCached(tok)
	g.mustRefuse("issued in the future", apiRequest(tok))
}

func TestCachedSessionOtherAudienceRefused(t *testing.T) {
	g := newUnitGateway(t)
	tok, _ := signSession(t, g.h, nil)
	g.mustPass("own site", browserRequest(tok))
	g.mustBeCached(tok)
	for _, host := range []string{"other.example.com", "app.example.com.evil.test", "example.com"} {
		g.mustRefuse(host, strings.Replace(browserRequest(tok), "Host: "+benchHost, "Host: "+host, 1))
		g.mustRefuse(host, strings.Replace(apiRequest(tok), "Host: "+benchHost, "Host: "+host, 1))
	}
	g.mustPass("own site again", browserRequest(tok))
}

func TestCachedSessionNotForOtherKinds(t *testing.T) {
	g := newUnitGateway(t)
	tok, _ := signSession(t, g.h, nil)
	g.mustPass("session", apiRequest(tok))
	// The cached session token is still no mfa_token.
	if _, err := g.h.tokens.parsePending(tok, benchHost); err == nil {
		t.Fatal("a session token verified as an mfa_token")
	}
	// A token that differs in one byte of its signature is another key.
	bad := tok[:len(tok)-3] + string(rune('A'+(tok[len(tok)-3]-'A'+1)%26)) + tok[len(tok)-2:]
	g.mustRefuse("tampered signature", apiRequest(bad))
}

// The cookie walk hands the token check the cache entry it found
// (cacheHit). An entry for another token must count for nothing: it would
// make one token pass as another's session.
func TestCacheHitOnlyForItsToken(t *testing.T) {
	g := newUnitGateway(t)
	tokA, _ := signSession(t, g.h, nil)
	tokB, sB := signSession(t, g.h, func(s *session) { s.MFAFactor = "recovery_code" })
	g.mustPass("A", browserRequest(tokA))
	g.mustPass("B", browserRequest(tokB))
	g.mustBeCached(tokA)
	g.mustBeCached(tokB)

	hit := cacheHit{c: g.h.tokens.verified}
	if !hit.known(tokA) || hit.e == nil || hit.e.raw != tokA {
		t.Fatalf("known(A) kept %v, want A's entry", hit.e)
	}
	entryA := hit.e
	now := g.clock.Now()
	// A's entry offered for B: B's own session comes back.
	s, err := g.h.tokens.parseSessionHit(tokB, benchHost, now, entryA)
	if err != nil || s.SID != sB.SID || s.MFAFactor != "recovery_code" {
		t.Fatalf("B with A's entry = %+v, %v; want B's session %s", s, err, sB.SID)
	}
	// A's entry offered for a token that is not cached at all, and not
	// valid: refused, as without the entry.
	bad := tokA[:len(tokA)-3] + string(rune('A'+(tokA[len(tokA)-3]-'A'+1)%26)) + tokA[len(tokA)-2:]
	if _, err := g.h.tokens.parseSessionHit(bad, benchHost, now, entryA); err == nil {
		t.Fatal("a tampered token verified with the entry of the token it came from")
	}
	// The entry still answers for its own token, with the checks of
	// audience and (below) time.
	if _, err := g.h.tokens.parseSessionHit(tokA, "other.example.com", now, entryA); err == nil {
		t.Fatal("A's entry passed for another audience")
	}
	// A token that is not cached leaves no entry behind, so a later
	// walk that takes it cannot carry an earlier token's entry.
	if hit.known(bad) || hit.e != nil {
		t.Fatalf("known(tampered) = true or kept %v", hit.e)
	}
	// Through the handler: two session cookies, the first not ours to
	// take (its bytes are not a cookie value's), the second B's.
	req := strings.Replace(browserRequest(tokB), "Cookie: ", `Cookie: __Host-mfa_session=x\y; `, 1)
	if !strings.Contains(req, `x\y; `) {
		t.Fatal("request not rewritten")
	}
	g.mustPass("second session cookie", req)

	g.clock.Advance(time.Hour)
	if _, err := g.h.tokens.parseSessionHit(tokA, benchHost, g.clock.Now(), entryA); err == nil {
		t.Fatal("A's entry passed after its expiry")
	}
}

func TestSessionCacheBounded(t *testing.T) {
	now := time.Now()
	c := newSessionCache(64)
	for i := range 1000 {
		e := &cachedSession{raw: fmt.Sprintf("token-%d", i), notAfter: now.Add(time.Hour)}
		c.put(e, now)
		if i%3 == 0 {
			c.get(e.raw)
		}
	}
	if n := c.len(); n > 64 || n == 0 {
		t.Fatalf("cache holds %d entries, want 1 to 64", n)
	}
	// Expired entries go first.
	c = newSessionCache(sessionCacheShards) // one per shard
	old := &cachedSession{raw: "old", notAfter: now}
	c.put(old, now)
	for i := range 4 * sessionCacheShards {
		c.put(&cachedSession{raw: fmt.Sprintf("new-%d", i), notAfter: now.Add(time.Hour)}, now)
	}
	if c.get("old") != nil {
		t.Error("an expired entry outlived fresh ones")
	}
}

// Under -race: many goroutines hit, miss, evict and revoke at once, and no
// request passes once its session is revoked.
func TestSessionCacheConcurrent(t *testing.T) {
	g := newUnitGateway(t)
	g.h.tokens.verified = newSessionCache(2 * sessionCacheShards) // evict all the time
	const sessions = 40
	toks := make([]string, sessions)
	ss := make([]session, sessions)
	for i := range toks {
		toks[i], ss[i] = signSession(t, g.h, nil)
	}
	var revoked sync.Map // sid → struct{}, stored once the revocation is in
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 16 {
		wg.Go(func() {
			for i := range 300 {
				k := (w*7 + i) % sessions
				raw := apiRequest(toks[k])
				if i%2 == 0 {
					raw = browserRequest(toks[k])
				}
				_, wasRevoked := revoked.Load(ss[k].SID)
				rec := httptest.NewRecorder()
				next := &sawAlice{}
				if err := g.h.ServeHTTP(rec, caddyRequest(t, raw, rec), next); err != nil {
					errs <- err
					return
				}
				if wasRevoked && next.user != "" {
					errs <- fmt.Errorf("session %d passed after its revocation", k)
					return
				}
			}
		})
	}
	for k := 0; k < sessions; k += 4 {
		wg.Go(func() {
			s := ss[k]
			if err := g.h.backend.revoke(t.Context(), store.Revocation{SessionID: s.SID, User: s.User, ExpiresAt: s.AuthTime.Add(13 * time.Hour)}); err != nil {
				errs <- err
				return
			}
			revoked.Store(s.SID, struct{}{})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := g.h.tokens.verified.len(); n > 2*sessionCacheShards {
		t.Errorf("cache grew to %d entries", n)
	}
}

// The header values are shared by every request of a cached session; a
// later handler writing into its request's headers must not change what
// the next request sends upstream.
func TestCachedIdentityNotSharedBetweenRequests(t *testing.T) {
	g := newUnitGateway(t)
	tok, _ := signSession(t, g.h, nil)
	vandal := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		for _, vals := range r.Header {
			for i := range vals {
				vals[i] = "mallory" // what Caddy's header replace does
			}
		}
		r.Header["Remote-Groups"] = append(r.Header["Remote-Groups"], "root")
		return nil
	})
	for range 2 {
		w := httptest.NewRecorder()
		if err := g.h.ServeHTTP(w, caddyRequest(t, browserRequest(tok), w), vandal); err != nil {
			t.Fatal(err)
		}
	}
	w := httptest.NewRecorder()
	r := caddyRequest(t, browserRequest(tok), w)
	next := &recordHeaders{}
	if err := g.h.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"Remote-User": "alice", "Remote-Email": "alice@example.com", "Remote-Name": "Alice Doe",
		"Remote-Groups": "admins,dev",
	} {
		if got := next.h[name]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want [%q]", name, got, want)
		}
	}
	if got := next.h["Remote-Mfa-Methods"]; len(got) != 0 {
		t.Errorf("Remote-MFA-Methods = %q, which is not sent by default", got)
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if v, _ := repl.GetString("mfa.user"); v != "alice" {
		t.Errorf("{mfa.user} = %q", v)
	}
}

type recordHeaders struct{ h http.Header }

func (n *recordHeaders) ServeHTTP(_ http.ResponseWriter, r *http.Request) error {
	n.h = r.Header.Clone()
	return nil
}

// Placeholders come from one provider; an earlier handler's
// {http.auth.user.id} (basic_auth sets it) must not shadow ours.
func TestPlaceholdersOfCachedSession(t *testing.T) {
	g := newUnitGateway(t)
	tok, s := signSession(t, g.h, nil)
	for round := range 2 { // a miss, then a hit
		w := httptest.NewRecorder()
		r := caddyRequest(t, browserRequest(tok), w)
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		repl.Set("http.auth.user.id", "bob")
		if err := g.h.ServeHTTP(w, r, &sawAlice{}); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]string{
			"http.auth.user.id": "alice", "mfa.user": "alice", "mfa.email": "alice@example.com",
			"mfa.name": "Alice Doe", "mfa.groups": "admins,dev", "mfa.amr": "pwd,otp,mfa",
			"mfa.session_id": s.SID, "mfa.auth_time": formatTime(s.AuthTime), "mfa.mfa_time": formatTime(s.MFATime),
		} {
			if got, ok := repl.GetString(key); !ok || got != want {
				t.Errorf("round %d: {%s} = %q (known %v), want %q", round, key, got, ok, want)
			}
		}
	}
}

func TestSessionAudienceAgrees(t *testing.T) {
	for _, domain := range []string{"", "example.com"} {
		h := &Handler{CookieDomain: domain}
		for _, host := range []string{
			"app.example.com", "App.Example.COM:8443", "localhost:80", "127.0.0.1:9", "[::1]:443", "[::1]",
			"::1", "a:b:c", "", ":", ":80", "[fe80::1%25eth0]:80", "host:", "x.test:abc",
		} {
			r := &http.Request{Host: host}
			if got, want := h.sessionAudience(r), h.audience(r); got != want {
				t.Errorf("cookie_domain %q, host %q: sessionAudience %q, audience %q", domain, host, got, want)
			}
		}
	}
}
