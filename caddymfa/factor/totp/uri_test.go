package totp

import (
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp"
)

func TestURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	tests := []struct {
		name, issuer, account string
		p                     Params
		wantPath              string
		// wantEscaped, when set, is the label as written: a colon inside
		// the issuer stays escaped, so the split is not ambiguous.
		wantEscaped string
	}{
		{"defaults", "Example", "alice@example.com", DefaultParams(), "/Example:alice@example.com", ""},
		{"spaces and ampersand", "ACME & Co Legacy", "Alice Doe", DefaultParams(), "/ACME & Co Legacy:Alice Doe", ""},
		{"colon in issuer", "host:8443", "alice", DefaultParams(), "/host:8443:alice", "/host%3A8443:alice"},
		{"query characters", "a?b#c", "x/y=z", DefaultParams(), "/a?b#c:x/y=z", ""},
		{"unicode", "Bücher", "zoë", DefaultParams(), "/Bücher:zoë", ""},
		{"sha256, 8 digits, 60 s", "Example", "bob", Params{Digits: 8, Period: time.Minute, Algorithm: otp.AlgorithmSHA256}, "/Example:bob", ""},
		{"no issuer", "", "bob", DefaultParams(), "/bob", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := URI(tt.issuer, tt.account, secret, tt.p)
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("url.Parse(%q): %v", raw, err)
			}
			if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != tt.wantPath {
				t.Fatalf("scheme %q host %q path %q, want otpauth totp %q", u.Scheme, u.Host, u.Path, tt.wantPath)
			}
			if tt.wantEscaped != "" && u.EscapedPath() != tt.wantEscaped {
				t.Fatalf("escaped path %q, want %q", u.EscapedPath(), tt.wantEscaped)
			}
			p := tt.p.withDefaults()
			want := map[string]string{
				"secret":    "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
				"issuer":    tt.issuer,
				"algorithm": p.Algorithm.String(),
				"digits":    map[int]string{6: "6", 8: "8"}[p.Digits],
				"period":    map[time.Duration]string{30 * time.Second: "30", time.Minute: "60"}[p.Period],
			}
			q := u.Query()
			for k, v := range want {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			if tt.issuer == "" && q.Has("issuer") {
				t.Error("issuer parameter present without an issuer")
			}

			// pquerna/otp reads the URI as an authenticator app would.
			key, err := otp.NewKeyFromURL(raw)
			if err != nil {
				t.Fatalf("otp.NewKeyFromURL: %v", err)
			}
			if key.Issuer() != tt.issuer {
				t.Errorf("issuer %q, want %q", key.Issuer(), tt.issuer)
			}
			if tt.wantEscaped == "" && key.AccountName() != tt.account {
				t.Errorf("account %q, want %q", key.AccountName(), tt.account)
			}
			if key.Algorithm() != p.Algorithm || int(key.Digits()) != p.Digits || key.Period() != uint64(p.Period/time.Second) {
				t.Errorf("algorithm %v digits %v period %d, want %v %d %v", key.Algorithm(), key.Digits(), key.Period(), p.Algorithm, p.Digits, p.Period)
			}
		})
	}
}
