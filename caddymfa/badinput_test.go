package caddymfa

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// storeSnapshot is what a bad request must leave untouched.
type storeSnapshot struct {
	Factors  []store.FactorRecord
	Codes    int
	Attempts map[string]store.Attempt
}

func (g *gateway) snapshot(t *testing.T, user string) storeSnapshot {
	t.Helper()
	b := g.backendFor(t)
	ctx := context.Background()
	h := &Handler{ring: mustRing(t)}
	fs, err := b.Factors(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.RecoveryCodesLeft(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	att := map[string]store.Attempt{}
	for _, k := range []string{h.attemptKey("mfa", user), h.attemptKey("pwd", user), h.ipKey("127.0.0.1"), h.ipKey("::1")} {
		a, err := b.Attempts(ctx, k, g.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		att[k] = a
	}
	return storeSnapshot{Factors: fs, Codes: n, Attempts: att}
}

func TestBadAPIInputGetsClear4xxAndChangesNothing(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)
	mfaToken := c.loginAPI("alice", "alice-password")
	before := g.snapshot(t, "alice")

	otherRing, _ := keys.NewRing("another-secret-0123456789-abcdefghijklmnopqrstuv")
	forger, _ := newTokenCodec(otherRing, g.clock.Now)
	forged, _ := forger.issuePending(pending{User: "alice", ID: "x", Audience: "localhost", ExpiresAt: g.clock.Now().Add(time.Minute), AuthTime: g.clock.Now()}, g.clock.Now())
	noneToken := jwtNone(t, `{"alg":"none","typ":"mfa-pending+jwt"}`, `{"sub":"alice","jti":"x","aud":["localhost"],"exp":9999999999,"iat":1,"auth_time":1}`)
	noneTokenUpper := jwtNone(t, `{"alg":"NONE","typ":"mfa-pending+jwt"}`, `{"sub":"alice","jti":"x","aud":["localhost"],"exp":9999999999,"iat":1,"auth_time":1}`)
	stripped := token[:strings.LastIndex(token, ".")+1]
	huge := `{"username":"` + strings.Repeat("a", 8<<20) + `","password":"x"}`

	cases := []struct {
		name   string
		call   string
		body   any
		ctype  string
		status int
		code   string
	}{
		{"malformed JSON", "login", `{"username":`, "", 400, "invalid_request"},
		{"not an object", "login", `[1,2,3]`, "", 400, "invalid_request"},
		{"two objects", "login", `{"username":"a","password":"b"}{}`, "", 400, "invalid_request"},
		{"unknown field", "login", `{"username":"alice","password":"x","admin":true}`, "", 400, "invalid_request"},
		{"wrong type", "verify", `{"mfa_token":1,"code":"123456"}`, "", 400, "invalid_request"},
		{"empty body", "login", ``, "", 400, "invalid_request"},
		{"8 MiB body", "login", huge, "", 413, "request_too_large"},
		{"form content type", "login", `username=alice&password=x`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"missing credentials", "login", `{}`, "", 400, "invalid_request"},
		{"letters in code", "verify", map[string]string{"mfa_token": mfaToken, "code": "12ab56"}, "", 400, "invalid_request"},
		{"short code", "verify", map[string]string{"mfa_token": mfaToken, "code": "123"}, "", 400, "invalid_request"},
		{"huge code", "verify", map[string]string{"mfa_token": mfaToken, "code": strings.Repeat("1", 10000)}, "", 400, "invalid_request"},
		{"unicode digits", "verify", map[string]string{"mfa_token": mfaToken, "code": "١٢٣٤٥٦"}, "", 400, "invalid_request"},
		{"both codes", "verify", map[string]string{"mfa_token": mfaToken, "code": "123456", "recovery_code": "aaaa-bbbb-cccc"}, "", 400, "invalid_request"},
		{"no code", "verify", map[string]string{"mfa_token": mfaToken}, "", 400, "invalid_request"},
		{"garbage recovery code", "verify", map[string]string{"mfa_token": mfaToken, "recovery_code": "<script>"}, "", 400, "invalid_request"},
		{"garbage mfa_token", "verify", map[string]string{"mfa_token": "garbage", "code": "123456"}, "", 401, "invalid_token"},
		{"alg none mfa_token", "verify", map[string]string{"mfa_token": noneToken, "code": "123456"}, "", 401, "invalid_token"},
		{"alg NONE mfa_token", "verify", map[string]string{"mfa_token": noneTokenUpper, "code": "123456"}, "", 401, "invalid_token"},
		{"forged mfa_token", "verify", map[string]string{"mfa_token": forged, "code": "123456"}, "", 401, "invalid_token"},
		{"session as mfa_token", "verify", map[string]string{"mfa_token": token, "code": "123456"}, "", 401, "invalid_token"},
		{"stripped signature", "verify", map[string]string{"mfa_token": stripped, "code": "123456"}, "", 401, "invalid_token"},
		{"enroll with session token", "enroll/totp", map[string]string{"mfa_token": token}, "", 401, "invalid_token"},
		{"enroll when enrolled", "enroll/totp", map[string]string{"mfa_token": mfaToken}, "", 409, "enrollment_not_allowed"},
		{"confirm unknown factor", "enroll/totp/confirm", map[string]string{"mfa_token": mfaToken, "factor_id": "nope", "code": "123456"}, "", 404, "enrollment_not_found"},
		{"unknown call", "admin", `{}`, "", 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Expect: 100-continue, as curl sends for large bodies: a
			// refused upload is never sent.
			hdr := []string{"Expect", "100-continue"}
			if tc.ctype != "" {
				hdr = append(hdr, "Content-Type", tc.ctype)
			}
			r, m := c.api("POST", tc.call, tc.body, hdr...)
			if r.StatusCode != tc.status || m["error"] != tc.code {
				t.Fatalf("status %d %v, want %d %s", r.StatusCode, m, tc.status, tc.code)
			}
			if msg, _ := m["message"].(string); len(msg) < 10 {
				t.Errorf("no useful message: %v", m)
			}
		})
	}
	// Not even the confirm of an unknown factor counts as an attempt: no
	// code is looked at without the setup it is for.
	after := g.snapshot(t, "alice")
	if !reflect.DeepEqual(before, after) {
		t.Errorf("store changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if strings.Contains(g.logs(), `"level":"error"`) {
		t.Errorf("bad input logged errors:\n%s", g.logs())
	}
}

func TestGarbageSessionTokensAreRefused(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	parts := strings.Split(token, ".")
	otherRing, _ := keys.NewRing("another-secret-0123456789-abcdefghijklmnopqrstuv")
	forger, _ := newTokenCodec(otherRing, g.clock.Now)
	now := g.clock.Now()
	forged, _ := forger.issueSession(session{User: "alice", SID: "s", Audience: "localhost", IssuedAt: now, ExpiresAt: now.Add(time.Hour), AuthTime: now, MFAVerified: true})
	wrongAud, _ := testCodec(t, g).issueSession(session{User: "alice", SID: "s", Audience: "other.example", IssuedAt: now, ExpiresAt: now.Add(time.Hour), AuthTime: now, MFAVerified: true})
	for name, tok := range map[string]string{
		"garbage":            "garbage",
		"empty segments":     "..",
		"alg none":           jwtNone(t, `{"alg":"none","typ":"mfa-session+jwt"}`, `{"sub":"alice","sid":"s","aud":["localhost"],"exp":9999999999,"iat":1,"auth_time":1,"mfa_verified":true}`),
		"stripped":           parts[0] + "." + parts[1] + ".",
		"tampered claims":    parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`)) + "." + parts[2],
		"forged key":         forged,
		"other audience":     wrongAud,
		"huge kid":           jwtNone(t, `{"alg":"HS256","kid":"`+strings.Repeat("k", 10000)+`"}`, `{}`),
		"path traversal kid": jwtNone(t, `{"alg":"HS256","kid":"../../etc/passwd"}`, `{}`),
	} {
		t.Run(name, func(t *testing.T) {
			// A fresh client: no session cookie to fall back on.
			r := g.client().get("/", "Authorization", "Bearer "+tok, "Accept", "application/json")
			mustStatus(t, r, http.StatusUnauthorized)
			if !strings.Contains(r.Body, "authentication_required") {
				t.Errorf("body %s", r.Body)
			}
		})
	}
}

// testCodec builds a codec on the test secret.
func testCodec(t *testing.T, g *gateway) *tokenCodec {
	tc, err := newTokenCodec(mustRing(t), g.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// jwtNone builds an unsigned token from raw header and claims JSON.
func jwtNone(t *testing.T, header, claims string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + "."
}

func TestFormsNeedCSRFTokenAndSameOrigin(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	page := c.get("/")
	form := formFields(t, page.Body, "/_mfa/login")
	form.Set("username", "alice")
	form.Set("password", "alice-password")

	noToken := cloneValues(form)
	noToken.Del("csrf_token")
	mustStatus(t, c.postForm("/_mfa/login", noToken), http.StatusForbidden)
	badToken := cloneValues(form)
	badToken.Set("csrf_token", "AAAA")
	mustStatus(t, c.postForm("/_mfa/login", badToken), http.StatusForbidden)
	// Another browser's token does not fit this browser's cookie.
	other := g.client()
	otherForm := formFields(t, other.get("/").Body, "/_mfa/login")
	stolen := cloneValues(form)
	stolen.Set("csrf_token", otherForm.Get("csrf_token"))
	mustStatus(t, c.postForm("/_mfa/login", stolen), http.StatusForbidden)
	// Cross-origin posts are refused even with a valid token.
	mustStatus(t, c.postForm("/_mfa/login", form, "Origin", "https://evil.test", "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	// GET never signs in.
	mustStatus(t, c.get("/_mfa/login?username=alice&password=alice-password"), http.StatusOK)
	if c.cookie("__Host-mfa_pending") != nil {
		t.Fatal("GET started a sign-in")
	}
	// The real thing works.
	mustStatus(t, c.postForm("/_mfa/login", form), http.StatusSeeOther)
	// The JSON API refuses cross-site browser calls too.
	r, m := c.api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.test")
	if r.StatusCode != http.StatusForbidden || m["error"] != "csrf_failed" {
		t.Errorf("cross-site API call: %d %v", r.StatusCode, m)
	}
	if g.up.count() != 0 {
		t.Error("a reserved route reached the upstream")
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vals := range v {
		out[k] = append([]string(nil), vals...)
	}
	return out
}
