package caddymfa

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBrowserEnrollSignInAndLogout(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()

	// An unauthenticated GET meets the sign-in page in place, never the app.
	first := c.get("/reports/q3?x=1")
	mustStatus(t, first, http.StatusUnauthorized)
	if g.up.count() != 0 {
		t.Fatal("upstream reached without a session")
	}
	for h, want := range map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	} {
		if got := first.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := first.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	if got := formFields(t, first.Body, "/_mfa/login").Get("return_to"); got != "/reports/q3?x=1" {
		t.Errorf("return_to = %q", got)
	}

	secret, codes := c.enrollBrowser("/reports/q3?x=1", "alice", "alice-password")
	if len(codes) < 8 {
		t.Fatalf("got %d recovery codes, want ≥ 8", len(codes))
	}
	sess := c.cookie("__Host-mfa_session")
	if sess == nil {
		t.Fatal("no session cookie after enrollment")
	}

	app := c.get("/reports/q3?x=1")
	mustStatus(t, app, http.StatusOK)
	seen := g.up.last(t)
	for h, want := range map[string]string{
		"Remote-User":        "alice",
		"Remote-Email":       "alice@example.com",
		"Remote-Name":        "Alice Doe",
		"Remote-Groups":      "admins,dev",
		"Remote-Mfa-Methods": "pwd,otp,mfa",
	} {
		if got := seen.Header.Values(h); len(got) != 1 || got[0] != want {
			t.Errorf("upstream %s = %q, want [%q]", h, got, want)
		}
	}
	if seen.Header.Get("Remote-Auth-Time") == "" || seen.Header.Get("Remote-Mfa-Time") == "" {
		t.Error("upstream got no auth times")
	}
	if ck := seen.Header.Get("Cookie"); strings.Contains(ck, "mfa_") {
		t.Errorf("upstream saw our cookies: %q", ck)
	}

	// Logout kills the session server-side: replaying the old cookie fails.
	logoutPage := c.get("/_mfa/logout")
	mustStatus(t, logoutPage, http.StatusOK)
	out := c.postForm("/_mfa/logout", formFields(t, logoutPage.Body, "/_mfa/logout"))
	mustStatus(t, out, http.StatusOK)
	replay := g.client()
	replay.jar.SetCookies(mustURL(g.base), []*http.Cookie{{Name: sess.Name, Value: sess.Value}})
	mustStatus(t, replay.get("/reports/q3?x=1"), http.StatusUnauthorized)

	// A later sign-in asks for a code, and a code works once.
	g.clock.Advance(time.Minute)
	code := codeAt(t, secret, g.clock.Now())
	ok := c.verifyBrowser("/", "alice", "alice-password", url.Values{"code": {code}})
	mustStatus(t, ok, http.StatusSeeOther)
	if loc := ok.Header.Get("Location"); loc != "/" {
		t.Errorf("Location = %q", loc)
	}
	again := g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"code": {code}})
	mustStatus(t, again, http.StatusUnauthorized)
	if !strings.Contains(pageText(again.Body), "didn't work") {
		t.Errorf("replayed code page says: %s", pageText(again.Body))
	}

	// A recovery code works once and the page says how many are left.
	rc := g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"recovery_code": {codes[0]}})
	mustStatus(t, rc, http.StatusOK)
	if txt := pageText(rc.Body); !strings.Contains(txt, "9 recovery codes left") {
		t.Errorf("recovery page says: %s", txt)
	}
	rc2 := g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"recovery_code": {codes[0]}})
	mustStatus(t, rc2, http.StatusUnauthorized)
}

func TestSessionCookieAttributes(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	r := c.signInBrowser("/", "alice", "alice-password")
	mustStatus(t, r, http.StatusSeeOther)
	var pendingCookie *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == "__Host-mfa_pending" {
			pendingCookie = ck
		}
	}
	if pendingCookie == nil {
		t.Fatalf("no pending cookie; got %v", r.Cookies())
	}
	page := c.get("/")
	secret := elementAttr(t, page.Body, "secret", "data-value")
	form := formFields(t, page.Body, "/_mfa/enroll/confirm")
	form.Set("code", codeAt(t, secret, g.clock.Now()))
	done := c.postForm("/_mfa/enroll/confirm", form)
	mustStatus(t, done, http.StatusOK)
	var sess *http.Cookie
	for _, ck := range done.Cookies() {
		if ck.Name == "__Host-mfa_session" {
			sess = ck
		}
	}
	if sess == nil {
		t.Fatal("no session cookie")
	}
	if !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Domain != "" {
		t.Errorf("session cookie attributes: %+v", sess)
	}
	if len(sess.String()) > 4096 {
		t.Errorf("session cookie is %d bytes", len(sess.String()))
	}
	if done.Header.Get("Cache-Control") != "no-store" {
		t.Error("page with recovery codes may be cached")
	}
	// The pre-MFA token is dead after MFA.
	replay := g.client()
	replay.jar.SetCookies(mustURL(g.base), []*http.Cookie{{Name: pendingCookie.Name, Value: pendingCookie.Value}})
	p := replay.get("/")
	mustStatus(t, p, http.StatusUnauthorized)
	_, m := replay.api("POST", "verify", map[string]string{"mfa_token": pendingCookie.Value, "code": codeAt(t, secret, g.clock.Now().Add(30*time.Second))})
	if m["error"] != "invalid_token" {
		t.Errorf("used mfa_token: %v", m)
	}
}

func TestAPIEnrollVerifySessionLogout(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	secret, codes, token := c.enrollAPI("bob", "bob-password")
	if len(codes) < 8 {
		t.Fatalf("%d recovery codes", len(codes))
	}

	api := g.client() // no cookies: bearer only
	r := api.get("/data.json", "Authorization", "Bearer "+token)
	mustStatus(t, r, http.StatusOK)
	if got := g.up.last(t).Header.Get("Authorization"); got != "" {
		t.Errorf("our bearer token reached the upstream: %q", got)
	}

	r, m := api.api("GET", "session", nil, "Authorization", "Bearer "+token)
	mustStatus(t, r, http.StatusOK)
	if m["user"] != "bob" || !slices.Contains(toStrings(m["amr"]), "otp") {
		t.Errorf("session: %v", m)
	}
	for _, k := range []string{"auth_time", "mfa_time", "expires_at"} {
		if _, ok := m[k].(float64); !ok {
			t.Errorf("session lacks %s: %v", k, m)
		}
	}

	// Second sign-in: mfa_required lists the factors.
	g.clock.Advance(time.Minute)
	login, lm := api.api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
	mustStatus(t, login, http.StatusAccepted)
	if lm["status"] != "mfa_required" || lm["mfa_token"] == "" || lm["expires_in"].(float64) <= 0 {
		t.Fatalf("login: %v", lm)
	}
	types := []string{}
	for _, f := range lm["factors"].([]any) {
		fm := f.(map[string]any)
		types = append(types, fm["type"].(string))
		if fm["id"] == "" || fm["label"] == "" {
			t.Errorf("factor without id/label: %v", fm)
		}
	}
	if !slices.Contains(types, "totp") || !slices.Contains(types, "recovery_code") {
		t.Errorf("factors: %v", types)
	}
	mfaToken := lm["mfa_token"].(string)
	r, m = api.api("POST", "verify", map[string]string{"mfa_token": mfaToken, "code": "000000"})
	mustStatus(t, r, http.StatusUnauthorized)
	if m["error"] != "invalid_code" {
		t.Errorf("wrong code: %v", m)
	}
	r, m = api.api("POST", "verify", map[string]string{"mfa_token": mfaToken, "code": codeAt(t, secret, g.clock.Now())})
	mustStatus(t, r, http.StatusOK)
	if m["status"] != "authenticated" || m["token_type"] != "Bearer" || m["session_id"] == "" || m["access_token"] == "" {
		t.Errorf("verify: %v", m)
	}
	token2 := m["access_token"].(string)

	// A recovery code through the API reports what is left.
	rcToken := api.loginAPI("bob", "bob-password")
	r, m = api.api("POST", "verify", map[string]any{"mfa_token": rcToken, "recovery_code": strings.ToUpper(codes[3])})
	mustStatus(t, r, http.StatusOK)
	if m["recovery_codes_remaining"] != float64(len(codes)-1) {
		t.Errorf("recovery_codes_remaining = %v", m["recovery_codes_remaining"])
	}

	// Logout with the bearer: 204, then that token is refused; the other
	// session lives on.
	r, _ = api.api("POST", "logout", nil, "Authorization", "Bearer "+token2)
	mustStatus(t, r, http.StatusNoContent)
	r, m = api.api("GET", "session", nil, "Authorization", "Bearer "+token2)
	mustStatus(t, r, http.StatusUnauthorized)
	if m["error"] != "authentication_required" {
		t.Errorf("after logout: %v", m)
	}
	gone := api.get("/data.json", "Authorization", "Bearer "+token2, "Accept", "application/json")
	mustStatus(t, gone, http.StatusUnauthorized)
	mustStatus(t, api.get("/data.json", "Authorization", "Bearer "+token), http.StatusOK)
}

func TestJSONClientsGetJSON401(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	req, _ := http.NewRequest("GET", g.base+"/api/items", nil)
	req.Header.Set("Accept", "application/json")
	r := c.do(req)
	mustStatus(t, r, http.StatusUnauthorized)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || !strings.Contains(r.Body, `"error":"authentication_required"`) {
		t.Errorf("JSON 401: %s %s", r.Header.Get("Content-Type"), r.Body)
	}
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Error("no WWW-Authenticate")
	}
	for _, m := range []string{"HEAD", "OPTIONS", "DELETE"} {
		req, _ := http.NewRequest(m, g.base+"/x", nil)
		mustStatus(t, c.do(req), http.StatusUnauthorized)
	}
	ws, _ := http.NewRequest("GET", g.base+"/socket", nil)
	ws.Header.Set("Connection", "Upgrade")
	ws.Header.Set("Upgrade", "websocket")
	ws.Header.Set("Sec-WebSocket-Version", "13")
	ws.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	mustStatus(t, c.do(ws), http.StatusUnauthorized)
	if g.up.count() != 0 {
		t.Errorf("upstream reached %d times without a session", g.up.count())
	}
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestSecondsUntil: expires_in is whole seconds rounded up, so a token
// read a moment after it was issued still shows its full lifetime (300,
// not 299), and never a negative number.
func TestSecondsUntil(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		exp, at time.Time
		want    int
	}{
		{now.Add(5 * time.Minute), now, 300},
		{now.Add(5 * time.Minute), now.Add(time.Microsecond), 300},
		{now.Add(5 * time.Minute), now.Add(999 * time.Millisecond), 300},
		{now.Add(5 * time.Minute), now.Add(time.Second), 299},
		{now.Add(500 * time.Millisecond), now, 1},
		{now, now, 0},
		{now, now.Add(time.Second), 0},
	} {
		if got := secondsUntil(tc.exp, tc.at); got != tc.want {
			t.Errorf("secondsUntil(%v after) = %d, want %d", tc.exp.Sub(tc.at), got, tc.want)
		}
	}
}
