package caddymfa

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// policyMFA is defaultMFA plus extra settings.
func policyMFA(t testing.TB, extra string) string {
	return strings.Replace(defaultMFA(t), "store file {STORE}", "store file {STORE}\n"+extra, 1)
}

func TestStepUpMaxAgeBoundariesAndAPIAnswer(t *testing.T) {
	g := startGateway(t, policyMFA(t, "step_up /admin/* 5m"))
	c := g.client()
	secret, _, token := c.enrollAPI("alice", "alice-password")
	bearer := []string{"Authorization", "Bearer " + token}

	// Fresh MFA: the admin area is open; at max_age − 1 s still open.
	mustStatus(t, c.get("/admin/users", bearer...), http.StatusOK)
	g.clock.Advance(5*time.Minute - time.Second)
	mustStatus(t, c.get("/admin/users", bearer...), http.StatusOK)
	// At max_age + 1 s: RFC 9470 answer for API clients, page for browsers.
	g.clock.Advance(2 * time.Second)
	api := g.client()
	r := api.get("/admin/users", "Authorization", "Bearer "+token, "Accept", "application/json")
	mustStatus(t, r, http.StatusUnauthorized)
	if got := r.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="insufficient_user_authentication"`) || !strings.Contains(got, "max_age=300") {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	if !strings.Contains(r.Body, `"error":"insufficient_user_authentication"`) || !strings.Contains(r.Body, `"max_age":300`) {
		t.Errorf("body %s", r.Body)
	}
	// Other routes only need the session.
	mustStatus(t, c.get("/reports", bearer...), http.StatusOK)

	// Confirm through the API with the session: new token, fresh mfa_time.
	before := g.up.count()
	code := codeAt(t, secret, g.clock.Now())
	vr, m := api.api("POST", "verify", map[string]string{"code": code}, bearer...)
	mustStatus(t, vr, http.StatusOK)
	fresh := m["access_token"].(string)
	mustStatus(t, api.get("/admin/users", "Authorization", "Bearer "+fresh), http.StatusOK)
	if g.up.count() != before+1 {
		t.Error("upstream not reached after step-up")
	}
	sr, sm := api.api("GET", "session", nil, "Authorization", "Bearer "+fresh)
	mustStatus(t, sr, http.StatusOK)
	if sm["mfa_time"] != float64(g.clock.Now().Unix()) {
		t.Errorf("mfa_time %v, want %d", sm["mfa_time"], g.clock.Now().Unix())
	}
	// Same session: logging out the new token kills the old one too.
	api.api("POST", "logout", nil, "Authorization", "Bearer "+fresh)
	mustStatus(t, g.client().get("/reports", bearer...), http.StatusUnauthorized)
}

func TestStepUpPageInBrowser(t *testing.T) {
	g := startGateway(t, policyMFA(t, "step_up /admin/* 5m"))
	c := g.client()
	secret, _ := c.enrollBrowser("/", "alice", "alice-password")
	g.clock.Advance(10 * time.Minute)
	mustStatus(t, c.get("/"), http.StatusOK)
	page := c.get("/admin/settings")
	mustStatus(t, page, http.StatusUnauthorized)
	if txt := pageText(page.Body); !strings.Contains(txt, "Confirm") {
		t.Errorf("step-up page says %q", txt)
	}
	before := g.up.count()
	form := formFields(t, page.Body, "/_mfa/verify")
	if form.Get("return_to") != "/admin/settings" {
		t.Errorf("return_to %q", form.Get("return_to"))
	}
	form.Set("code", codeAt(t, secret, g.clock.Now()))
	r := c.postForm("/_mfa/verify", form)
	mustStatus(t, r, http.StatusSeeOther)
	if r.Header.Get("Location") != "/admin/settings" {
		t.Errorf("Location %q", r.Header.Get("Location"))
	}
	mustStatus(t, c.get("/admin/settings"), http.StatusOK)
	if g.up.count() != before+1 {
		t.Error("the step-up page itself reached the upstream")
	}
	if got := g.up.last(t).Header.Get("Remote-Mfa-Time"); got != g.clock.Now().UTC().Format(time.RFC3339) {
		t.Errorf("Remote-MFA-Time %q after step-up", got)
	}
}

func TestStepUpBlockWithMatchersAndFactorRestriction(t *testing.T) {
	g := startGateway(t, policyMFA(t, `step_up {
			match path /billing/*
			match method POST
			max_age 2m
			factors totp
		}`))
	c := g.client()
	secret, codes, _ := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)

	// Signed in with a recovery code: totp-only route refuses it even fresh.
	tok := c.loginAPI("alice", "alice-password")
	r, m := c.api("POST", "verify", map[string]string{"mfa_token": tok, "recovery_code": codes[0]})
	mustStatus(t, r, http.StatusOK)
	rcBearer := "Bearer " + m["access_token"].(string)
	post := func(bearer string) response {
		req, _ := http.NewRequest("POST", g.base+"/billing/pay", strings.NewReader("amount=5"))
		req.Header.Set("Authorization", bearer)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return g.client().do(req)
	}
	mustStatus(t, post(rcBearer), http.StatusUnauthorized)
	// GET is not covered by the rule.
	mustStatus(t, g.client().get("/billing/pay", "Authorization", rcBearer), http.StatusOK)

	// A TOTP sign-in passes, until 2 minutes have gone by.
	tok = c.loginAPI("alice", "alice-password")
	r, m = c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now())})
	mustStatus(t, r, http.StatusOK)
	totpBearer := "Bearer " + m["access_token"].(string)
	mustStatus(t, post(totpBearer), http.StatusOK)
	if g.up.last(t).Body != "amount=5" {
		t.Errorf("upstream body %q", g.up.last(t).Body)
	}
	g.clock.Advance(2*time.Minute + time.Second)
	mustStatus(t, post(totpBearer), http.StatusUnauthorized)
}

func TestStepUpCannotBeDodgedByPathSpelling(t *testing.T) {
	g := startGateway(t, policyMFA(t, "step_up /admin/* 5m"))
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(10 * time.Minute)
	for _, p := range []string{"/admin/x", "/ADMIN/x", "//admin/x", "/public/../admin/x", "/admin;x=1/x", "/public/..;/admin/x",
		// Paths that leave /admin/ only through dot segments: a backend
		// that routes on the segments as sent still sends them to /admin/.
		"/admin/x/../../public", "/admin/..%2Fpublic", "/admin/%2e%2e/public", "/admin/delete/..", `/admin\..\public`} {
		status := g.rawGet(t, p, "Authorization: Bearer "+token, "Accept: application/json")
		if status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401 (step-up)", p, status)
		}
	}
}

func TestBypassRoutesAndTheirLimits(t *testing.T) {
	g := startGateway(t, policyMFA(t, "bypass /healthz /public/*"))
	c := g.client()
	r := c.get("/healthz", "Remote-User", "admin", "Remote_User", "root")
	mustStatus(t, r, http.StatusOK)
	seen := g.up.last(t)
	for name := range seen.Header {
		if sameHeaderName(name, "Remote-User") {
			t.Errorf("bypass route let %s through", name)
		}
	}
	if len(r.Cookies()) != 0 {
		t.Errorf("bypass route set cookies: %v", r.Cookies())
	}
	mustStatus(t, c.get("/public/logo.png"), http.StatusOK)

	// Spellings that a backend may read as another path never bypass.
	before := g.up.count()
	for _, p := range []string{
		"/public/../admin", "/public/%2e%2e/admin", "/public%2F..%2Fadmin", "//admin",
		"/public/..;/admin", `/public\..\admin`, "/public/%2E%2E/admin", "/public/%252e%252e/admin",
		// These still match /public/* after Caddy's own cleaning, so only
		// the handler's check stands between them and the upstream.
		`/public/..\admin`, "/public/..%5cadmin", "/public/..%5Cadmin", "/public/.%2e/admin", "/public/x/..%2f..%2fadmin",
	} {
		status := g.rawGet(t, p, "Accept: text/html")
		if status != http.StatusUnauthorized && status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want the challenge", p, status)
		}
	}
	if g.up.count() != before {
		t.Errorf("%d tricky paths reached the upstream unauthenticated", g.up.count()-before)
	}
	mustStatus(t, c.get("/private"), http.StatusUnauthorized)
}

func TestBypassBlockForm(t *testing.T) {
	g := startGateway(t, policyMFA(t, `bypass {
			match path /hooks/*
			match header X-Hook-Secret s3cr3t
		}`))
	c := g.client()
	mustStatus(t, c.get("/hooks/deploy", "X-Hook-Secret", "s3cr3t"), http.StatusOK)
	mustStatus(t, c.get("/hooks/deploy"), http.StatusUnauthorized)
}

func TestTrustedDeviceSkipsCodeButNeverStepUp(t *testing.T) {
	g := startGateway(t, policyMFA(t, "step_up /admin/* 5m\ntrusted_device 30d"))
	c := g.client()
	secret, _ := c.enrollBrowser("/", "alice", "alice-password")
	c.postForm("/_mfa/logout", formFields(t, c.get("/_mfa/logout").Body, "/_mfa/logout"))

	// Sign in again and tick "trust this device".
	g.clock.Advance(time.Minute)
	page := c.get("/")
	form := formFields(t, page.Body, "/_mfa/login")
	form.Set("username", "alice")
	form.Set("password", "alice-password")
	mustStatus(t, c.postForm("/_mfa/login", form), http.StatusSeeOther)
	ch := c.get("/")
	if !strings.Contains(ch.Body, `name="remember_device"`) {
		t.Fatal("no trust-this-device checkbox")
	}
	vf := formFields(t, ch.Body, "/_mfa/verify")
	vf.Set("code", codeAt(t, secret, g.clock.Now()))
	vf.Set("remember_device", "1")
	mustStatus(t, c.postForm("/_mfa/verify", vf), http.StatusSeeOther)
	dev := c.cookie("__Host-mfa_device")
	if dev == nil {
		t.Fatal("no device cookie")
	}
	c.postForm("/_mfa/logout", formFields(t, c.get("/_mfa/logout").Body, "/_mfa/logout"))

	// Next sign-in: password only, straight to the app, marked as device.
	g.clock.Advance(time.Hour)
	r := c.signInBrowser("/", "alice", "alice-password")
	mustStatus(t, r, http.StatusSeeOther)
	mustStatus(t, c.get("/"), http.StatusOK)
	if got := g.up.last(t).Header.Get("Remote-Mfa-Methods"); got != "pwd,device" {
		t.Errorf("methods %q", got)
	}
	// …but never the step-up.
	mustStatus(t, c.get("/admin/x"), http.StatusUnauthorized)
	// …and never the first factor.
	other := g.client()
	other.jar.SetCookies(mustURL(g.base), []*http.Cookie{{Name: dev.Name, Value: dev.Value}})
	bad := other.signInBrowser("/", "alice", "wrong")
	mustStatus(t, bad, http.StatusUnauthorized)
	// The device is bound to alice: bob's sign-in with it still needs a code.
	bobc := g.client()
	bobc.enrollAPI("bob", "bob-password")
	bobc.jar.SetCookies(mustURL(g.base), []*http.Cookie{{Name: dev.Name, Value: dev.Value}})
	g.clock.Advance(time.Minute)
	lr, lm := bobc.api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
	mustStatus(t, lr, http.StatusAccepted)
	if lm["status"] != "mfa_required" {
		t.Errorf("bob with alice's device: %v", lm)
	}
}

func TestTrustedDeviceThroughAPIAndExpiry(t *testing.T) {
	g, c, secret := enrolledAlice(t, policyMFA(t, "trusted_device 7d"))
	tok := c.loginAPI("alice", "alice-password")
	r, m := c.api("POST", "verify", map[string]any{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now()), "remember_device": true})
	mustStatus(t, r, http.StatusOK)
	device, _ := m["device_token"].(string)
	if len(device) < 22 {
		t.Fatalf("device_token %q", device)
	}
	api := g.client()
	r, m = api.api("POST", "login", map[string]string{"username": "alice", "password": "alice-password", "device_token": device})
	mustStatus(t, r, http.StatusOK)
	if m["status"] != "authenticated" || strings.Join(toStrings(m["amr"]), ",") != "pwd,device" {
		t.Errorf("device login: %v", m)
	}
	// Expires at its lifetime + 1 s.
	g.clock.Advance(7*24*time.Hour + time.Second)
	r, m = api.api("POST", "login", map[string]string{"username": "alice", "password": "alice-password", "device_token": device})
	mustStatus(t, r, http.StatusAccepted)
	if m["status"] != "mfa_required" {
		t.Errorf("expired device: %v", m)
	}
}

// A reload with a shorter trusted_device shortens the devices already
// trusted: ten days after, a device of a 30-day config asks for a code
// under a 1-day one.
func TestShorterTrustedDeviceAfterReload(t *testing.T) {
	g, c, secret := enrolledAlice(t, policyMFA(t, "trusted_device 30d"))
	tok := c.loginAPI("alice", "alice-password")
	r, m := c.api("POST", "verify", map[string]any{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now()), "remember_device": true})
	mustStatus(t, r, http.StatusOK)
	device, _ := m["device_token"].(string)

	g.load(policyMFA(t, "trusted_device 1d"))
	g.clock.Advance(10 * 24 * time.Hour)
	r, m = g.client().api("POST", "login", map[string]string{"username": "alice", "password": "alice-password", "device_token": device})
	mustStatus(t, r, http.StatusAccepted)
	if m["status"] != "mfa_required" {
		t.Errorf("a 10-day-old device under trusted_device 1d: %v", m)
	}
}

func TestTrustedDeviceOff(t *testing.T) {
	g, c, secret := enrolledAlice(t, policyMFA(t, "trusted_device 0"))
	tok := c.loginAPI("alice", "alice-password")
	r, m := c.api("POST", "verify", map[string]any{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now()), "remember_device": true})
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(fmt.Sprint(m["message"]), "Trusted devices are turned off") {
		t.Errorf("remember_device with devices off: %d %v", r.StatusCode, m)
	}
	// The refusal spent nothing: the same mfa_token and code still sign in.
	r, m = c.api("POST", "verify", map[string]any{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now())})
	if r.StatusCode != http.StatusOK || m["status"] != "authenticated" {
		t.Errorf("the same mfa_token and code after the refusal: %d %v", r.StatusCode, m)
	}
	page := g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"code": {"000000"}})
	if strings.Contains(page.Body, `name="remember_device"`) {
		t.Error("checkbox shown with devices off")
	}
	// A page from before devices were turned off still sends the box: the
	// sign-in goes on, and no device is trusted.
	g.clock.Advance(30 * time.Second)
	b := g.client()
	res := b.verifyBrowser("/", "alice", "alice-password", url.Values{"code": {codeAt(t, secret, g.clock.Now())}, "remember_device": {"1"}})
	mustStatus(t, res, http.StatusSeeOther)
	if b.cookie(deviceCookie) != nil {
		t.Error("a device cookie was set with trusted devices off")
	}
	if got := b.get("/"); got.StatusCode != http.StatusOK {
		t.Errorf("after signing in with the stale box: %d", got.StatusCode)
	}
}

func TestEnrollmentGraceAndItsEnd(t *testing.T) {
	g := startGateway(t, policyMFA(t, "enrollment_grace 7d"))
	c := g.client()
	r := c.signInBrowser("/", "bob", "bob-password")
	mustStatus(t, r, http.StatusSeeOther)
	page := c.get("/")
	if !strings.Contains(pageText(page.Body), "Skip for now (7 days left)") {
		t.Fatalf("enroll page: %s", pageText(page.Body))
	}
	mustStatus(t, c.postForm("/_mfa/enroll/skip", formFields(t, page.Body, "/_mfa/enroll/skip")), http.StatusSeeOther)
	mustStatus(t, c.get("/"), http.StatusOK)
	if got := g.up.last(t).Header.Get("Remote-Mfa-Methods"); got != "pwd" {
		t.Errorf("methods %q", got)
	}

	// Five days on, fewer days left; the grace session ends with the grace.
	g.clock.Advance(5 * 24 * time.Hour)
	c2 := g.client()
	mustStatus(t, c2.signInBrowser("/", "bob", "bob-password"), http.StatusSeeOther)
	if txt := pageText(c2.get("/").Body); !strings.Contains(txt, "2 days left") {
		t.Errorf("after 5 days: %s", txt)
	}
	// API: the grace is announced and can be used.
	tokR, m := g.client().api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
	mustStatus(t, tokR, http.StatusAccepted)
	if m["grace_until"] == nil {
		t.Fatalf("no grace_until: %v", m)
	}
	sk, sm := g.client().api("POST", "enroll/skip", map[string]string{"mfa_token": m["mfa_token"].(string)})
	mustStatus(t, sk, http.StatusOK)
	graceBearer := "Bearer " + sm["access_token"].(string)
	mustStatus(t, g.client().get("/", "Authorization", graceBearer), http.StatusOK)

	g.clock.Advance(2*24*time.Hour + time.Second)
	mustStatus(t, g.client().get("/", "Authorization", graceBearer, "Accept", "application/json"), http.StatusUnauthorized)
	c3 := g.client()
	mustStatus(t, c3.signInBrowser("/", "bob", "bob-password"), http.StatusSeeOther)
	page = c3.get("/")
	if strings.Contains(pageText(page.Body), "Skip for now") {
		t.Error("skip offered after the grace")
	}
	_, m = g.client().api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
	sk, _ = g.client().api("POST", "enroll/skip", map[string]string{"mfa_token": m["mfa_token"].(string)})
	mustStatus(t, sk, http.StatusForbidden)
}

func TestPolicyConfigErrors(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	for name, tc := range map[string]struct{ extra, want string }{
		"step_up without age":  {"step_up /admin/*", "step_up"},
		"step_up bad age":      {"step_up /admin/* soon", "step_up"},
		"step_up block no age": {"step_up {\n match path /a/*\n }", "max_age"},
		"step_up bad factor":   {"step_up {\n match path /a/*\n max_age 1m\n factors sms\n }", "factors"},
		"bypass empty block":   {"bypass {\n }", "bypass"},
		"bad matcher":          {"bypass {\n match nosuchmatcher x\n }", "nosuchmatcher"},
		"negative device":      {"trusted_device -1h", "trusted_device"},
		"bad keep_body":        {"keep_body lots", "keep_body"},
	} {
		t.Run(name, func(t *testing.T) {
			err := g.tryLoad(policyMFA(t, tc.extra))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// rawGet sends a GET with the request target exactly as written (Go's
// client would normalise some of them) and returns the status.
func (g *gateway) rawGet(t *testing.T, target string, headers ...string) int {
	t.Helper()
	return g.rawGetFrom(t, "127.0.0.1", target, headers...)
}

// rawGetFrom is rawGet over a connection to the gateway's address ip.
func (g *gateway) rawGetFrom(t *testing.T, ip, target string, headers ...string) int {
	t.Helper()
	conn, err := net.Dial("tcp", net.JoinHostPort(ip, fmt.Sprint(g.port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n", target, g.port)
	for _, h := range headers {
		fmt.Fprintf(conn, "%s\r\n", h)
	}
	fmt.Fprint(conn, "\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDeviceAndResumeCookiesNeverReachUpstream(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	mustStatus(t, c.get("/", "Authorization", "Bearer "+token, "Cookie", deviceCookie+"=secret-device; keep=1; "+resumeCookie+"=xyz"), http.StatusOK)
	if got := g.up.last(t).Header.Get("Cookie"); strings.Contains(got, "mfa_") || !strings.Contains(got, "keep=1") {
		t.Errorf("upstream Cookie %q", got)
	}
}

// TestConfirmationNeverTrustsADevice: remember_device asked on a
// confirmation with a session (no mfa_token) is refused up front, and the
// code it came with is not spent.
func TestConfirmationNeverTrustsADevice(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	secret, _, token := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)
	bearer := []string{"Authorization", "Bearer " + token}
	code := codeAt(t, secret, g.clock.Now())
	r, m := c.api("POST", "verify", map[string]any{"code": code, "remember_device": true}, bearer...)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(fmt.Sprint(m["message"]), "mfa_token") || m["device_token"] != nil {
		t.Errorf("remember_device on a confirmation: %d %v", r.StatusCode, m)
	}
	r, m = c.api("POST", "verify", map[string]any{"code": code}, bearer...)
	if r.StatusCode != http.StatusOK || m["access_token"] == nil {
		t.Errorf("the same code, confirmed without remember_device: %d %v", r.StatusCode, m)
	}
}

// TestSignInReturnsToThePathTheBrowserAsked: a rewrite before mfa (here
// `uri strip_prefix`; handle_path and try_files alike) changes the path
// the handler sees. The sign-in still returns to the URL the browser asked
// for, and Caddy's log says the reserved prefix must reach this handler.
func TestSignInReturnsToThePathTheBrowserAsked(t *testing.T) {
	g := startGateway(t, "uri strip_prefix /app\n"+defaultMFA(t))
	c := g.client()
	page := c.get("/app/reports?year=2024")
	mustStatus(t, page, http.StatusUnauthorized)
	if got := formFields(t, page.Body, "/_mfa/login").Get("return_to"); got != "/app/reports?year=2024" {
		t.Errorf("return_to = %q, want the URL the browser asked for", got)
	}
	if !strings.Contains(g.logs(), "the request path was changed before mfa") {
		t.Error("no warning that the path was changed before mfa")
	}
}
