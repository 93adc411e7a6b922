package caddymfa

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
)

// fuzzCodec is a codec on the test secret whose clock stands at labNow,
// so the seeds stay valid and the fuzzer can reach the accepting paths.
func fuzzCodec(tb testing.TB) *tokenCodec {
	tb.Helper()
	ring, err := keys.NewRing(testSecret)
	if err != nil {
		tb.Fatal(err)
	}
	tc, err := newTokenCodec(ring, func() time.Time { return labNow })
	if err != nil {
		tb.Fatal(err)
	}
	return tc
}

// tokenSeeds are real tokens of both kinds and classic forgeries.
func tokenSeeds(tb testing.TB, tc *tokenCodec) []string {
	tb.Helper()
	s, err := tc.issueSession(session{User: "alice", SID: "sid-1", Audience: "localhost", IssuedAt: labNow,
		ExpiresAt: labNow.Add(time.Hour), AuthTime: labNow, MFATime: labNow, AMR: []string{"pwd", "otp", "mfa"}, MFAVerified: true})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := tc.issuePending(pending{User: "alice", ID: "jti-1", Audience: "localhost", ExpiresAt: labNow.Add(time.Minute), AuthTime: labNow, AMR: []string{"pwd"}}, labNow)
	if err != nil {
		tb.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	parts := strings.Split(s, ".")
	return []string{
		s, p,
		parts[0] + "." + parts[1] + ".",
		parts[0] + "." + parts[1],
		enc([]byte(`{"alg":"none","typ":"mfa-session+jwt"}`)) + "." + parts[1] + ".",
		enc([]byte(`{"alg":"HS256","typ":"mfa-session+jwt","kid":"../../etc/passwd"}`)) + "." + parts[1] + "." + parts[2],
		enc([]byte(`{"alg":"HS256","typ":"mfa-session+jwt","jwk":{"kty":"oct","k":"AAAA"}}`)) + "." + parts[1] + "." + parts[2],
		"", ".", "..", "a.b.c", "garbage", strings.Repeat("A", 5000) + "." + parts[1] + "." + parts[2],
	}
}

// signedByUs reports whether raw is an HS256 token of kind typ whose
// signature our key for its kid made: checked here independently of the
// JWT library.
func signedByUs(tc *tokenCodec, typ, raw string) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	headJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return false
	}
	var head map[string]any
	if json.Unmarshal(headJSON, &head) != nil || head["alg"] != "HS256" || head["typ"] != typ {
		return false
	}
	kid, _ := head["kid"].(string)
	key, ok := tc.keys[typ][kid]
	if !ok {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(parts[0] + "." + parts[1]))
	return hmac.Equal(sig, m.Sum(nil))
}

func FuzzParseSession(f *testing.F) {
	tc := fuzzCodec(f)
	for _, s := range tokenSeeds(f, tc) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := tc.parseSession(raw, "localhost")
		if err != nil {
			return
		}
		if !signedByUs(tc, typSession, raw) {
			t.Fatalf("accepted a session token we did not sign: %q", raw)
		}
		if s.User == "" || s.SID == "" || s.Audience != "localhost" || s.AuthTime.IsZero() || !labNow.Before(s.ExpiresAt.Add(tokenLeeway)) {
			t.Fatalf("accepted an incomplete or expired session: %+v", s)
		}
	})
}

func FuzzParsePending(f *testing.F) {
	tc := fuzzCodec(f)
	for _, s := range tokenSeeds(f, tc) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := tc.parsePending(raw, "localhost")
		if err != nil {
			return
		}
		if !signedByUs(tc, typPending, raw) {
			t.Fatalf("accepted an mfa_token we did not sign: %q", raw)
		}
		if p.User == "" || p.ID == "" || p.Audience != "localhost" || p.AuthTime.IsZero() || !labNow.Before(p.ExpiresAt.Add(tokenLeeway)) {
			t.Fatalf("accepted an incomplete or expired mfa_token: %+v", p)
		}
	})
}
