package keys

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
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

func TestDeriveHandsOutCopies(t *testing.T) {
	r := mustRing(t, secretA)
	kid := r.Current()
	key, _ := r.Derive(kid, "csrf")
	want := bytes.Clone(key)
	for i := range key {
		key[i] = 0
	}
	if again, _ := r.Derive(kid, "csrf"); !bytes.Equal(again, want) {
		t.Fatal("writing into a derived key changed the ring's copy")
	}
	mac := hmac.New(sha256.New, want)
	mac.Write([]byte("v"))
	if !bytes.Equal(r.KeyedHash("csrf", []byte("v")), mac.Sum(nil)) {
		t.Fatal("writing into a derived key changed KeyedHash")
	}
}

// TestSubkeysBounded derives more purposes than the ring keeps: every
// subkey is still right, and the ring keeps no more than its bound.
func TestSubkeysBounded(t *testing.T) {
	r := mustRing(t, secretA)
	kid := r.Current()
	for i := range 2 * maxCachedPurposes {
		purpose := fmt.Sprintf("purpose-%d", i)
		want := make([]byte, 32)
		if _, err := io.ReadFull(xhkdf.New(sha256.New, []byte(secretA), []byte("caddy-mfa/v1"), []byte(purpose)), want); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if key, _ := r.Derive(kid, purpose); !bytes.Equal(key, want) {
				t.Fatalf("Derive(%q) is not HKDF-SHA256", purpose)
			}
		}
	}
	if n := len(*r.keys[0].subkeys.m.Load()); n != maxCachedPurposes {
		t.Fatalf("the ring keeps %d subkeys, want its bound %d", n, maxCachedPurposes)
	}
}

// TestSubkeysConcurrent hashes and derives from many goroutines at once;
// run with -race.
func TestSubkeysConcurrent(t *testing.T) {
	r := mustRing(t, secretA, secretB)
	want := map[string][]byte{}
	for _, p := range []string{"a", "b", "c", "d"} {
		want[p] = mustRing(t, secretA, secretB).KeyedHash(p, []byte("x"))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				p := string(rune('a' + (g+i)%4))
				if !bytes.Equal(r.KeyedHash(p, []byte("x")), want[p]) {
					errs <- "KeyedHash(" + p + ") changed under concurrency"
					return
				}
				if _, ok := r.Derive(r.Current(), p); !ok {
					errs <- "Derive failed under concurrency"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
