package caddymfa

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// secrets collects every value that must never reach a log line.
type secrets map[string]string

func (s secrets) add(name, value string) {
	if value != "" {
		s[name+" "+fmt.Sprint(len(s))] = value
	}
}

// addToken adds a JWT and, on its own, its signature: a log line that
// kept only part of a token still leaks it.
func (s secrets) addToken(name, tok string) {
	s.add(name, tok)
	if i := strings.LastIndexByte(tok, '.'); i >= 0 && len(tok)-i > 20 {
		s.add(name+" signature", tok[i+1:])
	}
}

func (s secrets) addCookies(c *client) {
	for _, ck := range c.jar.Cookies(mustURL(c.g.base)) {
		s.add("cookie "+ck.Name, ck.Value)
	}
}

func (s secrets) addRecoveryCodes(codes []string) {
	for _, c := range codes {
		s.add("recovery code", c)
		s.add("recovery code without dashes", strings.ReplaceAll(c, "-", ""))
		s.add("recovery code upper case", strings.ToUpper(c))
	}
}

// checkLogs fails for every secret found in the log. Six-digit codes
// count only as whole numbers, not inside timestamps or durations.
func checkLogs(t *testing.T, logs string, s secrets, codes []string) {
	t.Helper()
	for name, v := range s {
		if strings.Contains(logs, v) {
			t.Errorf("the log contains a %s", name)
		}
	}
	for _, c := range codes {
		if regexp.MustCompile(`(^|[^0-9.])` + c + `([^0-9]|$)`).MatchString(logs) {
			t.Errorf("the log contains the code %s", c)
		}
	}
}

// SECURITY.md item 37, across every kind of flow: browser and API, right
// and wrong answers, bad input, lockouts, admin calls, a store outage;
// with Caddy's access log on.
func TestNoSecretInAnyLogLine(t *testing.T) {
	og := startOpsGateway(t, defaultMFA(t)+"\n\tlog", opsOptions{admin: true})
	g := og.gateway
	s := secrets{"master secret": testSecret}
	s.add("password", "alice-password")
	s.add("password", "bob-password")
	var codes []string

	// Browser: enroll, sign out, sign in with a wrong and a right code, a
	// recovery code.
	br := g.client()
	secretA, codesA := br.enrollBrowser("/", "alice", "alice-password")
	s.add("TOTP secret", secretA)
	s.addRecoveryCodes(codesA)
	s.addCookies(br)
	out := br.get("/_mfa/logout")
	br.postForm("/_mfa/logout", formFields(t, out.Body, "/_mfa/logout"))
	g.clock.Advance(time.Minute)
	br2 := g.client()
	br2.signInBrowser("/", "alice", "alice-password")
	s.addCookies(br2) // the pending cookie
	challenge := br2.get("/")
	br2.postForm("/_mfa/verify", with2(formFields(t, challenge.Body, "/_mfa/verify"), "code", "314159"))
	right := codeAt(t, secretA, g.clock.Now())
	mustStatus(t, br2.postForm("/_mfa/verify", with2(formFields(t, challenge.Body, "/_mfa/verify"), "code", right)), http.StatusSeeOther)
	s.addCookies(br2)
	codes = append(codes, "314159", right)
	mustStatus(t, g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"recovery_code": {codesA[0]}}), http.StatusOK)

	// API: enroll, wrong and right codes, a recovery code, session renewal,
	// step-up, logout.
	api := g.client()
	secretB, codesB, tokB := api.enrollAPI("bob", "bob-password")
	s.add("TOTP secret", secretB)
	s.addRecoveryCodes(codesB)
	s.addToken("access token", tokB)
	g.clock.Advance(time.Minute)
	mfaTok := api.loginAPI("bob", "bob-password")
	s.addToken("mfa_token", mfaTok)
	api.api("POST", "verify", map[string]string{"mfa_token": mfaTok, "code": "271828"})
	right = codeAt(t, secretB, g.clock.Now())
	_, m := api.api("POST", "verify", map[string]string{"mfa_token": mfaTok, "code": right})
	s.addToken("access token", m["access_token"].(string))
	codes = append(codes, "271828", right)
	rcTok := api.loginAPI("bob", "bob-password")
	s.addToken("mfa_token", rcTok)
	api.api("POST", "verify", map[string]string{"mfa_token": rcTok, "recovery_code": codesB[1]})
	_, m = api.api("GET", "session", nil, "Authorization", "Bearer "+tokB)
	s.addToken("renewed token", m["access_token"].(string))
	g.clock.Advance(time.Minute)
	stepUp := codeAt(t, secretB, g.clock.Now())
	codes = append(codes, stepUp)
	api.api("POST", "verify", map[string]string{"code": stepUp}, "Authorization", "Bearer "+tokB)
	api.api("POST", "logout", nil, "Authorization", "Bearer "+tokB)

	// Bad input and refusals, each carrying a distinctive secret.
	bad := g.client()
	s.add("password", "canary-password-1618")
	bad.api("POST", "login", map[string]string{"username": "alice", "password": "canary-password-1618"})
	s.add("password", "canary-json-2718")
	bad.api("POST", "login", `{"username":"alice","password":"canary-json-2718"`)
	s.add("password", "canary-unknown-field-1414")
	bad.api("POST", "login", `{"username":"alice","password":"canary-unknown-field-1414","x":1}`)
	s.add("password", "canary-form-1732")
	bad.postForm("/_mfa/login", url.Values{"username": {"alice"}, "password": {"canary-form-1732"}, "csrf_token": {"forged"}})
	s.add("password", "canary-cross-site-2236")
	bad.api("POST", "login", map[string]string{"username": "alice", "password": "canary-cross-site-2236"}, "Sec-Fetch-Site", "cross-site")
	s.add("password", "canary-unknown-user-3162")
	bad.api("POST", "login", map[string]string{"username": "mallory", "password": "canary-unknown-user-3162"})
	s.add("bearer", "canary-bearer-value-2645")
	bad.get("/", "Authorization", "Bearer canary-bearer-value-2645", "Cookie", "__Host-mfa_session=canary-cookie-value-1234")
	s.add("cookie", "canary-cookie-value-1234")

	// Lockout: five wrong codes, then a refused right one.
	lockTok := api.loginAPI("alice", "alice-password")
	for _, c := range []string{"111111", "222222", "333333", "444444", "555555"} {
		api.api("POST", "verify", map[string]string{"mfa_token": lockTok, "code": c})
	}
	g.clock.Advance(time.Minute)
	locked := codeAt(t, secretA, g.clock.Now())
	codes = append(codes, locked)
	api.api("POST", "verify", map[string]string{"mfa_token": lockTok, "code": locked})

	// Admin calls, then a store outage.
	og.adminCall("GET", "/mfa/users/alice")
	og.adminCall("POST", "/mfa/users/alice/unlock")
	og.adminCall("POST", "/mfa/users/bob/reset")
	g.backendFor(t).Store.Close()
	g.client().api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
	g.client().signInBrowser("/", "alice", "alice-password")

	logs := g.logs()
	for _, want := range []string{`"logger":"http.log.access`, `"logger":"http.handlers.mfa.audit"`, `"logger":"admin.api"`, `"level":"error"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log has no %s line: the scan would prove little", want)
		}
	}
	checkLogs(t, logs, s, codes)
}

// SECURITY.md item 38: every audit event that exists today names the
// user, client IP, factor (where one is involved), outcome, request ID and
// the time in UTC.
func TestAuditEventsCarryTheirFields(t *testing.T) {
	og := startOpsGateway(t, defaultMFA(t), opsOptions{admin: true})
	g := og.gateway
	c := g.client()
	secret, codes, tok := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)
	mfaTok := c.loginAPI("alice", "alice-password")
	c.api("POST", "verify", map[string]string{"mfa_token": mfaTok, "code": "000000"})
	c.api("POST", "verify", map[string]string{"mfa_token": mfaTok, "recovery_code": "0000-0000-0000"})
	c.api("POST", "verify", map[string]string{"mfa_token": mfaTok, "code": codeAt(t, secret, g.clock.Now())})
	c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("alice", "alice-password"), "recovery_code": codes[0]})
	g.clock.Advance(time.Minute)
	c.api("POST", "verify", map[string]string{"code": codeAt(t, secret, g.clock.Now())}, "Authorization", "Bearer "+tok)
	c.api("POST", "logout", nil, "Authorization", "Bearer "+tok)

	// bob: a failed enrollment confirmation, then the hard cap.
	r, m := c.api("POST", "login", map[string]string{"username": "bob", "password": "bob-password"})
	mustStatus(t, r, http.StatusAccepted)
	bobTok := m["mfa_token"].(string)
	_, m = c.api("POST", "enroll/totp", map[string]string{"mfa_token": bobTok})
	bobSecret, factorID := m["secret"].(string), m["factor_id"].(string)
	c.api("POST", "enroll/totp/confirm", map[string]string{"mfa_token": bobTok, "factor_id": factorID, "code": "000000"})
	c.api("POST", "enroll/totp/confirm", map[string]string{"mfa_token": bobTok, "factor_id": factorID, "code": codeAt(t, bobSecret, g.clock.Now())})
	g.clock.Advance(time.Minute)
	bobTok = c.loginAPI("bob", "bob-password")
	for range 100 {
		c.api("POST", "verify", map[string]string{"mfa_token": bobTok, "code": "000000"})
	}
	g.clock.Advance(2 * time.Hour)
	c.api("POST", "verify", map[string]string{"mfa_token": c.loginAPI("bob", "bob-password"), "code": codeAt(t, bobSecret, g.clock.Now())})
	og.adminCall("POST", "/mfa/users/bob/unlock")
	og.adminCall("POST", "/mfa/users/bob/reset")

	// Password lock of one name, then the client IP lock (counters of
	// the first factor and the IP are forgotten after a quiet day).
	g.clock.Advance(25 * time.Hour)
	for range 6 {
		c.api("POST", "login", map[string]string{"username": "alice", "password": "wrong"})
	}
	g.clock.Advance(25 * time.Hour)
	for i := range 21 {
		c.api("POST", "login", map[string]string{"username": fmt.Sprintf("user%d", i), "password": "wrong"})
	}
	r, m = c.api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("no IP lock: %d %v", r.StatusCode, m)
	}

	seen := map[string]bool{}
	withFactor := map[string]bool{"signin": true, "challenge": true, "recovery_code_used": true, "enrollment_started": true, "enrollment": true, "lockout": true, "step_up": true}
	for _, e := range og.auditEvents() {
		event, _ := e["event"].(string)
		outcome, _ := e["outcome"].(string)
		key := event + "/" + outcome
		if seen[key] {
			continue
		}
		seen[key] = true
		if user, _ := e["user"].(string); user == "" {
			t.Errorf("%s: no user: %v", key, e)
		}
		if ip, _ := e["client_ip"].(string); net.ParseIP(ip) == nil {
			t.Errorf("%s: client_ip %q is not an IP", key, ip)
		}
		if f, _ := e["factor"].(string); withFactor[event] && f == "" {
			t.Errorf("%s: no factor: %v", key, e)
		}
		if outcome == "" {
			t.Errorf("%s: no outcome", key)
		}
		if id, _ := e["request_id"].(string); id == "" {
			t.Errorf("%s: no request_id", key)
		}
		if at, ok := auditTime(e["time"]); !ok || at.Location() != time.UTC {
			t.Errorf("%s: time %v is not UTC", key, e["time"])
		}
	}
	for _, k := range []string{
		"signin/success", "signin/failure", "challenge/success", "challenge/failure", "recovery_code_used/success",
		"enrollment_started/success", "enrollment/success", "enrollment/failure", "step_up/success", "logout/success",
		"lockout/locked", "lockout/hard_locked", "lockout/user_locked", "lockout/ip_locked",
		"admin_unlock/success", "admin_reset/success",
	} {
		if !seen[k] {
			t.Errorf("no %s audit event", k)
		}
	}
}

// auditTime reads the time field as Caddy's JSON encoder writes it.
func auditTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		at, err := time.Parse(time.RFC3339Nano, x)
		if err != nil || !strings.HasSuffix(x, "Z") {
			return time.Time{}, false
		}
		return at.UTC(), true
	case float64:
		return time.Unix(0, int64(x*1e9)).UTC(), true
	}
	return time.Time{}, false
}
