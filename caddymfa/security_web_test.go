package caddymfa

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// SECURITY.md item 35 through the real forms: every foreign return_to
// ends in a redirect to "/".
func TestForeignReturnToRedirectsHome(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	form := formFields(t, c.get("/").Body, "/_mfa/login")
	form.Set("username", "alice")
	form.Set("password", "alice-password")
	for _, evil := range []string{
		"https://evil.test", "//evil.test", `/\evil.test`, `\\evil.test`, "https:evil.test", "/%2F%2Fevil.test",
		"HTTPS://evil.test", "https://ok.test@evil.test", "javascript:alert(1)", "/x%0d%0aSet-Cookie:a=b", " //evil.test",
	} {
		t.Run(evil, func(t *testing.T) {
			r := c.postForm("/_mfa/login", with2(form, "return_to", evil))
			mustStatus(t, r, http.StatusSeeOther)
			if loc := r.Header.Get("Location"); loc != "/" {
				t.Errorf("Location %q", loc)
			}
			if len(r.Header.Values("Set-Cookie")) > 0 && strings.Contains(strings.Join(r.Header.Values("Set-Cookie"), ";"), "a=b") {
				t.Error("a header was injected")
			}
		})
	}
	// A signed-in browser sent to the sign-in page goes home, not away.
	signedIn := g.client()
	signedIn.enrollBrowser("/", "bob", "bob-password")
	r := signedIn.get("/_mfa/login?return_to=" + url.QueryEscape("//evil.test"))
	mustStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/" {
		t.Errorf("signed in: Location %q", loc)
	}
}

// SECURITY.md item 18 for every cookie we set in a whole flow, with and
// without cookie_domain.
func TestEveryCookieIsLockedDown(t *testing.T) {
	a, _ := userHashes(t)
	for _, tc := range []struct {
		name, extra string
		domain      string
	}{
		{"host-only", "", ""},
		{"cookie_domain", "cookie_domain localhost", "localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, fmt.Sprintf("mfa {\n secret %s\n user alice %s\n store file {STORE}\n %s\n}", testSecret, a, tc.extra))
			var all []*http.Cookie
			c := g.client()
			record := func(r response) { all = append(all, r.Cookies()...) }
			record(c.get("/"))
			r := c.signInBrowser("/", "alice", "alice-password")
			record(r)
			page := c.get("/")
			record(page)
			form := formFields(t, page.Body, "/_mfa/enroll/confirm")
			form.Set("code", codeAt(t, elementAttr(t, page.Body, "secret", "data-value"), g.clock.Now()))
			record(c.postForm("/_mfa/enroll/confirm", form))
			g.clock.Advance(2 * time.Minute)
			record(c.get("/")) // sliding renewal
			out := c.get("/_mfa/logout")
			record(c.postForm("/_mfa/logout", formFields(t, out.Body, "/_mfa/logout")))
			api := g.client()
			rr, _ := api.api("POST", "login", map[string]string{"username": "alice", "password": "wrong"})
			record(rr)

			names := map[string]bool{}
			for _, ck := range all {
				names[ck.Name] = true
				if !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.SameSite != http.SameSiteLaxMode || len(ck.String()) > 4096 {
					t.Errorf("cookie %s: %s", ck.Name, ck.String())
				}
				switch {
				case strings.HasPrefix(ck.Name, "__Host-"):
					if ck.Domain != "" {
						t.Errorf("%s has a Domain", ck.Name)
					}
				case strings.HasPrefix(ck.Name, "__Secure-"):
					if tc.domain == "" || ck.Domain != tc.domain || !strings.Contains(ck.Name, "session") {
						t.Errorf("%s: domain %q", ck.Name, ck.Domain)
					}
				default:
					t.Errorf("cookie %s has neither __Host- nor __Secure- prefix", ck.Name)
				}
			}
			session := "__Host-mfa_session"
			if tc.domain != "" {
				session = "__Secure-mfa_session"
			}
			for _, want := range []string{session, "__Host-mfa_pending", "__Host-mfa_csrf"} {
				if !names[want] {
					t.Errorf("the flow never set %s (got %v)", want, names)
				}
			}
		})
	}
}

// SECURITY.md item 19: every step of a sign-in issues a new token; a
// session cookie planted before sign-in is replaced, never adopted.
func TestPlantedSessionCookieIsNeverAdopted(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	// An ended session of alice's: the kind of token an attacker may hold.
	old := g.client()
	secret, _ := old.enrollBrowser("/", "alice", "alice-password")
	oldToken := old.cookie("__Host-mfa_session").Value
	out := old.get("/_mfa/logout")
	mustStatus(t, old.postForm("/_mfa/logout", formFields(t, out.Body, "/_mfa/logout")), http.StatusOK)

	for name, planted := range map[string]string{"chosen value": "attacker-chosen-session-value", "ended session": oldToken} {
		t.Run(name, func(t *testing.T) {
			g.clock.Advance(time.Minute)
			victim := g.client()
			victim.jar.SetCookies(mustURL(g.base), []*http.Cookie{{Name: "__Host-mfa_session", Value: planted, Path: "/"}})
			mustStatus(t, victim.get("/"), http.StatusUnauthorized)
			mustStatus(t, victim.signInBrowser("/", "alice", "alice-password"), http.StatusSeeOther)
			pending := victim.cookie("__Host-mfa_pending").Value
			form := formFields(t, victim.get("/").Body, "/_mfa/verify")
			form.Set("code", codeAt(t, secret, g.clock.Now()))
			mustStatus(t, victim.postForm("/_mfa/verify", form), http.StatusSeeOther)
			got := victim.cookie("__Host-mfa_session")
			if got == nil || got.Value == planted || got.Value == pending {
				t.Fatal("the session cookie after sign-in is the planted or the pre-MFA one")
			}
			if victim.cookie("__Host-mfa_pending") != nil {
				t.Error("the pre-MFA cookie outlived the sign-in")
			}
			if claim(t, got.Value, "sid") == claim(t, oldToken, "sid") || claim(t, pending, "jti") == "" {
				t.Error("the new session reuses the old sid")
			}
			mustStatus(t, victim.get("/"), http.StatusOK)
			// The planted value is still worth nothing.
			mustStatus(t, g.client().get("/", "Cookie", "__Host-mfa_session="+planted, "Accept", "application/json"), http.StatusUnauthorized)
		})
	}
}

// claim reads one claim of a JWT without verifying it.
func claim(t *testing.T, tok, name string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.40s", tok)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(data, &claims); err != nil {
		t.Fatal(err)
	}
	v, _ := claims[name].(string)
	return v
}

// SECURITY.md item 11: a factor turns on only with a code from it.
func TestEnrollmentNeedsACodeFromTheNewFactor(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	bobSecret, _, _ := g.client().enrollAPI("bob", "bob-password")
	r, m := c.api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
	mustStatus(t, r, http.StatusAccepted)
	tok := m["mfa_token"].(string)
	_, m = c.api("POST", "enroll/totp", map[string]string{"mfa_token": tok})
	factorID, secret := m["factor_id"].(string), m["secret"].(string)
	for name, code := range map[string]string{
		"wrong code":             "000000",
		"another factor's code":  codeAt(t, bobSecret, g.clock.Now()),
		"code two steps ahead":   codeAt(t, secret, g.clock.Now().Add(61*time.Second)),
		"code two steps earlier": codeAt(t, secret, g.clock.Now().Add(-61*time.Second)),
	} {
		r, m := c.api("POST", "enroll/totp/confirm", map[string]string{"mfa_token": tok, "factor_id": factorID, "code": code})
		if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_code" {
			t.Errorf("%s: %d %v", name, r.StatusCode, m)
		}
	}
	r, m = g.client().api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
	if m["status"] != "enrollment_required" {
		t.Fatalf("after refused confirmations: %d %v", r.StatusCode, m)
	}
	r, _ = c.api("POST", "enroll/totp/confirm", map[string]string{"mfa_token": tok, "factor_id": factorID, "code": codeAt(t, secret, g.clock.Now())})
	mustStatus(t, r, http.StatusOK)
}

// SECURITY.md item 34, second half: a GET (a link, an <img>, a prefetch)
// never signs out, enrolls or answers a challenge.
func TestGetNeverChangesState(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)
	mfaTok := c.loginAPI("alice", "alice-password")
	for _, path := range []string{
		"/_mfa/logout", "/_mfa/logout?confirm=1", "/_mfa/verify?code=000000", "/_mfa/enroll/start", "/_mfa/enroll/confirm?code=000000",
		"/_mfa/api/v1/logout", "/_mfa/api/v1/verify?mfa_token=" + mfaTok + "&code=000000", "/_mfa/api/v1/enroll/totp",
	} {
		r := c.get(path, "Authorization", "Bearer "+token)
		if r.StatusCode != http.StatusOK && r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d", path, r.StatusCode)
		}
	}
	mustStatus(t, c.get("/", "Authorization", "Bearer "+token), http.StatusOK)
	if n := g.secondFactorFailures(t, "alice"); n != 0 {
		t.Errorf("a GET counted %d second-factor attempts", n)
	}
	fs, err := g.backendFor(t).Factors(t.Context(), "alice")
	if err != nil || len(fs) != 1 {
		t.Errorf("factors after GETs: %v %v", fs, err)
	}
}

// TestGetNeverChangesStateInABrowser: the same, from browsers that hold
// cookies: one signed in, one half way through a sign-in (its pending
// cookie is what the page routes act on).
func TestGetNeverChangesStateInABrowser(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	signedIn := g.client()
	secret, codes := signedIn.enrollBrowser("/", "alice", "alice-password")
	g.clock.Advance(time.Minute)
	halfway := g.client()
	login := halfway.signInBrowser("/", "alice", "alice-password")
	mustStatus(t, login, http.StatusSeeOther)
	for _, c := range []*client{signedIn, halfway} {
		for _, path := range []string{
			"/_mfa/logout?confirm=1", "/_mfa/verify?code=000000", "/_mfa/enroll/start", "/_mfa/enroll/confirm?code=000000",
			"/_mfa/enroll/skip", "/_mfa/account/recovery-codes", "/_mfa/account/factors/totp", "/_mfa/account/logout-everywhere",
			"/_mfa/api/v1/logout", "/_mfa/api/v1/account/logout_everywhere",
		} {
			if r := c.get(path); r.StatusCode >= 500 {
				t.Errorf("GET %s: %d", path, r.StatusCode)
			}
		}
	}
	mustStatus(t, signedIn.get("/"), http.StatusOK)
	if n := g.secondFactorFailures(t, "alice"); n != 0 {
		t.Errorf("a GET counted %d second-factor attempts", n)
	}
	st := g.backendFor(t)
	fs, err := st.Factors(t.Context(), "alice")
	if err != nil || len(fs) != 1 {
		t.Errorf("factors after GETs: %v %v", fs, err)
	}
	if left, err := st.RecoveryCodesLeft(t.Context(), "alice"); err != nil || left != len(codes) {
		t.Errorf("recovery codes after GETs: %d %v, want %d", left, err, len(codes))
	}
	// The sign-in half way through still ends with its code.
	page := halfway.get(login.Header.Get("Location"))
	mustStatus(t, page, http.StatusUnauthorized)
	vf := formFields(t, page.Body, "/_mfa/verify")
	vf.Set("code", codeAt(t, secret, g.clock.Now()))
	mustStatus(t, halfway.postForm("/_mfa/verify", vf), http.StatusSeeOther)
	mustStatus(t, halfway.get("/"), http.StatusOK)
}

// TestCrossSiteAccountAPIWithCookieSession: another site's page cannot
// drive the account API with the user's session cookie: every changing
// call is refused with csrf_failed and changes nothing.
func TestCrossSiteAccountAPIWithCookieSession(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, codes := c.enrollBrowser("/", "alice", "alice-password")
	r, before := c.api("GET", "account", nil)
	mustStatus(t, r, http.StatusOK)
	factors := before["factors"].([]any)
	sessions := before["sessions"].([]any)
	if len(factors) != 1 || len(sessions) != 1 || before["recovery_codes_left"] != float64(len(codes)) {
		t.Fatalf("account before: %v", before)
	}
	factorID := factors[0].(map[string]any)["id"].(string)
	sessionID := sessions[0].(map[string]any)["id"].(string)
	cross := []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.test"}
	for _, call := range []struct{ method, path string }{
		{"DELETE", "account/factors/" + factorID},
		{"POST", "account/recovery_codes"},
		{"DELETE", "account/sessions/" + sessionID},
		{"POST", "account/logout_everywhere"},
	} {
		r, m := c.api(call.method, call.path, nil, cross...)
		if r.StatusCode != http.StatusForbidden || m["error"] != "csrf_failed" {
			t.Errorf("cross-site %s %s: %d %v, want 403 csrf_failed", call.method, call.path, r.StatusCode, m)
		}
	}
	r, after := c.api("GET", "account", nil)
	mustStatus(t, r, http.StatusOK)
	if len(after["factors"].([]any)) != 1 || len(after["sessions"].([]any)) != 1 || after["recovery_codes_left"] != before["recovery_codes_left"] {
		t.Errorf("account after the cross-site calls: %v, want it unchanged from %v", after, before)
	}
	mustStatus(t, c.get("/"), http.StatusOK)
}
