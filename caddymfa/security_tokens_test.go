package caddymfa

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
)

// SECURITY.md items 20–24 at the unit level: tokens are built byte by
// byte here, so every header and claim is the attacker's choice.

var labNow = time.Unix(1_800_000_000, 0)

// tokenKind is one of our token kinds with a valid header and claims.
type tokenKind struct {
	name   string
	typ    string
	claims func() map[string]any
	parse  func(tc *tokenCodec, raw string) error
}

var tokenKinds = []tokenKind{
	{
		name: "session", typ: typSession,
		claims: func() map[string]any {
			return map[string]any{"sub": "alice", "sid": "sid-1", "aud": []string{"localhost"}, "iat": labNow.Unix(),
				"exp": labNow.Add(10 * time.Minute).Unix(), "auth_time": labNow.Unix(), "mfa_time": labNow.Unix(),
				"amr": []string{"pwd", "otp", "mfa"}, "mfa_verified": true}
		},
		parse: func(tc *tokenCodec, raw string) error { _, err := tc.parseSession(raw, "localhost"); return err },
	},
	{
		name: "mfa_token", typ: typPending,
		claims: func() map[string]any {
			return map[string]any{"sub": "alice", "jti": "jti-1", "aud": []string{"localhost"}, "iat": labNow.Unix(),
				"exp": labNow.Add(5 * time.Minute).Unix(), "auth_time": labNow.Unix(), "amr": []string{"pwd"}}
		},
		parse: func(tc *tokenCodec, raw string) error { _, err := tc.parsePending(raw, "localhost"); return err },
	},
}

func labCodec(t *testing.T, ring *keys.Ring) *tokenCodec {
	t.Helper()
	tc, err := newTokenCodec(ring, func() time.Time { return labNow })
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func (k tokenKind) header(tc *tokenCodec) map[string]any {
	return map[string]any{"alg": "HS256", "typ": k.typ, "kid": tc.current}
}

func b64(data []byte) string { return base64.RawURLEncoding.EncodeToString(data) }

func jsonPart(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(data)
}

// mint assembles header.claims.signature, where sign sees the signing
// input (nil: an empty signature).
func mint(t *testing.T, header, claims map[string]any, sign func(input string) []byte) string {
	t.Helper()
	input := jsonPart(t, header) + "." + jsonPart(t, claims)
	var sig []byte
	if sign != nil {
		sig = sign(input)
	}
	return input + "." + b64(sig)
}

func macWith(h func() hash.Hash, key []byte) func(string) []byte {
	return func(input string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := maps.Clone(m)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

type tokenCase struct {
	name string
	raw  string
}

func mustRefuse(t *testing.T, k tokenKind, tc *tokenCodec, cases []tokenCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(k.name+"/"+c.name, func(t *testing.T) {
			if err := k.parse(tc, c.raw); err == nil {
				t.Fatalf("accepted %.200s", c.raw)
			}
		})
	}
}

func mustAccept(t *testing.T, k tokenKind, tc *tokenCodec, name, raw string) {
	t.Helper()
	if err := k.parse(tc, raw); err != nil {
		t.Fatalf("%s/%s: a good token is refused (the refusals prove nothing): %v", k.name, name, err)
	}
}

func TestTokensOnlyHS256WithOurKey(t *testing.T) {
	tc := labCodec(t, mustRing(t))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	for _, k := range tokenKinds {
		key := tc.keys[k.typ][tc.current]
		head, claims := k.header(tc), k.claims()
		good := mint(t, head, claims, macWith(sha256.New, key))
		mustAccept(t, k, tc, "baseline", good)
		parts := strings.Split(good, ".")
		signedWith := func(m jwt.SigningMethod, signKey any) string {
			tok := jwt.NewWithClaims(m, jwt.MapClaims(claims))
			maps.Copy(tok.Header, with(head, "alg", m.Alg()))
			s, err := tok.SignedString(signKey)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		cases := []tokenCase{
			{"empty signature", parts[0] + "." + parts[1] + "."},
			{"stripped signature", parts[0] + "." + parts[1]},
			{"signature of other claims", parts[0] + "." + jsonPart(t, with(claims, "sub", "admin")) + "." + parts[2]},
			{"truncated signature", good[:len(good)-4]},
			{"no alg", mint(t, with(head, "alg", nil), claims, macWith(sha256.New, key))},
			{"HS384 with our key", mint(t, with(head, "alg", "HS384"), claims, macWith(sha512.New384, key))},
			{"HS512 with our key", mint(t, with(head, "alg", "HS512"), claims, macWith(sha512.New, key))},
			{"RS256", signedWith(jwt.SigningMethodRS256, rsaKey)},
			{"PS256", signedWith(jwt.SigningMethodPS256, rsaKey)},
			{"ES256", signedWith(jwt.SigningMethodES256, ecKey)},
			{"HS256 keyed with public-key PEM", mint(t, head, claims, macWith(sha256.New, pubPEM))},
			{"HS256 keyed with public-key DER", mint(t, head, claims, macWith(sha256.New, pubDER))},
			{"RS256 header, HMAC with public key", mint(t, with(head, "alg", "RS256"), claims, macWith(sha256.New, pubPEM))},
		}
		for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
			cases = append(cases,
				tokenCase{"alg " + alg, mint(t, with(head, "alg", alg), claims, nil)},
				tokenCase{"alg " + alg + " with our signature", mint(t, with(head, "alg", alg), claims, macWith(sha256.New, key))},
			)
		}
		mustRefuse(t, k, tc, cases)
	}
}

func TestTokenHeadersNeverChooseTheKey(t *testing.T) {
	tc := labCodec(t, mustRing(t))
	attacker := []byte("attacker-chosen-key-0123456789-abcdef")
	for name, key := range tc.keys[typSession] {
		if len(key) < 32 {
			t.Errorf("session key %s is %d bits", name, len(key)*8)
		}
	}
	for name, key := range tc.keys[typPending] {
		if len(key) < 32 {
			t.Errorf("mfa_token key %s is %d bits", name, len(key)*8)
		}
	}
	for _, k := range tokenKinds {
		ours := tc.keys[k.typ][tc.current]
		head, claims := k.header(tc), k.claims()
		jwk := map[string]any{"kty": "oct", "k": b64(attacker)}
		embedded := map[string]any{
			"jwk": jwk,
			"jku": "https://evil.test/jwks.json",
			"x5u": "https://evil.test/cert.pem",
			"x5c": []string{base64.StdEncoding.EncodeToString([]byte("not a certificate"))},
		}
		var cases []tokenCase
		for h, v := range embedded {
			// Signed with the key the header offers: refused.
			cases = append(cases, tokenCase{h + " header, attacker's key", mint(t, with(head, h, v), claims, macWith(sha256.New, attacker))})
			// Signed by us: the header is ignored, not obeyed.
			mustAccept(t, k, tc, h+" header ignored", mint(t, with(head, h, v), claims, macWith(sha256.New, ours)))
		}
		for name, kid := range map[string]any{
			"path traversal": "../../../../dev/null",
			"absolute path":  "/etc/passwd",
			"SQL":            "' OR '1'='1' --",
			"10 kB":          strings.Repeat("k", 10<<10),
			"empty":          "",
			"NUL":            tc.current + "\x00",
			"number":         1,
			"object":         map[string]any{"kid": tc.current},
			"missing":        nil,
			"case changed":   strings.ToUpper(tc.current),
		} {
			h := with(head, "kid", kid)
			cases = append(cases,
				tokenCase{"kid " + name + ", our key", mint(t, h, claims, macWith(sha256.New, ours))},
				tokenCase{"kid " + name + ", empty key", mint(t, h, claims, macWith(sha256.New, nil))},
				tokenCase{"kid " + name + ", attacker's key", mint(t, h, claims, macWith(sha256.New, attacker))},
			)
		}
		mustRefuse(t, k, tc, cases)
	}
}

func TestTokenTimeClaimsWithinLeeway(t *testing.T) {
	if tokenLeeway > 60*time.Second {
		t.Fatalf("leeway %v exceeds 60 s", tokenLeeway)
	}
	tc := labCodec(t, mustRing(t))
	in := func(d time.Duration) int64 { return labNow.Add(d).Unix() }
	edge := tokenLeeway
	for _, k := range tokenKinds {
		head, claims := k.header(tc), k.claims()
		sign := macWith(sha256.New, tc.keys[k.typ][tc.current])
		for name, c := range map[string]map[string]any{
			"exp just inside leeway": with(claims, "exp", in(-edge+time.Second)),
			"nbf just inside leeway": with(claims, "nbf", in(edge-time.Second)),
			"iat just inside leeway": with(claims, "iat", in(edge-time.Second)),
		} {
			mustAccept(t, k, tc, name, mint(t, head, c, sign))
		}
		mustRefuse(t, k, tc, []tokenCase{
			{"no exp", mint(t, head, with(claims, "exp", nil), sign)},
			{"exp at leeway", mint(t, head, with(claims, "exp", in(-edge)), sign)},
			{"exp past leeway", mint(t, head, with(claims, "exp", in(-edge-time.Second)), sign)},
			{"exp long past", mint(t, head, with(claims, "exp", in(-24*time.Hour)), sign)},
			{"nbf past leeway", mint(t, head, with(claims, "nbf", in(edge+time.Second)), sign)},
			{"iat past leeway", mint(t, head, with(claims, "iat", in(edge+time.Second)), sign)},
			{"iat next year", mint(t, head, with(claims, "iat", in(365*24*time.Hour)), sign)},
		})
	}
	// A session must say when it was issued (revocation compares it).
	k := tokenKinds[0]
	mustRefuse(t, k, tc, []tokenCase{{"no iat", mint(t, k.header(tc), with(k.claims(), "iat", nil), macWith(sha256.New, tc.keys[typSession][tc.current]))}})
}

func TestTokenKindsAndAudiencesNeverCross(t *testing.T) {
	tc := labCodec(t, mustRing(t))
	sessionKey, pendingKey := tc.keys[typSession][tc.current], tc.keys[typPending][tc.current]
	sess, pend := tokenKinds[0], tokenKinds[1]
	issuedSession, err := tc.issueSession(session{User: "alice", SID: "s", Audience: "localhost", IssuedAt: labNow,
		ExpiresAt: labNow.Add(time.Hour), AuthTime: labNow, MFAVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	issuedPending, err := tc.issuePending(pending{User: "alice", ID: "j", Audience: "localhost", ExpiresAt: labNow.Add(time.Minute), AuthTime: labNow}, labNow)
	if err != nil {
		t.Fatal(err)
	}
	mustAccept(t, sess, tc, "issued", issuedSession)
	mustAccept(t, pend, tc, "issued", issuedPending)
	// Claims valid for both kinds, so only typ and key tell them apart.
	both := with(sess.claims(), "jti", "j")
	mustRefuse(t, sess, tc, []tokenCase{
		{"an issued mfa_token", issuedPending},
		{"session typ, mfa_token key", mint(t, sess.header(tc), both, macWith(sha256.New, pendingKey))},
		{"mfa_token typ, session key", mint(t, pend.header(tc), both, macWith(sha256.New, sessionKey))},
		{"no typ", mint(t, with(sess.header(tc), "typ", nil), both, macWith(sha256.New, sessionKey))},
		{"typ JWT", mint(t, with(sess.header(tc), "typ", "JWT"), both, macWith(sha256.New, sessionKey))},
		{"other audience", mint(t, sess.header(tc), with(both, "aud", []string{"other.example"}), macWith(sha256.New, sessionKey))},
		{"audience as a suffix", mint(t, sess.header(tc), with(both, "aud", "evil-localhost"), macWith(sha256.New, sessionKey))},
		{"no audience", mint(t, sess.header(tc), with(both, "aud", nil), macWith(sha256.New, sessionKey))},
		{"no sub", mint(t, sess.header(tc), with(both, "sub", nil), macWith(sha256.New, sessionKey))},
		{"no sid", mint(t, sess.header(tc), with(both, "sid", nil), macWith(sha256.New, sessionKey))},
		{"no auth_time", mint(t, sess.header(tc), with(both, "auth_time", nil), macWith(sha256.New, sessionKey))},
	})
	mustRefuse(t, pend, tc, []tokenCase{
		{"an issued session", issuedSession},
		{"mfa_token typ, session key", mint(t, pend.header(tc), both, macWith(sha256.New, sessionKey))},
		{"session typ, mfa_token key", mint(t, sess.header(tc), both, macWith(sha256.New, pendingKey))},
		{"other audience", mint(t, pend.header(tc), with(both, "aud", []string{"other.example"}), macWith(sha256.New, pendingKey))},
		{"no jti", mint(t, pend.header(tc), with(both, "jti", nil), macWith(sha256.New, pendingKey))},
		{"no sub", mint(t, pend.header(tc), with(both, "sub", nil), macWith(sha256.New, pendingKey))},
	})
}

func TestTokenKeyRotation(t *testing.T) {
	oldSecret, newSecret := testSecret, "rotated-secret-0123456789-abcdefghijklmnopqrstuvw"
	ring := func(secrets ...string) *keys.Ring {
		r, err := keys.NewRing(secrets...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	before, during, after := labCodec(t, ring(oldSecret)), labCodec(t, ring(newSecret, oldSecret)), labCodec(t, ring(newSecret))
	issue := func(tc *tokenCodec) (string, string) {
		s, err := tc.issueSession(session{User: "alice", SID: "s", Audience: "localhost", IssuedAt: labNow, ExpiresAt: labNow.Add(time.Hour), AuthTime: labNow})
		if err != nil {
			t.Fatal(err)
		}
		p, err := tc.issuePending(pending{User: "alice", ID: "j", Audience: "localhost", ExpiresAt: labNow.Add(time.Minute), AuthTime: labNow}, labNow)
		if err != nil {
			t.Fatal(err)
		}
		return s, p
	}
	oldSession, oldPending := issue(before)
	newSession, newPending := issue(during)
	sess, pend := tokenKinds[0], tokenKinds[1]
	// Old kid accepted until retired, then refused.
	mustAccept(t, sess, during, "old kid during rotation", oldSession)
	mustAccept(t, pend, during, "old kid during rotation", oldPending)
	mustRefuse(t, sess, after, []tokenCase{{"old kid after retirement", oldSession}})
	mustRefuse(t, pend, after, []tokenCase{{"old kid after retirement", oldPending}})
	// New tokens use the new key, which the retired config never knew.
	if kid := tokenKIDOf(t, newSession); kid != after.current || kid == before.current {
		t.Errorf("new session kid %q, want %q", kid, after.current)
	}
	mustAccept(t, sess, after, "new kid", newSession)
	mustAccept(t, pend, after, "new kid", newPending)
	mustRefuse(t, sess, before, []tokenCase{{"new kid before rotation", newSession}})
}

func tokenKIDOf(t *testing.T, raw string) string {
	t.Helper()
	head, _, _ := strings.Cut(raw, ".")
	data, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}
