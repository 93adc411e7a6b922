package redisstore

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// Sessions round-trip whatever their fields hold; the compact forms are
// only used when they read back exactly.
func TestSessionCodecRoundTrip(t *testing.T) {
	t0 := time.Date(2031, 5, 6, 7, 8, 9, 123e6, time.UTC)
	cases := []store.Session{
		{User: "alice", CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour), AMR: []string{"pwd", "otp", "mfa"}, ClientIP: "203.0.113.7", UserAgent: chromeUA},
		{User: "bob", CreatedAt: t0, ExpiresAt: t0.Add(time.Millisecond), AMR: []string{"pwd", "custom-method", "hwk"}, ClientIP: "2001:db8::1", UserAgent: "curl/8.5.0", DeviceID: "d1"},
		{User: "carol", ExpiresAt: t0, ClientIP: "::ffff:192.0.2.1", UserAgent: strings.Repeat("\x00\xff", 200)},
		{User: "dave", CreatedAt: t0, ExpiresAt: t0.Add(-time.Hour), ClientIP: "2001:DB8::1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"},
		{User: "erin", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), ClientIP: "unix:/run/caddy.sock", AMR: []string{}},
	}
	for i, want := range cases {
		got, err := decodeSession("sid", encodeSession(want))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got.User != want.User || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
			!slices.Equal(got.AMR, want.AMR) && len(got.AMR)+len(want.AMR) > 0 || got.ClientIP != want.ClientIP ||
			got.UserAgent != want.UserAgent || got.DeviceID != want.DeviceID || got.ID != "sid" {
			t.Errorf("case %d: round trip gave %+v, want %+v", i, got, want)
		}
	}
	if n := len(encodeSession(cases[0])); n > 64 {
		t.Errorf("a typical session encodes to %d bytes, want at most 64", n)
	}
}

func TestCorruptRecordsAreErrors(t *testing.T) {
	good := encodeSession(store.Session{User: "alice", ExpiresAt: time.Now(), UserAgent: chromeUA})
	for i := range len(good) {
		if _, err := decodeSession("sid", good[:i]); err == nil {
			t.Errorf("a record cut to %d of %d bytes decoded without error", i, len(good))
		}
	}
	if _, err := decodeFactor("f", "12,x,0,\x01"); err == nil {
		t.Error("a factor with a bad header decoded")
	}
	if _, err := decodeMessage("99:s:x1,0,"); err == nil {
		t.Error("a message with a bad length decoded")
	}
}
