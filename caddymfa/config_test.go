package caddymfa

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor/totp"
	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
	"github.com/caddymfa/caddy-mfa/caddymfa/store/boltstore"
)

func TestBadConfigRefusesToStartNamingTheSetting(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	hash, _ := userHashes(t)
	cases := []struct {
		name string
		site string
		want string
	}{
		{"missing secret", "mfa {\n user alice " + hash + "\n}", "secret is required"},
		{"short secret", "mfa {\n secret tooshort\n user alice " + hash + "\n}", "secret"},
		{"empty env secret", "mfa {\n secret {env.MFA_TEST_UNSET_SECRET}\n user alice " + hash + "\n}", "secret #1"},
		{"no first factor", "mfa {\n secret " + testSecret + "\n}", "no first factor"},
		{"plain-text password", "mfa {\n secret " + testSecret + "\n user alice hunter2\n}", `user "alice"`},
		{"md5 hash", "mfa {\n secret " + testSecret + "\n user alice $1$abc$def\n}", `user "alice"`},
		{"bad enforce", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n enforce sometimes\n}", "enforce"},
		{"unknown factor", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n factors sms\n}", "factors"},
		{"idle over lifetime", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n session_lifetime 1h\n session_idle 2h\n}", "session_idle"},
		{"bad duration", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n session_idle soon\n}", "session_idle"},
		{"unknown setting", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n colour red\n}", `unknown setting "colour"`},
		{"lockout over 100", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n lockout {\n max_failures 500\n }\n}", "max_failures"},
		{"bad colour", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n branding {\n color red\n }\n}", "branding"},
		{"missing users file", "mfa {\n secret " + testSecret + "\n users_file /nonexistent/users.yml\n}", "users_file"},
		{"identity_from not a placeholder", "mfa {\n secret " + testSecret + "\n identity_from alice\n}", "identity_from"},
		{"bad header name", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n headers {\n user \"Remote User\"\n }\n}", "headers"},
		{"bad prefix", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n prefix /a/../b\n}", "prefix"},
		{"issuer too long for a QR code", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n issuer " + strings.Repeat("x", 129) + "\n}", "issuer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := g.tryLoad(tc.site)
			if err == nil {
				t.Fatal("config loaded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("error shows the secret")
			}
		})
	}
	// The good config still runs after every refusal.
	g.load(defaultMFA(t))
	mustStatus(t, g.client().get("/"), http.StatusUnauthorized)
}

func TestReloadKeepsSessionsAndRotationRetiresKeys(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	c.enrollBrowser("/", "alice", "alice-password")
	mustStatus(t, c.get("/"), http.StatusOK)

	g.load(defaultMFA(t))
	mustStatus(t, c.get("/"), http.StatusOK)

	// Rotation: a new current secret, the old one still accepted.
	newSecret := "rotated-secret-0123456789-abcdefghijklmnopqrstuvw"
	rotated := strings.Replace(defaultMFA(t), "secret "+testSecret, "secret "+newSecret+"\n\t\tsecret "+testSecret, 1)
	g.load(rotated)
	mustStatus(t, c.get("/"), http.StatusOK)
	// New sign-ins use the new key…
	c2 := g.client()
	g.clock.Advance(time.Minute)
	secret2, _, tok2 := c2.enrollAPI("bob", "bob-password")
	_ = secret2
	newRing, _ := keys.NewRing(newSecret)
	if kid := tokenKID(t, tok2); kid != newRing.Current() {
		t.Errorf("new token kid %q, want the new key %q", kid, newRing.Current())
	}
	// …and once the old secret is retired, only they stay valid.
	retired := strings.Replace(defaultMFA(t), "secret "+testSecret, "secret "+newSecret, 1)
	g.load(retired)
	mustStatus(t, c.get("/"), http.StatusUnauthorized)
	mustStatus(t, g.client().get("/", "Authorization", "Bearer "+tok2), http.StatusOK)
}

func tokenKID(t *testing.T, tok string) string {
	t.Helper()
	head, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	json.Unmarshal(raw, &h)
	return h.Kid
}

func TestSessionIdleAndAbsoluteLimits(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	c.enrollBrowser("/", "alice", "alice-password")

	// Activity every 29 minutes keeps the session…
	start := g.clock.Now()
	for g.clock.Now().Sub(start) < 12*time.Hour-29*time.Minute {
		g.clock.Advance(29 * time.Minute)
		mustStatus(t, c.get("/"), http.StatusOK)
	}
	// …but never past 12 h from sign-in.
	g.clock.Advance(start.Add(12*time.Hour - time.Second).Sub(g.clock.Now()))
	mustStatus(t, c.get("/"), http.StatusOK)
	g.clock.Advance(2 * time.Second)
	mustStatus(t, c.get("/"), http.StatusUnauthorized)

	// 31 minutes idle ends a fresh session.
	c2 := g.client()
	g.clock.Advance(time.Minute)
	c2.enrollOrVerify(t, g, "bob", "bob-password")
	g.clock.Advance(29 * time.Minute)
	mustStatus(t, c2.get("/"), http.StatusOK)
	g.clock.Advance(31 * time.Minute)
	mustStatus(t, c2.get("/"), http.StatusUnauthorized)
}

// enrollOrVerify gets c a session for a user who may not be enrolled yet.
func (c *client) enrollOrVerify(t *testing.T, g *gateway, user, password string) {
	t.Helper()
	c.enrollBrowser("/", user, password)
	mustStatus(t, c.get("/"), http.StatusOK)
}

func TestUsersFileAndCaddyBcryptHashes(t *testing.T) {
	bh, err := bcrypt.GenerateFromPassword([]byte("carol-password"), 10)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yml")
	content := fmt.Sprintf("users:\n  carol:\n    password: %q\n    email: carol@example.com\n    display_name: Carol C\n    groups: [ops]\n", bh)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, fmt.Sprintf("mfa {\n secret %s\n users_file %s\n store file {STORE}\n}", testSecret, path))
	c := g.client()
	c.enrollBrowser("/", "carol", "carol-password")
	mustStatus(t, c.get("/"), http.StatusOK)
	seen := g.up.last(t)
	if seen.Header.Get("Remote-Email") != "carol@example.com" || seen.Header.Get("Remote-Name") != "Carol C" || seen.Header.Get("Remote-Groups") != "ops" {
		t.Errorf("identity from users file: %v", seen.Header)
	}
	// bcrypt never truncates: 72 right bytes plus more are wrong.
	long := strings.Repeat("x", 80)
	bh2, _ := bcrypt.GenerateFromPassword([]byte(long[:72]), 10)
	os.WriteFile(path, []byte(fmt.Sprintf("users:\n  dave:\n    password: %q\n", bh2)), 0o600)
	g.load(fmt.Sprintf("mfa {\n secret %s\n users_file %s\n store file {STORE}\n}", testSecret, path))
	r, _ := g.client().api("POST", "login", map[string]string{"username": "dave", "password": long})
	mustStatus(t, r, http.StatusUnauthorized)
	r, _ = g.client().api("POST", "login", map[string]string{"username": "dave", "password": long[:72]})
	mustStatus(t, r, http.StatusAccepted)
}

func TestIdentityFromBasicAuth(t *testing.T) {
	bh, _ := bcrypt.GenerateFromPassword([]byte("erin-password"), 10)
	g := startGateway(t, fmt.Sprintf(`basic_auth {
		erin %s
	}
	mfa {
		secret %s
		identity_from {http.auth.user.id}
		store file {STORE}
	}`, bh, testSecret))
	c := g.client()
	auth := []string{"Authorization", basicAuth("erin", "erin-password")}
	// basic_auth passed: straight to enrollment, no password form of ours.
	c.enrollBehindBasicAuth(auth)
	mustStatus(t, c.get("/", auth...), http.StatusOK)
	if got := g.up.last(t).Header.Get("Remote-User"); got != "erin" {
		t.Errorf("Remote-User = %q", got)
	}
	// The session is bound to the identity basic_auth vouches for: without
	// basic auth Caddy answers 401 before us; the header never decides.
	mustStatus(t, c.get("/", "Remote-User", "erin"), http.StatusUnauthorized)
}

func basicAuth(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

func TestEnforceEnrolled(t *testing.T) {
	a, b := userHashes(t)
	g := startGateway(t, fmt.Sprintf(`mfa {
		secret %s
		user alice %s
		user bob %s
		store file {STORE}
		enforce enrolled
		headers {
			methods Remote-MFA-Methods
		}
	}`, testSecret, a, b))
	// bob has no factor: the password alone is enough, and says so.
	c := g.client()
	r, m := c.api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
	mustStatus(t, r, http.StatusOK)
	if m["status"] != "authenticated" || strings.Join(toStrings(m["amr"]), ",") != "pwd" {
		t.Fatalf("login without factor: %v", m)
	}
	mustStatus(t, g.client().get("/", "Authorization", "Bearer "+m["access_token"].(string)), http.StatusOK)
	if got := g.up.last(t).Header.Get("Remote-Mfa-Methods"); got != "pwd" {
		t.Errorf("methods %q", got)
	}
	browser := g.client()
	mustStatus(t, browser.signInBrowser("/", "bob", "bob-password"), http.StatusSeeOther)
	mustStatus(t, browser.get("/"), http.StatusOK)

	// With that password-only session bob can enroll his first
	// authenticator through the API; his session then carries it.
	pwdOnly := []string{"Authorization", "Bearer " + m["access_token"].(string)}
	r, m = c.api("POST", "enroll/totp", map[string]any{}, pwdOnly...)
	mustStatus(t, r, http.StatusOK)
	bobSecret := m["secret"].(string)
	r, m = c.api("POST", "enroll/totp/confirm", map[string]any{"factor_id": m["factor_id"], "code": codeAt(t, bobSecret, g.clock.Now())}, pwdOnly...)
	mustStatus(t, r, http.StatusOK)
	if amr := strings.Join(toStrings(m["amr"]), ","); !strings.Contains(amr, "otp") || len(toStrings(m["recovery_codes"])) == 0 {
		t.Errorf("first enrollment with a password-only session: %v", m)
	}
	// Now that he has one, that old password-only session cannot add
	// another, and a password alone no longer signs him in.
	r, m = c.api("POST", "enroll/totp", map[string]any{}, pwdOnly...)
	if r.StatusCode != http.StatusUnauthorized || m["error"] != "mfa_required" {
		t.Errorf("a second authenticator with the password-only session: %d %v", r.StatusCode, m)
	}
	r, m = g.client().api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
	if r.StatusCode != http.StatusAccepted || m["status"] != "mfa_required" {
		t.Errorf("bob's password after enrolling: %d %v", r.StatusCode, m)
	}

	// Once a user has a factor (enrolled here while `required` is in force),
	// it is asked for.
	g.load(defaultMFA(t))
	g.client().enrollAPI("alice", "alice-password")
	g.load(fmt.Sprintf("mfa {\n secret %s\n user alice %s\n user bob %s\n store file {STORE}\n enforce enrolled\n}", testSecret, a, b))
	g.clock.Advance(time.Minute)
	r, m = g.client().api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
	mustStatus(t, r, http.StatusAccepted)
	if m["status"] != "mfa_required" {
		t.Errorf("enrolled user in enrolled mode: %v", m)
	}
}

func TestIdentityFromEnrolledModeLetsUnenrolledThrough(t *testing.T) {
	bh, _ := bcrypt.GenerateFromPassword([]byte("erin-password"), 10)
	g := startGateway(t, fmt.Sprintf(`basic_auth {
		erin %s
	}
	mfa {
		secret %s
		identity_from {http.auth.user.id}
		enforce enrolled
		store file {STORE}
	}`, bh, testSecret))
	c := g.client()
	mustStatus(t, c.get("/", "Authorization", basicAuth("erin", "erin-password")), http.StatusOK)
	if got := g.up.last(t).Header.Get("Remote-User"); got != "erin" {
		t.Errorf("Remote-User = %q", got)
	}
	// Our cookies stay ours on this path too: the app gets only its own.
	mustStatus(t, c.get("/", "Authorization", basicAuth("erin", "erin-password"),
		"Cookie", "__Host-mfa_session=stale; app_theme=dark; __Host-mfa_csrf=x"), http.StatusOK)
	if got := g.up.last(t).Header.Values("Cookie"); len(got) != 1 || got[0] != "app_theme=dark" {
		t.Errorf("the app got cookies %q, want only app_theme=dark", got)
	}
}

// TestLongestIssuerAndUserFitAQRCode: the longest issuer the config takes
// and the longest user name a sign-in takes, both of bytes that URL-escape
// to three, still make a QR code, so enrollment never fails on them.
func TestLongestIssuerAndUserFitAQRCode(t *testing.T) {
	secret, err := totp.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	uri := totp.URI(strings.Repeat("é", maxIssuer/2), strings.Repeat("%", maxUsername), secret, totp.Params{})
	if _, err := totp.QRCodePNG(uri, 256); err != nil {
		t.Errorf("a %d-byte URI makes no QR code: %v", len(uri), err)
	}
	if _, err := totp.QRCodePNG(totp.URI(strings.Repeat("é", 600), "alice", secret, totp.Params{}), 256); err == nil {
		t.Error("a 1 200-byte issuer made a QR code: the bound is not what stops it")
	}
}

// enrollBehindBasicAuth enrolls, in the browser, the user whose basic_auth
// header auth carries (identity_from: no password form of ours) and
// returns the authenticator's secret.
func (c *client) enrollBehindBasicAuth(auth []string) string {
	c.t.Helper()
	page := c.get("/", auth...)
	mustStatus(c.t, page, http.StatusUnauthorized)
	start := formFields(c.t, page.Body, "/_mfa/enroll/start")
	mustStatus(c.t, c.postForm("/_mfa/enroll/start", start, auth...), http.StatusSeeOther)
	page = c.get("/", auth...)
	secret := elementAttr(c.t, page.Body, "secret", "data-value")
	form := formFields(c.t, page.Body, "/_mfa/enroll/confirm")
	form.Set("code", codeAt(c.t, secret, c.g.clock.Now()))
	mustStatus(c.t, c.postForm("/_mfa/enroll/confirm", form, auth...), http.StatusOK)
	return secret
}

// TestCatchAllSiteWithALongHost: a site without a host name and without
// `issuer` names itself after the request's Host. A Host too long for a
// QR code gets a 400 that says so, and no setup is written; the same site
// enrolls a user who comes with a usual Host.
func TestCatchAllSiteWithALongHost(t *testing.T) {
	port := freePort(t)
	og := startOpsGateway(t, "", opsOptions{sites: fmt.Sprintf("http://:%d {\n%s\nreverse_proxy {UPSTREAM}\n}", port, defaultMFA(t))})
	catchAll := *og.gateway
	catchAll.base = fmt.Sprintf("http://localhost:%d", port)
	c := catchAll.client()

	longHost := strings.Repeat("legacy-app.", 180) + "example"
	r, m := c.api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"}, "Host", longHost)
	mustStatus(t, r, http.StatusAccepted)
	if m["status"] != "enrollment_required" {
		t.Fatalf("login: %v", m)
	}
	r, m = c.api("POST", "enroll/totp", map[string]string{"mfa_token": m["mfa_token"].(string)}, "Host", longHost)
	mustStatus(t, r, http.StatusBadRequest)
	if msg, _ := m["message"].(string); m["error"] != "invalid_request" || !strings.Contains(msg, "too long for an authenticator app's QR code") {
		t.Errorf("enrollment under a %d-byte Host: %v", len(longHost), m)
	}

	c.enrollAPI("alice", "alice-password")

	if err := caddy.Stop(); err != nil { // flush and release the file
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(og.dir, "mfa.db"), boltstore.Options{SweepEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for user, want := range map[string]int{"bob": 0, "alice": 1} {
		if fs, err := st.Factors(t.Context(), user); err != nil || len(fs) != want {
			t.Errorf("%s has %d factors (%v), want %d", user, len(fs), err, want)
		}
	}
}
