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
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
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
		{"bypass path without a slash", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n bypass admin/*\n}", "bypass #1: path \"admin/*\" matches no request"},
		{"step_up path without a slash", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n step_up admin/* 5m\n}", "step_up #1: path \"admin/*\" matches no request"},
		{"identity_from the query", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n identity_from {query.user}\n}", "identity_from \"{http.request.uri.query.user}\" is not set by an earlier handler"},
		{"identity_from a cookie", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n identity_from {http.request.cookie.user}\n}", "identity_from"},
		{"identity_from two placeholders", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n identity_from {http.auth.user.id}{http.vars.x}\n}", "identity_from must be one placeholder"},
		{"identity header named Cookie", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n headers {\n user Cookie\n }\n}", "headers: user: \"Cookie\" is a header of HTTP"},
		{"identity header named X-Forwarded-For", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n headers {\n groups x_forwarded_for\n }\n}", "headers: groups:"},
		{"two fields, one header", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n headers {\n email Remote-User\n }\n}", "user and email are both sent as"},
		{"keep_body over what a kept request holds", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n keep_body 1MiB\n}", "keep_body: 1MiB is over the 512 KiB"},
		{"max_body too large", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n max_body 2GiB\n}", "max_body: 2GiB is not between"},
		{"max_body zero", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n max_body 0\n}", "max_body: 0 is not between"},
		{"a block after store file", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n store file {\n path /tmp/x.db\n }\n}", "store file: takes a path only"},
		{"cookie_domain with a wildcard", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n cookie_domain *.example.com\n}", "cookie_domain \"*.example.com\" is not a domain name"},
		{"cookie_domain with an underscore", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n cookie_domain a_b.example.com\n}", "cookie_domain"},
		{"lockout given twice", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n lockout {\n threshold 3\n }\n lockout {\n durations 1h\n }\n}", "lockout given twice"},
		{"lockout threshold given twice", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n lockout {\n threshold 3\n threshold 4\n }\n}", "lockout: threshold given twice"},
		{"branding title given twice", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n branding {\n title a\n title b\n }\n}", "branding: title given twice"},
		{"step_up max_age given twice", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n step_up {\n match path /a/*\n max_age 1m\n max_age 2m\n }\n}", "step_up: max_age given twice"},
		{"a header named in two blocks", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n headers {\n user X-A\n }\n headers {\n user X-B\n }\n}", "headers: user given twice"},
		{"a user's email given twice", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n user bob " + hash + " {\n email a@example.com\n email b@example.com\n }\n}", "user bob: email given twice"},
		{"session_lifetime given twice", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n session_lifetime 1h\n session_lifetime 8h\n}", "session_lifetime given twice"},
		{"lockout threshold not a number", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n lockout {\n threshold five\n }\n}", "threshold: \"five\" is not a whole number"},
		{"lockout threshold zero", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n lockout {\n threshold 0\n }\n}", "threshold: must be at least 1"},
		{"session_lifetime zero", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n session_lifetime 0\n}", "session_lifetime: must be a positive duration"},
		{"prefix with a dot segment", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n prefix /_mfa/./x\n}", "prefix"},
		{"prefix with an empty segment", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n prefix /_mfa//x\n}", "prefix"},
		{"store redis db given twice", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n store redis://127.0.0.1:1 {\n db 1\n db 2\n }\n}", "store redis: db given twice"},
		{"store redis db against the URL's", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n store redis://127.0.0.1:1/3 {\n db 0\n }\n}", "db 0 contradicts the URL's /3"},
		{"store redis URL with query options", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n store redis://127.0.0.1:1/0?pool_size=3\n}", "query options"},
		{"trusted_device past what browsers keep", "mfa {\n secret " + testSecret + "\n user alice " + hash + "\n trusted_device 500d\n}", "trusted_device must be at most 400d"},
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
		step_up /admin/* 5m
		store file {STORE}
	}`, bh, testSecret))
	c := g.client()
	mustStatus(t, c.get("/", "Authorization", basicAuth("erin", "erin-password")), http.StatusOK)
	// A step-up route needs a second factor even under `enforce enrolled`:
	// erin, who has none, is asked to set one up, as a built-in user is.
	before := g.up.count()
	page := c.get("/admin/delete-everything", "Authorization", basicAuth("erin", "erin-password"))
	mustStatus(t, page, http.StatusUnauthorized)
	if g.up.count() != before || !strings.Contains(page.Body, "/_mfa/enroll/start") {
		t.Errorf("an unenrolled user on a step-up route: upstream reached %d times, page %q", g.up.count()-before, tail(page.Body, 300))
	}
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

// TestBadJSONConfigRefusesToStart: JSON skips the Caddyfile's parsing, so
// the handler itself must refuse what Caddy would otherwise load: an empty
// matcher set (it matches every request: a bypass of the whole site), an
// empty path list, and body limits past what the handler can serve.
func TestBadJSONConfigRefusesToStart(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	a, _ := userHashes(t)
	for name, tc := range map[string]struct{ extra, want string }{
		"bypass with an empty set":        {`"bypass": [{"match": [{"path": ["/healthz"]}, {}]}]`, "bypass #1: matcher set #2 is empty"},
		"step_up with an empty path list": {`"step_up": [{"match": [{"path": []}], "max_age": "5m"}]`, "step_up #1: a path matcher lists no path"},
		"keep_body over a kept request":   {`"keep_body": 1073741824`, "keep_body must be at most 524288 bytes"},
		"max_body past 16 MiB":            {`"max_body": 1099511627776`, "max_body must be between"},
		"identity_from the host":          {`"identity_from": "{http.request.host}"`, "is not set by an earlier handler"},
		"one header for two fields":       {`"headers": {"user": "X-A", "email": "x-a"}`, "user and email are both sent as"},
		"trusted_device past 400 days":    {`"trusted_device": "9000d"`, "trusted_device must be at most 400d"},
		"cookie_domain of another script": {`"cookie_domain": "bücher.example"`, "cookie_domain"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := fmt.Sprintf(`{
	"admin": {"disabled": true},
	"apps": {"http": {"servers": {"srv0": {
		"listen": [":%d"],
		"automatic_https": {"disable": true},
		"routes": [{"handle": [
			{"handler": "mfa", "secrets": [%q], "users": [{"name": "alice", "password": %q}],
			 "store": {"backend": "file", "path": %q}, %s},
			{"handler": "static_response", "body": "app"}
		]}]
	}}}}
}`, g.port, testSecret, a, filepath.Join(g.dir, "json.db"), tc.extra)
			err := loadJSON(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
	// The running config is untouched.
	mustStatus(t, g.client().get("/"), http.StatusUnauthorized)
}

// TestSettingsAtTheirEdgesLoad: what the refusals above must not catch.
func TestSettingsAtTheirEdgesLoad(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	base := strings.TrimSuffix(strings.TrimSpace(defaultMFA(t)), "}")
	for name, extra := range map[string]string{
		// Idle defaults to 30m, or to a shorter lifetime.
		"a lifetime under the default idle": "session_lifetime 10m",
		"keep_body at its limit":            "keep_body 512KiB",
		"keep_body 0B turns keeping off":    "keep_body 0B",
		"max_body at both ends":             "max_body 1KiB",
		"identity from a client cert":       "identity_from {http.request.tls.client.subject}",
		"identity from a variable":          "identity_from {vars.user}",
		"a suffix path":                     "bypass *.css",
		"two headers blocks merge":          "headers {\n user X-User\n }\n headers {\n email X-Email\n }",
		"trusted_device at 400 days":        "trusted_device 400d",
		"a leading-dot cookie_domain":       "cookie_domain .Example.com",
	} {
		t.Run(name, func(t *testing.T) {
			if err := g.tryLoad(base + "\n\t\t" + extra + "\n\t}"); err != nil {
				t.Fatal(err)
			}
		})
	}
	g.load(defaultMFA(t))

	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("mfa {\n keep_body 0B\n}")); err != nil {
		t.Fatal(err)
	}
	if h.keepBodyLimit() != 0 {
		t.Errorf("keep_body 0B keeps bodies up to %d bytes, want off", h.keepBodyLimit())
	}
}
