package caddymfa

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestAccountPageSelfService(t *testing.T) {
	g := startGateway(t, policyMFA(t, "trusted_device 30d"))
	c := g.client()
	secret, codes := c.enrollBrowser("/", "alice", "alice-password")

	page := c.get("/_mfa/account")
	mustStatus(t, page, http.StatusOK)
	if got := listItems(t, page.Body, "factors"); len(got) != 1 || !strings.Contains(got[0], "Authenticator app") {
		t.Fatalf("factors listed: %q", got)
	}
	if txt := pageText(page.Body); !strings.Contains(txt, "10 recovery codes left") {
		t.Errorf("page: %s", txt)
	}
	if got := listItems(t, page.Body, "sessions"); len(got) != 1 || !strings.Contains(got[0], "(this one)") {
		t.Errorf("sessions: %q", got)
	}

	// New recovery codes right after sign-in (fresh second factor): the old
	// ones die.
	regen := c.postForm("/_mfa/account/recovery-codes", formFields(t, page.Body, "/_mfa/account/recovery-codes"))
	mustStatus(t, regen, http.StatusOK)
	newCodes := listItems(t, regen.Body, "codes")
	if len(newCodes) != 10 || newCodes[0] == codes[0] {
		t.Fatalf("regenerated codes %q", newCodes)
	}
	old := g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"recovery_code": {codes[1]}})
	mustStatus(t, old, http.StatusUnauthorized)

	// Later, the sensitive actions ask for a fresh code first.
	g.clock.Advance(10 * time.Minute)
	page = c.get("/_mfa/account")
	r := c.postForm("/_mfa/account/recovery-codes", formFields(t, page.Body, "/_mfa/account/recovery-codes"))
	mustStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(pageText(r.Body), "Confirm") {
		t.Fatalf("no step-up page: %s", pageText(r.Body))
	}
	vf := formFields(t, r.Body, "/_mfa/verify")
	vf.Set("code", codeAt(t, secret, g.clock.Now()))
	back := c.postForm("/_mfa/verify", vf)
	mustStatus(t, back, http.StatusSeeOther)
	if back.Header.Get("Location") != "/_mfa/account" {
		t.Errorf("after step-up: %q", back.Header.Get("Location"))
	}

	// Add a second authenticator, then remove the first.
	page = c.get("/_mfa/account")
	mustStatus(t, c.postForm("/_mfa/account/factors/totp", formFields(t, page.Body, "/_mfa/account/factors/totp")), http.StatusSeeOther)
	enroll := c.get("/_mfa/account/enroll")
	mustStatus(t, enroll, http.StatusOK)
	secret2 := elementAttr(t, enroll.Body, "secret", "data-value")
	ef := formFields(t, enroll.Body, "/_mfa/enroll/confirm")
	ef.Set("code", codeAt(t, secret2, g.clock.Now()))
	done := c.postForm("/_mfa/enroll/confirm", ef)
	mustStatus(t, done, http.StatusSeeOther) // codes kept: no codes page
	page = c.get("/_mfa/account")
	factors := listItems(t, page.Body, "factors")
	if len(factors) != 2 {
		t.Fatalf("factors after adding: %q", factors)
	}
	forms := formsPostingUnder(t, page.Body, "/_mfa/account/factors/")
	rm := c.postForm(forms[0], formFields(t, page.Body, forms[0]))
	mustStatus(t, rm, http.StatusSeeOther)
	if got := listItems(t, c.get("/_mfa/account").Body, "factors"); len(got) != 1 {
		t.Fatalf("factors after removing: %q", got)
	}
	// The first secret no longer works; the second does.
	g.clock.Advance(time.Minute)
	mustStatus(t, g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"code": {codeAt(t, secret, g.clock.Now())}}), http.StatusUnauthorized)
	g.clock.Advance(time.Minute)
	mustStatus(t, g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"code": {codeAt(t, secret2, g.clock.Now())}}), http.StatusSeeOther)
}

// formsPostingUnder lists the form actions on page that start with prefix.
func formsPostingUnder(t *testing.T, page, prefix string) []string {
	t.Helper()
	var out []string
	for _, part := range strings.Split(page, `action="`)[1:] {
		action, _, _ := strings.Cut(part, `"`)
		if strings.HasPrefix(action, prefix) && !strings.HasSuffix(action, "/totp") {
			out = append(out, action)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no form posting under %s", prefix)
	}
	return out
}

func TestAccountSessionsDevicesAndSignOutEverywhere(t *testing.T) {
	g := startGateway(t, policyMFA(t, "trusted_device 30d"))
	laptop := g.client()
	secret, _, _ := laptop.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)

	// A phone signs in and trusts itself.
	phone := g.client()
	tok := phone.loginAPI("alice", "alice-password")
	r, m := phone.api("POST", "verify", map[string]any{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now()), "remember_device": true})
	mustStatus(t, r, http.StatusOK)
	phoneBearer := "Bearer " + m["access_token"].(string)
	device := m["device_token"].(string)
	// A device-started session, then the laptop session.
	g.clock.Advance(time.Minute)
	r, m = phone.api("POST", "login", map[string]string{"username": "alice", "password": "alice-password", "device_token": device})
	mustStatus(t, r, http.StatusOK)
	deviceBearer := "Bearer " + m["access_token"].(string)
	tok = laptop.loginAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)
	r, m = laptop.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now())})
	mustStatus(t, r, http.StatusOK)
	laptopBearer := "Bearer " + m["access_token"].(string)

	r, acct := laptop.api("GET", "account", nil, "Authorization", laptopBearer)
	mustStatus(t, r, http.StatusOK)
	devices := acct["devices"].([]any)
	if len(devices) != 1 || len(acct["sessions"].([]any)) < 3 {
		t.Fatalf("account: %v", acct)
	}
	deviceID := devices[0].(map[string]any)["id"].(string)

	// Forgetting the device ends the session it started, at once.
	r, _ = laptop.api("DELETE", "account/devices/"+deviceID, nil, "Authorization", laptopBearer)
	mustStatus(t, r, http.StatusNoContent)
	mustStatus(t, g.client().get("/", "Authorization", deviceBearer, "Accept", "application/json"), http.StatusUnauthorized)
	r, m = phone.api("POST", "login", map[string]string{"username": "alice", "password": "alice-password", "device_token": device})
	if m["status"] != "mfa_required" {
		t.Errorf("revoked device still skips the code: %v", m)
	}
	// Someone else's session id is not found.
	r, _ = laptop.api("DELETE", "account/sessions/not-a-session", nil, "Authorization", laptopBearer)
	mustStatus(t, r, http.StatusNotFound)
	// Ending the phone's session from the laptop.
	r, acct = laptop.api("GET", "account", nil, "Authorization", laptopBearer)
	for _, s := range acct["sessions"].([]any) {
		sm := s.(map[string]any)
		if sm["current"] == false {
			laptop.api("DELETE", "account/sessions/"+sm["id"].(string), nil, "Authorization", laptopBearer)
		}
	}
	mustStatus(t, g.client().get("/", "Authorization", phoneBearer, "Accept", "application/json"), http.StatusUnauthorized)
	mustStatus(t, g.client().get("/", "Authorization", laptopBearer), http.StatusOK)

	// Sign out everywhere ends this session too.
	r, _ = laptop.api("POST", "account/logout_everywhere", nil, "Authorization", laptopBearer)
	mustStatus(t, r, http.StatusNoContent)
	mustStatus(t, g.client().get("/", "Authorization", laptopBearer, "Accept", "application/json"), http.StatusUnauthorized)

	// Each of these was one audit event, with the usual fields.
	seen := map[string]bool{}
	for _, e := range g.auditEvents() {
		key := e["event"].(string) + "/" + e["outcome"].(string)
		seen[key] = true
		if e["user"] != "alice" || e["client_ip"] == "" || e["request_id"] == "" {
			t.Errorf("audit event %v lacks fields", e)
		}
	}
	for _, want := range []string{"device_trusted/success", "device_revoked/success", "challenge/success", "logout/session_revoked", "logout/everywhere"} {
		if !seen[want] {
			t.Errorf("no audit event %s", want)
		}
	}
}

// A device trusted under a longer trusted_device than today's is listed
// as it is trusted now: until the shorter lifetime ends, then not at all.
func TestAccountListsDevicesByTheCurrentLifetime(t *testing.T) {
	g, c, secret := enrolledAlice(t, policyMFA(t, "trusted_device 30d"))
	tok := c.loginAPI("alice", "alice-password")
	r, _ := c.api("POST", "verify", map[string]any{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now()), "remember_device": true})
	mustStatus(t, r, http.StatusOK)
	trusted := g.clock.Now().Unix()
	g.load(policyMFA(t, "trusted_device 1d"))

	// Listed as seen from another browser, signed in with a code.
	devices := func() []any {
		t.Helper()
		g.clock.Advance(30 * time.Second) // a new TOTP step
		other := g.client()
		tok := other.loginAPI("alice", "alice-password")
		r, m := other.api("POST", "verify", map[string]any{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now())})
		mustStatus(t, r, http.StatusOK)
		r, m = other.api("GET", "account", nil, "Authorization", "Bearer "+m["access_token"].(string))
		mustStatus(t, r, http.StatusOK)
		return m["devices"].([]any)
	}
	if d := devices(); len(d) != 1 || int64(d[0].(map[string]any)["expires_at"].(float64)) != trusted+24*3600 {
		t.Errorf("devices within a day: %v", d)
	}
	g.clock.Advance(10 * 24 * time.Hour)
	if d := devices(); len(d) != 0 {
		t.Errorf("devices ten days on, with a 1-day lifetime: %v", d)
	}
}

func TestAccountAPIFactorsNeedFreshSecondFactor(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	secret, _, token := c.enrollAPI("alice", "alice-password")
	bearer := []string{"Authorization", "Bearer " + token}
	g.clock.Advance(6 * time.Minute)
	r, m := c.api("POST", "account/recovery_codes", nil, bearer...)
	if r.StatusCode != http.StatusUnauthorized || m["error"] != "insufficient_user_authentication" || r.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("stale regenerate: %d %v", r.StatusCode, m)
	}
	r, m = c.api("POST", "enroll/totp", map[string]string{}, bearer...)
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stale add factor: %d %v", r.StatusCode, m)
	}
	r, m = c.api("POST", "verify", map[string]string{"code": codeAt(t, secret, g.clock.Now())}, bearer...)
	mustStatus(t, r, http.StatusOK)
	fresh := []string{"Authorization", "Bearer " + m["access_token"].(string)}
	// A trusted device, to see it go with the last factor.
	dt := c.loginAPI("alice", "alice-password")
	g.clock.Advance(30 * time.Second)
	r, _ = c.api("POST", "verify", map[string]any{"mfa_token": dt, "code": codeAt(t, secret, g.clock.Now()), "remember_device": true})
	mustStatus(t, r, http.StatusOK)
	r, m = c.api("POST", "enroll/totp", map[string]string{}, fresh...)
	mustStatus(t, r, http.StatusOK)
	secret2 := m["secret"].(string)
	r, m = c.api("POST", "enroll/totp/confirm", map[string]string{"factor_id": m["factor_id"].(string), "code": codeAt(t, secret2, g.clock.Now())}, fresh...)
	mustStatus(t, r, http.StatusOK)
	if m["recovery_codes"] != nil {
		t.Error("adding a factor replaced the recovery codes")
	}
	fresh = []string{"Authorization", "Bearer " + m["access_token"].(string)}
	r, acct := c.api("GET", "account", nil, fresh...)
	mustStatus(t, r, http.StatusOK)
	fs := acct["factors"].([]any)
	if len(fs) != 2 {
		t.Fatalf("factors %v", fs)
	}
	// Removing both: the last removal resets recovery codes too.
	for _, f := range fs {
		r, _ = c.api("DELETE", "account/factors/"+f.(map[string]any)["id"].(string), nil, fresh...)
		mustStatus(t, r, http.StatusNoContent)
	}
	removed := 0
	for _, e := range g.auditEvents() {
		if e["event"] == "factor_removed" && e["user"] == "alice" {
			removed++
		}
	}
	if removed != 2 {
		t.Errorf("%d factor_removed audit events, want 2", removed)
	}
	// A reset ends the sessions the factor vouched for, and drops the
	// codes and trusted devices.
	r, _ = c.api("GET", "account", nil, fresh...)
	mustStatus(t, r, http.StatusUnauthorized)
	b := g.backendFor(t)
	left, _ := b.RecoveryCodesLeft(context.Background(), "alice")
	devs, _ := b.Devices(context.Background(), "alice", g.clock.Now())
	if left != 0 || len(devs) != 0 {
		t.Errorf("after reset: %d codes, %d devices", left, len(devs))
	}
	g.clock.Advance(time.Minute)
	r, m = g.client().api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
	if m["status"] != "enrollment_required" {
		t.Errorf("after removing every factor: %v", m)
	}
}

func TestPostBodySurvivesTheChallenge(t *testing.T) {
	g := startGateway(t, policyMFA(t, "step_up {\n match path /billing/*\n match method POST\n max_age 2m\n }"))
	c := g.client()
	secret, _ := c.enrollBrowser("/", "alice", "alice-password")
	g.clock.Advance(10 * time.Minute)

	// A form sent to a step-up route with a stale second factor.
	post := func(path, ctype, body string) response {
		req, _ := http.NewRequest("POST", g.base+path, strings.NewReader(body))
		// As curl does for large bodies: one the server refuses to keep is
		// never uploaded.
		req.Header.Set("Expect", "100-continue")
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Origin", g.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		return c.do(req)
	}
	before := g.up.count()
	r := post("/billing/pay?invoice=7", "application/x-www-form-urlencoded", "amount=120&note=r%C3%A9sum%C3%A9")
	mustStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(pageText(r.Body), "is kept") {
		t.Errorf("page does not say the form is kept: %s", pageText(r.Body))
	}
	vf := formFields(t, r.Body, "/_mfa/verify")
	vf.Set("code", codeAt(t, secret, g.clock.Now()))
	back := c.postForm("/_mfa/verify", vf)
	mustStatus(t, back, http.StatusSeeOther)
	mustStatus(t, c.get(back.Header.Get("Location")), http.StatusOK)
	if g.up.count() != before+1 {
		t.Fatalf("upstream got %d requests, want exactly 1", g.up.count()-before)
	}
	got := g.up.last(t)
	if got.Method != "POST" || got.Path != "/billing/pay" || got.Body != "amount=120&note=r%C3%A9sum%C3%A9" ||
		got.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("upstream got %s %s %q %q", got.Method, got.Path, got.Body, got.Header.Get("Content-Type"))
	}
	// Single use: the same URL again is a plain GET.
	mustStatus(t, c.get("/billing/pay?invoice=7"), http.StatusOK)
	if g.up.last(t).Method != "GET" {
		t.Error("the parked request was replayed twice")
	}

	// A JSON body after the session expired, through sign-in.
	g.clock.Advance(13 * time.Hour)
	r = post("/api/save", "application/json", `{"draft":"long text"}`)
	mustStatus(t, r, http.StatusUnauthorized)
	lf := formFields(t, r.Body, "/_mfa/login")
	lf.Set("username", "alice")
	lf.Set("password", "alice-password")
	mustStatus(t, c.postForm("/_mfa/login", lf), http.StatusSeeOther)
	ch := c.get("/api/save")
	mustStatus(t, ch, http.StatusUnauthorized)
	cf := formFields(t, ch.Body, "/_mfa/verify")
	cf.Set("code", codeAt(t, secret, g.clock.Now()))
	mustStatus(t, c.postForm("/_mfa/verify", cf), http.StatusSeeOther)
	before = g.up.count()
	mustStatus(t, c.get("/api/save"), http.StatusOK)
	got = g.up.last(t)
	if g.up.count() != before+1 || got.Method != "POST" || got.Body != `{"draft":"long text"}` || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("upstream got %s %q %q", got.Method, got.Body, got.Header.Get("Content-Type"))
	}

	// Cross-site posts are never kept, and big bodies neither.
	g.clock.Advance(13 * time.Hour)
	req, _ := http.NewRequest("POST", g.base+"/billing/pay", strings.NewReader("amount=999999"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.test")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	evil := c.do(req)
	mustStatus(t, evil, http.StatusUnauthorized)
	if c.cookie(resumeCookie) != nil {
		t.Error("a cross-site post was kept")
	}
	big := post("/billing/pay", "text/plain", strings.Repeat("x", 70<<10))
	mustStatus(t, big, http.StatusUnauthorized)
	if c.cookie(resumeCookie) != nil {
		t.Error("a body over keep_body was kept")
	}
}

// TestParkedRequestResumesFromASecondCookieLine: a client may send its
// cookies on several Cookie lines (net/http reads them all). The parked
// request still resumes when its cookie is not on the first line.
func TestParkedRequestResumesFromASecondCookieLine(t *testing.T) {
	g, c, back := parkedPayment(t)

	sess, resume := c.cookie("__Host-mfa_session"), c.cookie(resumeCookie)
	if sess == nil || resume == nil {
		t.Fatalf("after the second factor: session cookie %v, resume cookie %v", sess, resume)
	}
	get, _ := http.NewRequest("GET", g.base+back.Header.Get("Location"), nil)
	get.Header.Set("Accept", "text/html")
	get.Header["Cookie"] = []string{sess.Name + "=" + sess.Value, resume.Name + "=" + resume.Value}
	before := g.up.count()
	resp, err := (&http.Client{}).Do(get)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mustStatus(t, response{Response: resp}, http.StatusOK)
	got := g.up.last(t)
	if g.up.count() != before+1 || got.Method != "POST" || got.Body != "amount=5" {
		t.Errorf("upstream got %d requests, the last %s %q; want the parked POST", g.up.count()-before, got.Method, got.Body)
	}
}

// TestDeviceIDTheStoreCannotHold: an id too long or not UTF-8 names no
// device: 404, not a store error.
func TestDeviceIDTheStoreCannotHold(t *testing.T) {
	c := startGateway(t, defaultMFA(t)).client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	for _, id := range []string{strings.Repeat("a", 600), "%FF"} {
		r, m := c.api("DELETE", "account/devices/"+id, nil, "Authorization", "Bearer "+token)
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("DELETE account/devices/%.20s…: %d %v, want 404", id, r.StatusCode, m)
		}
	}
}

// TestParkedRequestWaitsForItsURL: a kept form is not lost when the
// signed-in user opens another page first; it resumes on its own URL.
func TestParkedRequestWaitsForItsURL(t *testing.T) {
	g, c, _ := parkedPayment(t)

	// Another page first: a plain GET, and the form stays kept.
	mustStatus(t, c.get("/billing/history"), http.StatusOK)
	if got := g.up.last(t); got.Method != "GET" || got.Path != "/billing/history" {
		t.Errorf("upstream got %s %s, want GET /billing/history", got.Method, got.Path)
	}
	if c.cookie(resumeCookie) == nil {
		t.Fatal("the kept form's cookie went with a GET of another page")
	}
	mustStatus(t, c.get("/billing/pay"), http.StatusOK)
	if got := g.up.last(t); got.Method != "POST" || got.Path != "/billing/pay" || got.Body != "amount=5" {
		t.Errorf("upstream got %s %s %q, want the kept POST", got.Method, got.Path, got.Body)
	}
}

// parkedPayment: alice, her second factor too old for the step-up on
// POST /billing/*, sends amount=5 to /billing/pay from our own origin;
// the form is kept and she confirms with a code. It returns that
// confirmation's answer, a redirect back to /billing/pay.
func parkedPayment(t *testing.T) (*gateway, *client, response) {
	t.Helper()
	g := startGateway(t, policyMFA(t, "step_up {\n match path /billing/*\n match method POST\n max_age 2m\n }"))
	c := g.client()
	secret, _ := c.enrollBrowser("/", "alice", "alice-password")
	g.clock.Advance(10 * time.Minute)
	req, _ := http.NewRequest("POST", g.base+"/billing/pay", strings.NewReader("amount=5"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Origin", g.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	r := c.do(req)
	mustStatus(t, r, http.StatusUnauthorized)
	vf := formFields(t, r.Body, "/_mfa/verify")
	vf.Set("code", codeAt(t, secret, g.clock.Now()))
	back := c.postForm("/_mfa/verify", vf)
	mustStatus(t, back, http.StatusSeeOther)
	return g, c, back
}
