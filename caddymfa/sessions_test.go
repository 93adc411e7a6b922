package caddymfa

import (
	"bytes"
	"encoding/base32"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestCookieSlidesWithinIdleLimit(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	c.enrollBrowser("/", "alice", "alice-password")
	first := c.cookie("__Host-mfa_session").Value

	// Within the renewal interval nothing is re-signed.
	r := c.get("/")
	mustStatus(t, r, http.StatusOK)
	if len(r.Cookies()) != 0 {
		t.Errorf("cookie re-issued on every request: %v", r.Cookies())
	}
	g.clock.Advance(2 * time.Minute)
	r = c.get("/")
	mustStatus(t, r, http.StatusOK)
	var renewed *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == "__Host-mfa_session" {
			renewed = ck
		}
	}
	if renewed == nil || renewed.Value == first {
		t.Fatal("session cookie not renewed after the renewal interval")
	}
	if want := g.clock.Now().Add(30 * time.Minute); renewed.Expires.Unix() != want.Unix() {
		t.Errorf("renewed cookie expires %v, want %v", renewed.Expires, want)
	}
	// The renewed token carries the session on past the first one's expiry.
	g.clock.Advance(29 * time.Minute)
	mustStatus(t, c.get("/"), http.StatusOK)
}

func TestRevocationSurvivesRestart(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	r, _ := c.api("POST", "logout", nil, "Authorization", "Bearer "+token)
	mustStatus(t, r, http.StatusNoContent)

	// Stop Caddy entirely (the store is closed) and start it again.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	g.load(defaultMFA(t))
	mustStatus(t, g.client().get("/", "Authorization", "Bearer "+token, "Accept", "application/json"), http.StatusUnauthorized)
	// Enrollment survived the restart too.
	g.clock.Advance(time.Minute)
	g.client().loginAPI("alice", "alice-password")
}

func TestEnrollmentSharedAcrossSitesOnOneStore(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	secret, _, _ := c.enrollAPI("alice", "alice-password")

	// A second site on the same store and secret knows alice's factor.
	port2 := freePort(t)
	a, b := userHashes(t)
	site := func(port int) string {
		return fmt.Sprintf(`http://localhost:%d {
	mfa {
		secret %s
		user alice %s
		user bob %s
		store file %s
	}
	reverse_proxy %s
}
`, port, testSecret, a, b, filepath.Join(g.dir, "mfa.db"), g.up.addr())
	}
	cfg := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n%s%s", site(g.port), site(port2))
	if err := loadCaddyfile(cfg); err != nil {
		t.Fatal(err)
	}
	other := *g
	other.base = fmt.Sprintf("http://localhost:%d", port2)
	c2 := other.client()
	g.clock.Advance(time.Minute)
	tok := c2.loginAPI("alice", "alice-password")
	r, _ := c2.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now())})
	mustStatus(t, r, http.StatusOK)
}

func TestPlaceholdersForLaterHandlers(t *testing.T) {
	a, _ := userHashes(t)
	g := startGateway(t, `mfa {
		secret `+testSecret+`
		user alice `+a+` {
			groups ops
		}
		store file {STORE}
	}
	request_header X-Placeholder-User {mfa.user}
	request_header X-Placeholder-Caddy-User {http.auth.user.id}
	request_header X-Placeholder-AMR {mfa.amr}
	request_header X-Placeholder-Groups {mfa.groups}`)
	c := g.client()
	c.enrollBrowser("/", "alice", "alice-password")
	mustStatus(t, c.get("/"), http.StatusOK)
	h := g.up.last(t).Header
	for name, want := range map[string]string{
		"X-Placeholder-User": "alice", "X-Placeholder-Caddy-User": "alice",
		"X-Placeholder-Amr": "pwd,otp,mfa", "X-Placeholder-Groups": "ops",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestSecretsAndCodesAreNotStoredInTheClear(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	secretB32, codes, token := c.enrollAPI("alice", "alice-password")
	if err := caddy.Stop(); err != nil { // flush and release the file
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(g.dir, "mfa.db"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secretB32)
	for name, needle := range map[string][]byte{
		"raw TOTP secret":    raw,
		"base32 TOTP secret": []byte(secretB32),
		"access token":       []byte(token),
		"master secret":      []byte(testSecret),
	} {
		if bytes.Contains(db, needle) {
			t.Errorf("the store file contains the %s", name)
		}
	}
	for _, code := range codes {
		if bytes.Contains(db, []byte(code)) || bytes.Contains(db, []byte(strings.ReplaceAll(code, "-", ""))) {
			t.Error("the store file contains a recovery code")
		}
	}
	info, _ := os.Stat(filepath.Join(g.dir, "mfa.db"))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("store file mode %v", info.Mode().Perm())
	}
}

func TestStoreDownMeansClear503AndNoBypass(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	before := g.up.count()

	g.backendFor(t).Store.Close()

	// New sign-ins get a clear 503, as JSON and as a page.
	r, m := g.client().api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
	if r.StatusCode != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Errorf("login with the store down: %d %v", r.StatusCode, m)
	}
	page := g.client().signInBrowser("/", "alice", "alice-password")
	mustStatus(t, page, http.StatusServiceUnavailable)
	if !strings.Contains(pageText(page.Body), "temporarily unavailable") {
		t.Errorf("page says %q", pageText(page.Body))
	}
	// Requests without a session are still challenged, never proxied.
	mustStatus(t, g.client().get("/"), http.StatusUnauthorized)
	if g.up.count() != before {
		t.Error("a request reached the upstream without a session")
	}
	// A valid session keeps working: the hot path needs no store.
	mustStatus(t, g.client().get("/", "Authorization", "Bearer "+token), http.StatusOK)
}

func TestPasswordChangeEndsSessions(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	bearer := []string{"Authorization", "Bearer " + token}
	mustStatus(t, c.get("/", bearer...), http.StatusOK)
	// A reload with the same users keeps the session…
	g.load(defaultMFA(t))
	mustStatus(t, c.get("/", bearer...), http.StatusOK)
	// …a new password hash for alice ends it; bob's sessions are untouched.
	_, _, bobToken := g.client().enrollAPI("bob", "bob-password")
	changed := strings.Replace(defaultMFA(t), aliceHash, testPasswordHash(t, "new-password"), 1)
	g.load(changed)
	mustStatus(t, g.client().get("/", append(bearer, "Accept", "application/json")...), http.StatusUnauthorized)
	mustStatus(t, g.client().get("/", "Authorization", "Bearer "+bobToken), http.StatusOK)
}

// A user taken off the user lines or the users file has no session left
// after the reload, by bearer token or cookie, whether the token is read
// afresh or from the cache of verified tokens; the users who stay keep
// theirs.
func TestRemovedUserSessionEnds(t *testing.T) {
	a, b := userHashes(t)
	hashes := map[string]string{"alice": a, "bob": b}
	for _, source := range []string{"user", "users_file"} {
		t.Run(source, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "users.yml")
			site := func(names ...string) string {
				var users strings.Builder
				if source == "users_file" {
					yml := "users:\n"
					for _, n := range names {
						yml += fmt.Sprintf("  %s:\n    password: %q\n", n, hashes[n])
					}
					if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
						t.Fatal(err)
					}
					users.WriteString("users_file " + file)
				} else {
					for _, n := range names {
						fmt.Fprintf(&users, "user %s %s\n\t\t", n, hashes[n])
					}
				}
				return fmt.Sprintf("mfa {\n\t\tsecret %s\n\t\t%s\n\t\tstore file {STORE}\n\t}", testSecret, users.String())
			}
			g := startGateway(t, site("alice", "bob"))
			_, _, aliceToken := g.client().enrollAPI("alice", "alice-password")
			browser := g.client()
			_, _, bobToken := browser.enrollAPI("bob", "bob-password")
			bob := []string{"Authorization", "Bearer " + bobToken, "Accept", "application/json"}
			mustStatus(t, g.client().get("/", bob...), http.StatusOK)
			mustStatus(t, browser.get("/"), http.StatusOK)

			g.load(site("alice"))
			refusedTwice(t, g, browser, bob, "/")
			mustStatus(t, g.client().get("/", "Authorization", "Bearer "+aliceToken), http.StatusOK)
		})
	}
}

// Handlers sharing a secret and a store each take only their own users:
// bob, signed in at the site's handler, does not pass the one that keeps
// /admin/ for alice.
func TestSessionOfAnotherHandlersUserRefused(t *testing.T) {
	a, b := userHashes(t)
	g := startGateway(t, fmt.Sprintf(`handle {
		mfa {
			secret %s
			user alice %s
			user bob %s
			store file {STORE}
		}
	}
	handle /admin/* {
		mfa {
			secret %s
			user alice %s
			store file {STORE}
		}
	}`, testSecret, a, b, testSecret, a))
	_, _, aliceToken := g.client().enrollAPI("alice", "alice-password")
	browser := g.client()
	_, _, bobToken := browser.enrollAPI("bob", "bob-password")
	bob := []string{"Authorization", "Bearer " + bobToken, "Accept", "application/json"}
	mustStatus(t, g.client().get("/home", bob...), http.StatusOK)
	mustStatus(t, browser.get("/home"), http.StatusOK)

	refusedTwice(t, g, browser, bob, "/admin/panel")
	mustStatus(t, g.client().get("/admin/panel", "Authorization", "Bearer "+aliceToken), http.StatusOK)
}

// refusedTwice checks that a session is refused on path, by bearer token
// (hdr) and by the browser's cookie, the second time from the cache of
// verified sessions, and that nothing reaches the upstream.
func refusedTwice(t *testing.T, g *gateway, browser *client, hdr []string, path string) {
	t.Helper()
	before := g.up.count()
	for range 2 {
		r := g.client().get(path, hdr...)
		mustStatus(t, r, http.StatusUnauthorized)
		if !strings.Contains(r.Body, `"authentication_required"`) {
			t.Errorf("answer: %s", r.Body)
		}
		mustStatus(t, browser.get(path), http.StatusUnauthorized)
	}
	if g.up.count() != before {
		t.Errorf("a refused session's request to %s reached the upstream", path)
	}
}

func TestBindIP(t *testing.T) {
	a, _ := userHashes(t)
	g := startGateway(t, `mfa {
		secret `+testSecret+`
		user alice `+a+`
		store file {STORE}
		bind_ip
	}`)
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	// localhost may be 127.0.0.1 or ::1: ask which one the session has.
	_, acct := c.api("GET", "account", nil, "Authorization", "Bearer "+token)
	from := acct["sessions"].([]any)[0].(map[string]any)["client_ip"].(string)
	otherIP := map[string]string{"127.0.0.1": "::1", "::1": "127.0.0.1"}[from]
	if otherIP == "" {
		t.Fatalf("session from %q", from)
	}
	if got := g.rawGetFrom(t, from, "/", "Authorization: Bearer "+token); got != http.StatusOK {
		t.Fatalf("same IP: %d", got)
	}
	if got := g.rawGetFrom(t, otherIP, "/", "Authorization: Bearer "+token, "Accept: application/json"); got != http.StatusUnauthorized {
		t.Fatalf("another client IP: %d", got)
	}
}
