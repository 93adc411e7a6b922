package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// testTouchDevice: a touch records the last use, never moves it back, and
// never brings a revoked device back.
func testTouchDevice(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := context.Background()
	now := wallClock()
	d := store.Device{ID: "d1", User: "alice", TokenHash: []byte("0123456789abcdef0123456789abcdef"), Label: "x",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	mustOK(t, s.SaveDevice(ctx, d), "save device")
	later := now.Add(time.Minute)
	mustOK(t, s.TouchDevice(ctx, "alice", "d1", later), "touch")
	mustOK(t, s.TouchDevice(ctx, "alice", "d1", now), "touch with an earlier time")
	got, err := s.DeviceByToken(ctx, d.TokenHash, now)
	mustOK(t, err, "find device")
	if !got.LastUsedAt.Equal(later) || !got.ExpiresAt.Equal(d.ExpiresAt) || got.Label != "x" {
		t.Fatalf("after touch: %+v", got)
	}
	wantIs(t, s.TouchDevice(ctx, "bob", "d1", later), store.ErrNotFound, "touching another user's device")
	wantIs(t, s.TouchDevice(ctx, "alice", "nope", later), store.ErrNotFound, "touching an unknown device")
	mustOK(t, s.DeleteDevice(ctx, "alice", "d1"), "delete device")
	wantIs(t, s.TouchDevice(ctx, "alice", "d1", later.Add(time.Minute)), store.ErrNotFound, "touching a revoked device")
	_, err = s.DeviceByToken(ctx, d.TokenHash, now)
	wantIs(t, err, store.ErrNotFound, "a touch brought a revoked device back")
}
