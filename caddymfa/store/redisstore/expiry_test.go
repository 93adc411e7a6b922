package redisstore

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// Every key that holds something with an expiry carries a TTL at that
// expiry, so Redis frees it without a sweep; the rest live until deleted.
func TestKeysExpireWithTheirRecords(t *testing.T) {
	addr := testenv.Redis(t)
	prefix := uniquePrefix()
	s := openStore(t, addr, prefix, Options{})
	c := newClient(t, addr)
	ctx := t.Context()
	t0 := wallClock()
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	must(t, s.SaveFactor(ctx, "alice", store.FactorRecord{ID: "f", Type: "totp", CreatedAt: t0}))
	must(t, s.ReplaceRecoveryCodes(ctx, "alice", [][]byte{[]byte("h1"), []byte("h2")}))
	_, err := s.FirstSeen(ctx, "alice", t0)
	must(t, err)
	must(t, s.SaveSession(ctx, store.Session{ID: "s1", User: "alice", CreatedAt: t0, ExpiresAt: at(2 * time.Hour)}))
	must(t, s.SaveSession(ctx, store.Session{ID: "s2", User: "alice", CreatedAt: t0, ExpiresAt: at(3 * time.Hour)}))
	must(t, s.Revoke(ctx, store.Revocation{SessionID: "s9", User: "bob", ExpiresAt: at(4 * time.Hour)}))
	must(t, s.Revoke(ctx, store.Revocation{User: "carol", NotBefore: t0, ExpiresAt: at(time.Hour)}))
	must(t, s.UseOnce(ctx, "token-id", at(5*time.Minute)))
	_, err = s.CountAttempt(ctx, "pwd", t0, store.LockPolicy{Threshold: 1, Locks: []time.Duration{time.Hour}, Forget: 30 * time.Minute})
	must(t, err)
	_, err = s.CountAttempt(ctx, "mfa", t0, store.LockPolicy{Threshold: 5, Locks: []time.Duration{time.Minute}})
	must(t, err)
	must(t, s.SaveDevice(ctx, store.Device{ID: "d1", User: "alice", TokenHash: []byte("tok1"), CreatedAt: t0, ExpiresAt: at(24 * time.Hour)}))
	must(t, s.SaveDevice(ctx, store.Device{ID: "d2", User: "alice", TokenHash: []byte("tok2"), CreatedAt: t0, ExpiresAt: at(48 * time.Hour)}))
	must(t, s.ParkRequest(ctx, "req", []byte("body"), at(10*time.Minute)))

	k := s.keys
	cases := []struct {
		name string
		key  string
		want time.Time // zero: no TTL
	}{
		{"user hash (factors, first seen)", k.user("alice"), time.Time{}},
		{"recovery codes", k.recovery("alice"), time.Time{}},
		{"session", k.session("s1"), at(2 * time.Hour)},
		{"session index: its last session", k.userSessions("alice"), at(3 * time.Hour)},
		{"revocations: the last one", k.revocations(), at(4 * time.Hour)},
		{"revocation expiry set", k.revocationExpiry(), at(4 * time.Hour)},
		{"once marker", k.once("token-id"), at(5 * time.Minute)},
		{"counter: forgotten after its lock", k.attempts("pwd"), at(time.Hour + 30*time.Minute)},
		{"counter kept until reset", k.attempts("mfa"), time.Time{}},
		{"device token", k.deviceToken([]byte("tok1")), at(24 * time.Hour)},
		{"device list: its last device", k.userDevices("alice"), at(48 * time.Hour)},
		{"parked request", k.parked("req"), at(10 * time.Minute)},
	}
	for _, tc := range cases {
		got := expireTime(t, c, tc.key)
		switch {
		case got == -2:
			t.Errorf("%s: key missing", tc.name)
		case tc.want.IsZero() && got != -1:
			t.Errorf("%s: expires at %d, want no TTL", tc.name, got)
		case !tc.want.IsZero() && got != tc.want.UnixMilli():
			t.Errorf("%s: expires at %d ms, want %d (%v)", tc.name, got, tc.want.UnixMilli(), tc.want)
		}
	}

	// Nothing is left behind outside the layout above.
	want := map[string]bool{}
	for _, tc := range cases {
		want[tc.key] = true
	}
	want[k.session("s2")] = true
	want[k.deviceToken([]byte("tok2"))] = true
	for _, key := range prefixKeys(t, c, prefix) {
		if !want[key] {
			t.Errorf("unexpected key %q", key)
		}
	}
}

// An index never outlives the records it lists, nor dies before them: a
// later, shorter session does not shorten it.
func TestIndexExpiryNeverShortened(t *testing.T) {
	addr := testenv.Redis(t)
	s := openStore(t, addr, uniquePrefix(), Options{})
	c := newClient(t, addr)
	ctx := t.Context()
	t0 := wallClock()
	must(t, s.SaveSession(ctx, store.Session{ID: "long", User: "alice", CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour)}))
	must(t, s.SaveSession(ctx, store.Session{ID: "short", User: "alice", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}))
	if got, want := expireTime(t, c, s.keys.userSessions("alice")), t0.Add(12*time.Hour).UnixMilli(); got != want {
		t.Fatalf("index expires at %d, want the long session's %d", got, want)
	}
}

// expireTime is PEXPIRETIME: Unix ms, -1 without TTL, -2 without key.
func expireTime(t *testing.T, c *redis.Client, key string) int64 {
	t.Helper()
	v, err := c.Do(t.Context(), "PEXPIRETIME", key).Int64()
	must(t, err)
	return v
}
