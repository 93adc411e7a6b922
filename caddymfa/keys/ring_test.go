package keys

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	xhkdf "golang.org/x/crypto/hkdf"
)

const (
	secretA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-first"
	secretB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-second"
	secretC = "cccccccccccccccccccccccccccccccc-third"
)

func mustRing(t testing.TB, secrets ...string) *Ring {
	t.Helper()
	r, err := NewRing(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRingRefuses(t *testing.T) {
	short := strings.Repeat("s", minSecretLen-1)
	tests := []struct {
		name     string
		secrets  []string
		wantErr  error  // nil: any error
		position string // the error names the secret at this position
	}{
		{"none", nil, nil, ""},
		{"empty", []string{""}, ErrShortSecret, "#1"},
		{"31 bytes", []string{short}, ErrShortSecret, "#1"},
		{"second too short", []string{secretA, short}, ErrShortSecret, "#2"},
		{"duplicate", []string{secretA, secretB, secretA}, nil, "#3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRing(tt.secrets...)
			if err == nil {
				t.Fatalf("NewRing accepted %d secrets: %v", len(tt.secrets), r.KeyIDs())
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.position) {
				t.Fatalf("error %q does not name secret %s", err, tt.position)
			}
			for _, s := range tt.secrets {
				if s != "" && strings.Contains(err.Error(), s) {
					t.Fatalf("error %q reveals a secret", err)
				}
			}
		})
	}
}

func TestNewRingAcceptsMinimum(t *testing.T) {
	r := mustRing(t, strings.Repeat("s", minSecretLen))
	if len(r.KeyIDs()) != 1 {
		t.Fatalf("KeyIDs = %v", r.KeyIDs())
	}
}

func TestKeyIDs(t *testing.T) {
	r := mustRing(t, secretA, secretB, secretC)
	ids := r.KeyIDs()
	if len(ids) != 3 || r.Current() != ids[0] {
		t.Fatalf("KeyIDs = %v, Current = %q", ids, r.Current())
	}
	for i, s := range []string{secretA, secretB, secretC} {
		mac := hmac.New(sha256.New, []byte(s))
		mac.Write([]byte("kid"))
		if want := hex.EncodeToString(mac.Sum(nil))[:8]; ids[i] != want {
			t.Errorf("ID #%d = %q, want %q", i+1, ids[i], want)
		}
	}
	if again := mustRing(t, secretB, secretA).KeyIDs(); again[0] != ids[1] || again[1] != ids[0] {
		t.Fatalf("IDs are not stable across rings: %v vs %v", again, ids)
	}
	ids[0] = "changed"
	if r.Current() == "changed" {
		t.Fatal("KeyIDs exposes the ring's own slice")
	}
}

func TestDerive(t *testing.T) {
	r := mustRing(t, secretA, secretB)
	ids := r.KeyIDs()
	seen := map[string]string{}
	for i, secret := range []string{secretA, secretB} {
		for _, purpose := range []string{"seal", "session-jwt", "recovery", ""} {
			key, ok := r.Derive(ids[i], purpose)
			if !ok || len(key) != 32 {
				t.Fatalf("Derive(%s, %q) = %d bytes, %v", ids[i], purpose, len(key), ok)
			}
			// Cross-check against the independent x/crypto HKDF.
			want := make([]byte, 32)
			if _, err := io.ReadFull(xhkdf.New(sha256.New, []byte(secret), []byte("caddy-mfa/v1"), []byte(purpose)), want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(key, want) {
				t.Fatalf("Derive(%s, %q) is not HKDF-SHA256 with salt caddy-mfa/v1", ids[i], purpose)
			}
			name := ids[i] + "/" + purpose
			if other, dup := seen[string(key)]; dup {
				t.Fatalf("%s and %s derive the same key", name, other)
			}
			seen[string(key)] = name
			if again, _ := r.Derive(ids[i], purpose); !bytes.Equal(again, key) {
				t.Fatalf("Derive(%s) is not stable", name)
			}
		}
	}
	if key, ok := r.Derive("00000000", "seal"); ok || key != nil {
		t.Fatal("Derive of an unknown kid succeeded")
	}
}
