package trusteddevice

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/caddymfa/store/boltstore"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newManager(t *testing.T) (*Manager, *clock, *boltstore.Store) {
	t.Helper()
	c := &clock{t: time.Now().Truncate(time.Second)}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{Now: c.Now, SweepEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Manager{Store: st, Lifetime: 30 * 24 * time.Hour, Now: c.Now}, c, st
}

func TestIssueVerifyExpire(t *testing.T) {
	m, c, st := newManager(t)
	ctx := context.Background()
	tok, d, err := m.Issue(ctx, "alice", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) < 22 { // ≥ 128 bits in base64
		t.Fatalf("token too short: %d chars", len(tok))
	}
	if d.Label != "Firefox on Linux" {
		t.Errorf("label %q", d.Label)
	}
	// Only the hash is stored.
	stored, _ := st.Devices(ctx, "alice", c.Now())
	if len(stored) != 1 || strings.Contains(string(stored[0].TokenHash), tok) || string(stored[0].TokenHash) != string(sha256Of(tok)) {
		t.Fatalf("stored device %+v", stored)
	}
	if _, err := m.Verify(ctx, tok, "alice"); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Bound to one user.
	if _, err := m.Verify(ctx, tok, "bob"); !errors.Is(err, ErrUntrusted) {
		t.Errorf("another user's device: %v", err)
	}
	// Garbage never reaches the store.
	for _, bad := range []string{"", "x", strings.Repeat("A", 10000), tok[:len(tok)-1] + "!"} {
		if _, err := m.Verify(ctx, bad, "alice"); !errors.Is(err, ErrUntrusted) {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	// Valid until its lifetime, gone 1 s after.
	c.Add(30*24*time.Hour - time.Second)
	if _, err := m.Verify(ctx, tok, "alice"); err != nil {
		t.Errorf("just before expiry: %v", err)
	}
	c.Add(2 * time.Second)
	if _, err := m.Verify(ctx, tok, "alice"); !errors.Is(err, ErrUntrusted) {
		t.Errorf("after expiry: %v", err)
	}
}

func TestRevokeAndTouch(t *testing.T) {
	m, c, _ := newManager(t)
	ctx := context.Background()
	t1, d1, _ := m.Issue(ctx, "alice", "")
	t2, _, _ := m.Issue(ctx, "alice", "")
	c.Add(2 * time.Hour)
	d, err := m.Verify(ctx, t1, "alice")
	if err != nil || !d.LastUsedAt.Equal(c.Now()) {
		t.Fatalf("touch: %+v %v", d, err)
	}
	list, _ := m.List(ctx, "alice")
	touched := 0
	for _, x := range list {
		if x.ID == d1.ID && x.LastUsedAt.Equal(c.Now()) {
			touched++
		}
	}
	if len(list) != 2 || touched != 1 {
		t.Fatalf("list %+v", list)
	}
	if err := m.Revoke(ctx, "bob", d1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking someone else's device: %v", err)
	}
	if err := m.Revoke(ctx, "alice", d1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, t1, "alice"); !errors.Is(err, ErrUntrusted) {
		t.Error("revoked device still trusted")
	}
	if n, err := m.RevokeAll(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("revoke all: %d %v", n, err)
	}
	if _, err := m.Verify(ctx, t2, "alice"); !errors.Is(err, ErrUntrusted) {
		t.Error("device survived RevokeAll")
	}
}

func TestDisabled(t *testing.T) {
	m, _, _ := newManager(t)
	m.Lifetime = 0
	if _, _, err := m.Issue(context.Background(), "alice", ""); err == nil {
		t.Error("issued a device with trusted devices off")
	}
}

func TestLabel(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36 Edg/130.0": "Edge on Windows",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile Safari/604.1":          "Safari on iPhone",
		"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/130.0 Mobile Safari/537.36":                                  "Chrome on Android",
		"curl/8.5.0": "curl on unknown system",
		"":           "Unknown device",
	} {
		if got := Label(ua); got != want {
			t.Errorf("Label(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestVerifyDoesNotResurrectARevokedDevice(t *testing.T) {
	m, c, _ := newManager(t)
	ctx := context.Background()
	tok, d, _ := m.Issue(ctx, "alice", "")
	c.Add(2 * time.Hour)
	if err := m.Revoke(ctx, "alice", d.ID); err != nil {
		t.Fatal(err)
	}
	// A touch after the revocation (as a racing sign-in would do) must not
	// bring the device back.
	if err := m.Store.TouchDevice(ctx, "alice", d.ID, c.Now()); err == nil {
		t.Error("touched a revoked device")
	}
	if _, err := m.Verify(ctx, tok, "alice"); !errors.Is(err, ErrUntrusted) {
		t.Error("revoked device is trusted again")
	}
}

// A lifetime shortened after a device was trusted shortens that device's
// trust too: its stored expiry still says the old lifetime.
func TestShorterLifetimeEndsOlderDevices(t *testing.T) {
	m, c, _ := newManager(t) // 30 days
	ctx := context.Background()
	tok, d, err := m.Issue(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	shorter := &Manager{Store: m.Store, Lifetime: 24 * time.Hour, Now: c.Now}
	c.Add(23 * time.Hour)
	if _, err := shorter.Verify(ctx, tok, "alice"); err != nil {
		t.Fatalf("within the new lifetime: %v", err)
	}
	// Listed as it is trusted: until a day after it was trusted.
	if list, err := shorter.List(ctx, "alice"); err != nil || len(list) != 1 || !list[0].ExpiresAt.Equal(d.CreatedAt.Add(24*time.Hour)) {
		t.Fatalf("listed within the new lifetime: %v, %v", list, err)
	}
	c.Add(time.Hour)
	if _, err := shorter.Verify(ctx, tok, "alice"); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("a day old with a 1-day lifetime: %v, want ErrUntrusted", err)
	}
	if list, err := shorter.List(ctx, "alice"); err != nil || len(list) != 0 {
		t.Fatalf("a device no longer trusted is listed: %v, %v", list, err)
	}
	// The stored expiry still holds for a manager with the old lifetime.
	if _, err := m.Verify(ctx, tok, "alice"); err != nil {
		t.Fatalf("30-day manager: %v", err)
	}
	if list, err := m.List(ctx, "alice"); err != nil || len(list) != 1 || !list[0].ExpiresAt.Equal(d.ExpiresAt) {
		t.Fatalf("30-day manager lists: %v, %v", list, err)
	}
}

// sha256Of is the token's SHA-256, computed here rather than by Hash, so
// that the test holds Hash to what SECURITY.md promises is stored.
func sha256Of(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
