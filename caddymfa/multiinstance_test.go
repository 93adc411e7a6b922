package caddymfa

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// Two (or three) Caddy processes on one real redis-server, as operators
// run them behind a load balancer: whatever one instance records, the
// others honour.

// sharedMFA is the mfa block of every instance of a test. The lockout
// threshold is raised so that 50 racing requests are all evaluated, and
// the per-IP limit out of the way, since every test client is 127.0.0.1.
func sharedMFA(t *testing.T, redisAddr, extra string) string {
	a, b := userHashes(t)
	return fmt.Sprintf(`mfa {
		secret %s
		user alice %s
		user bob %s
		user carol %s
		user dave %s
		user erin %s
		lockout {
			threshold 60
			max_failures 100
			ip_threshold 100000
		}
		store redis://%s/0 {
			prefix multi:
			%s
		}
	}`, testSecret, a, b, a, a, a, redisAddr, extra)
}

func TestTwoInstancesBehaveAsOne(t *testing.T) {
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	// A password, to check it reaches Redis and no log line.
	const password = "pw-Zq8/x+Kv@3#"
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	if err := admin.ConfigSet(t.Context(), "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	t.Setenv("MFA_TEST_REDIS_PASSWORD", password)
	addr := ":{env.MFA_TEST_REDIS_PASSWORD}@" + srv.Addr()
	up := newUpstream(t)
	instA := startInstance(t, "A", sharedMFA(t, addr, ""), up)
	instB := startInstance(t, "B", sharedMFA(t, addr, ""), up)
	a, b := instA.client(), instB.client()

	var codes []string
	var token string
	t.Run("enroll on A, use the session on B", func(t *testing.T) {
		syncClock(a)
		_, codes, token = a.enrollAPI("alice", "alice-password")
		r := bearerGet(b, "/app", token)
		mustStatus(t, r, http.StatusOK)
		if got := up.last(t).Header.Get("Remote-User"); got != "alice" {
			t.Fatalf("upstream saw Remote-User %q through B, want alice", got)
		}
	})

	var recovered string
	t.Run("recovery code used on A fails on B", func(t *testing.T) {
		r, m := a.api("POST", "verify", map[string]string{"mfa_token": a.loginAPI("alice", "alice-password"), "recovery_code": codes[0]})
		mustStatus(t, r, http.StatusOK)
		if m["recovery_codes_remaining"] != float64(len(codes)-1) {
			t.Errorf("recovery_codes_remaining = %v, want %d", m["recovery_codes_remaining"], len(codes)-1)
		}
		recovered, _ = tokenOf(m)
		r, m = b.api("POST", "verify", map[string]string{"mfa_token": b.loginAPI("alice", "alice-password"), "recovery_code": codes[0]})
		mustStatus(t, r, http.StatusUnauthorized)
		if m["error"] != "invalid_code" {
			t.Fatalf("B answered %v, want invalid_code", m)
		}
	})

	t.Run("log out on B, refused on A", func(t *testing.T) {
		mustStatus(t, bearerGet(a, "/app", recovered), http.StatusOK)
		took := logoutPropagation(t, b, a, recovered)
		t.Logf("logout on B → refused by A after %v", took)
		// And the other way round, with a session of its own.
		r, m := a.api("POST", "verify", map[string]string{"mfa_token": a.loginAPI("alice", "alice-password"), "recovery_code": codes[1]})
		mustStatus(t, r, http.StatusOK)
		tok, _ := tokenOf(m)
		mustStatus(t, bearerGet(b, "/app", tok), http.StatusOK)
		took = logoutPropagation(t, a, b, tok)
		t.Logf("logout on A → refused by B after %v", took)
		mustStatus(t, bearerGet(b, "/app", token), http.StatusOK) // the enrollment session lives on
	})

	t.Run("50 racing uses of one recovery code over A and B", func(t *testing.T) {
		syncClock(b)
		_, bobCodes, _ := b.enrollAPI("bob", "bob-password")
		const n = 50
		tokens := make([]string, n)
		clients := []*client{a, b}
		for i := range tokens {
			tokens[i] = clients[i%2].loginAPI("bob", "bob-password")
		}
		count := parallelStatuses(n, func(i int) int {
			r, _ := clients[i%2].api("POST", "verify", map[string]string{"mfa_token": tokens[i], "recovery_code": bobCodes[0]})
			return r.StatusCode
		})
		if count[http.StatusOK] != 1 || count[http.StatusUnauthorized] != n-1 {
			t.Fatalf("statuses %v, want exactly one 200 and %d 401s", count, n-1)
		}
	})

	t.Run("failures on A lock the account on B", func(t *testing.T) {
		syncClock(b)
		secret, _, _ := b.enrollAPI("carol", "alice-password")
		mfaToken := a.loginAPI("carol", "alice-password")
		wrong := codeAt(t, secret, time.Now().Add(-time.Hour))
		clients := []*client{a, b}
		for i := range 60 {
			r, _ := clients[i%2].api("POST", "verify", map[string]string{"mfa_token": mfaToken, "code": wrong})
			mustStatus(t, r, http.StatusUnauthorized)
		}
		for _, c := range clients {
			syncClock(c)
			r, m := c.api("POST", "verify", map[string]string{"mfa_token": mfaToken, "code": codeAt(t, secret, time.Now())})
			mustStatus(t, r, http.StatusTooManyRequests)
			if r.Header.Get("Retry-After") == "" || m["error"] != "rate_limited" {
				t.Errorf("%s: locked answer %v, Retry-After %q", c.g.base, m, r.Header.Get("Retry-After"))
			}
		}
	})

	instA.checkHealthy(false)
	instB.checkHealthy(false)
	for _, in := range []*instance{instA, instB} {
		if in.logCount(password)+in.logCount(url.UserPassword("", password).String()) > 0 {
			t.Errorf("instance %s logged the Redis password", in.name)
		}
	}
}

// logoutPropagation logs token out on from and returns how long until to
// refuses it, polling as fast as requests go.
func logoutPropagation(t *testing.T, from, to *client, token string) time.Duration {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, from.g.base+"/_mfa/api/v1/logout", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	r := from.do(req)
	mustStatus(t, r, http.StatusNoContent)
	done := time.Now()
	for {
		switch s := bearerGet(to, "/app", token).StatusCode; s {
		case http.StatusUnauthorized:
			return time.Since(done)
		case http.StatusOK:
		default:
			t.Fatalf("after the logout: status %d", s)
		}
		if time.Since(done) > patience {
			t.Fatalf("the other instance still accepts the session %v after the logout", patience)
		}
	}
}

// Redis goes away mid-test and comes back: valid sessions ride it out
// (unless fail_closed), sign-ins get a clear 503, nothing panics or
// answers any other 5xx, and everything recovers by itself.
func TestInstancesRideOutARedisOutage(t *testing.T) {
	// AOF, as the README asks of production: enrollments survive the restart.
	srv := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true})
	up := newUpstream(t)
	instA := startInstance(t, "A", sharedMFA(t, srv.Addr(), ""), up)
	instB := startInstance(t, "B", sharedMFA(t, srv.Addr(), ""), up)
	instC := startInstance(t, "C (fail_closed)", sharedMFA(t, srv.Addr(), "fail_closed"), up)
	a, b, c := instA.client(), instB.client(), instC.client()
	syncClock(a)
	_, codes, token := a.enrollAPI("dave", "alice-password")
	for _, cl := range []*client{a, b, c} {
		mustStatus(t, bearerGet(cl, "/app", token), http.StatusOK)
	}
	pendingToken := b.loginAPI("dave", "alice-password")
	r, m := a.api("POST", "login", map[string]string{"username": "erin", "password": "alice-password"})
	mustStatus(t, r, http.StatusAccepted)
	enrollToken, _ := m["mfa_token"].(string)
	browser := instB.client() // half way through signing in
	r = browser.signInBrowser("/app", "dave", "alice-password")
	mustStatus(t, r, http.StatusSeeOther)
	challenge := browser.get(r.Header.Get("Location"))
	mustStatus(t, challenge, http.StatusUnauthorized)
	verifyForm := formFields(t, challenge.Body, "/_mfa/verify")

	srv.Stop()

	t.Run("valid sessions keep working", func(t *testing.T) {
		for _, cl := range []*client{a, b} {
			for range 3 {
				mustStatus(t, bearerGet(cl, "/app", token), http.StatusOK)
			}
		}
	})

	t.Run("fail_closed refuses sessions with a 503", func(t *testing.T) {
		took := eventually(t, "C refuses", func() bool { return bearerGet(c, "/app", token).StatusCode == http.StatusServiceUnavailable })
		t.Logf("fail_closed instance refused sessions %v after Redis stopped", took)
		r := bearerGet(c, "/app", token)
		mustStatus(t, r, http.StatusServiceUnavailable)
		if !strings.Contains(r.Body, `"temporarily_unavailable"`) || r.Header.Get("Retry-After") == "" {
			t.Errorf("answer %q, Retry-After %q", r.Body, r.Header.Get("Retry-After"))
		}
		before := up.count()
		page := c.get("/app", "Authorization", "Bearer "+token)
		if page.StatusCode != http.StatusServiceUnavailable || up.count() != before {
			t.Fatalf("a browser request got %d (want the 503 page) or reached the upstream", page.StatusCode)
		}
	})

	t.Run("new sign-ins get a clear 503", func(t *testing.T) {
		for _, in := range []*instance{instA, instB} {
			cl := in.client() // no session cookie
			start := time.Now()
			r, m := cl.api("POST", "login", map[string]string{"username": "dave", "password": "alice-password"})
			t.Logf("%s: a sign-in during the outage is answered in %v", in.name, time.Since(start))
			mustStatus(t, r, http.StatusServiceUnavailable)
			if m["error"] != "temporarily_unavailable" || r.Header.Get("Retry-After") == "" {
				t.Errorf("login answer %v, Retry-After %q", m, r.Header.Get("Retry-After"))
			}
			r, m = cl.api("POST", "verify", map[string]string{"mfa_token": pendingToken, "recovery_code": codes[0]})
			mustStatus(t, r, http.StatusServiceUnavailable)
			if m["error"] != "temporarily_unavailable" {
				t.Errorf("verify answer %v", m)
			}
			page := cl.get("/app")
			mustStatus(t, page, http.StatusUnauthorized)
			form := formFields(t, page.Body, "/_mfa/login")
			form.Set("username", "dave")
			form.Set("password", "alice-password")
			done := cl.postForm("/_mfa/login", form)
			mustStatus(t, done, http.StatusServiceUnavailable)
			if text := pageText(done.Body); !strings.Contains(text, "temporarily unavailable") {
				t.Errorf("sign-in page during the outage says %q", text)
			}
		}
	})

	t.Run("every step of a sign-in answers 503", func(t *testing.T) {
		steps := []struct {
			name string
			call func() response
		}{
			{"enroll with an mfa_token", func() response {
				r, _ := a.api("POST", "enroll/totp", map[string]string{"mfa_token": enrollToken})
				return r
			}},
			{"the challenge page of a sign-in under way", func() response { return browser.get("/app") }},
			{"the challenge form", func() response {
				form := url.Values{}
				for k, v := range verifyForm {
					form[k] = v
				}
				form.Set("recovery_code", codes[0])
				return browser.postForm("/_mfa/verify", form)
			}},
			{"log out", func() response {
				req, _ := http.NewRequest(http.MethodPost, a.g.base+"/_mfa/api/v1/logout", nil)
				req.Header.Set("Accept", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				return a.do(req)
			}},
		}
		for _, st := range steps {
			r := st.call()
			if r.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s: %d, want 503; body: %s", st.name, r.StatusCode, truncateForLog(pageText(r.Body)))
			}
		}
		mustStatus(t, bearerGet(a, "/app", token), http.StatusOK) // the failed logout left the session as it was
	})

	t.Run("the outage is logged", func(t *testing.T) {
		for _, in := range []*instance{instA, instB, instC} {
			eventually(t, in.name+" logs the lost feed", func() bool { return in.logCount("revocation feed lost") == 1 })
		}
	})

	srv.Start()

	t.Run("everything recovers by itself", func(t *testing.T) {
		for _, cl := range []*client{a, b} {
			took := eventually(t, "sign-in works again", func() bool {
				r, _ := cl.api("POST", "login", map[string]string{"username": "dave", "password": "alice-password"})
				return r.StatusCode == http.StatusAccepted
			})
			t.Logf("%s: sign-in works %v after Redis restarted", cl.g.base, took)
		}
		took := eventually(t, "fail_closed instance accepts sessions again", func() bool {
			return bearerGet(c, "/app", token).StatusCode == http.StatusOK
		})
		t.Logf("fail_closed instance accepts sessions %v after Redis restarted", took)
		r, _ := b.api("POST", "verify", map[string]string{"mfa_token": b.loginAPI("dave", "alice-password"), "recovery_code": codes[0]})
		mustStatus(t, r, http.StatusOK)
	})

	t.Run("a logout after recovery reaches every instance", func(t *testing.T) {
		took := logoutPropagation(t, b, a, token)
		t.Logf("logout on B → refused by A after %v (after the outage)", took)
		eventually(t, "C refuses the logged-out session", func() bool {
			return bearerGet(c, "/app", token).StatusCode == http.StatusUnauthorized
		})
	})

	for _, in := range []*instance{instA, instB, instC} {
		in.checkHealthy(true)
	}
	for _, in := range []*instance{instA, instB, instC} {
		// The feed reconnects in the background: wait for its log line.
		eventually(t, in.name+" logs the reconnect", func() bool {
			return in.logCount("revocation feed reconnected, revocations reloaded") >= 1
		})
		if n := in.logCount("revocation feed reconnected, revocations reloaded"); n != 1 {
			t.Errorf("instance %s logged %d reconnects of the revocation feed, want 1", in.name, n)
		}
	}
}

// logCount counts the occurrences of s in the instance's log and output.
func (in *instance) logCount(s string) int {
	n := 0
	for _, f := range []string{in.logPath(), filepath.Join(in.dir, "output.log")} {
		b, _ := os.ReadFile(f)
		n += strings.Count(string(b), s)
	}
	return n
}
