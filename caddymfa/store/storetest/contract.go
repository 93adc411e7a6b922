package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// keyedCall calls one method with key in one of its key arguments.
type keyedCall struct {
	name string
	call func(ctx context.Context, s store.Store, key string) error
}

func keyedCalls(t0 time.Time) []keyedCall {
	later := t0.Add(time.Hour)
	f := func(id string) store.FactorRecord { return factor(id, t0) }
	return []keyedCall{
		{"SaveFactor user", func(ctx context.Context, s store.Store, k string) error { return s.SaveFactor(ctx, k, f("f")) }},
		{"SaveFactor id", func(ctx context.Context, s store.Store, k string) error { return s.SaveFactor(ctx, "alice", f(k)) }},
		{"Factors", func(ctx context.Context, s store.Store, k string) error { _, err := s.Factors(ctx, k); return err }},
		{"DeleteFactor user", func(ctx context.Context, s store.Store, k string) error { return s.DeleteFactor(ctx, k, "f") }},
		{"DeleteFactor id", func(ctx context.Context, s store.Store, k string) error { return s.DeleteFactor(ctx, "alice", k) }},
		{"UseStep user", func(ctx context.Context, s store.Store, k string) error { return s.UseStep(ctx, k, "f", 1) }},
		{"UseStep id", func(ctx context.Context, s store.Store, k string) error { return s.UseStep(ctx, "alice", k, 1) }},
		{"ReplaceRecoveryCodes", func(ctx context.Context, s store.Store, k string) error {
			return s.ReplaceRecoveryCodes(ctx, k, hashes("a"))
		}},
		{"ConsumeRecoveryCode", func(ctx context.Context, s store.Store, k string) error {
			_, err := s.ConsumeRecoveryCode(ctx, k, hashes("a"))
			return err
		}},
		{"RecoveryCodesLeft", func(ctx context.Context, s store.Store, k string) error {
			_, err := s.RecoveryCodesLeft(ctx, k)
			return err
		}},
		{"CountAttempt", func(ctx context.Context, s store.Store, k string) error {
			_, err := s.CountAttempt(ctx, k, t0, defaultPolicy)
			return err
		}},
		{"ResetAttempts", func(ctx context.Context, s store.Store, k string) error { return s.ResetAttempts(ctx, k) }},
		{"Attempts", func(ctx context.Context, s store.Store, k string) error { _, err := s.Attempts(ctx, k, t0); return err }},
		{"SaveSession id", func(ctx context.Context, s store.Store, k string) error {
			return s.SaveSession(ctx, session(k, "alice", t0, later))
		}},
		{"SaveSession user", func(ctx context.Context, s store.Store, k string) error {
			return s.SaveSession(ctx, session("s", k, t0, later))
		}},
		{"Sessions", func(ctx context.Context, s store.Store, k string) error { _, err := s.Sessions(ctx, k, t0); return err }},
		{"Revoke session", func(ctx context.Context, s store.Store, k string) error {
			return s.Revoke(ctx, store.Revocation{SessionID: k, ExpiresAt: later})
		}},
		{"Revoke user", func(ctx context.Context, s store.Store, k string) error {
			return s.Revoke(ctx, store.Revocation{User: k, NotBefore: t0, ExpiresAt: later})
		}},
		{"UseOnce", func(ctx context.Context, s store.Store, k string) error { return s.UseOnce(ctx, k, later) }},
		{"OnceUsed", func(ctx context.Context, s store.Store, k string) error { _, err := s.OnceUsed(ctx, k); return err }},
		{"FirstSeen", func(ctx context.Context, s store.Store, k string) error {
			_, err := s.FirstSeen(ctx, k, t0)
			return err
		}},
		{"SaveDevice user", func(ctx context.Context, s store.Store, k string) error {
			return s.SaveDevice(ctx, device(k, "d", t0, later))
		}},
		{"SaveDevice id", func(ctx context.Context, s store.Store, k string) error {
			return s.SaveDevice(ctx, device("alice", k, t0, later))
		}},
		{"Devices", func(ctx context.Context, s store.Store, k string) error { _, err := s.Devices(ctx, k, t0); return err }},
		{"DeleteDevice user", func(ctx context.Context, s store.Store, k string) error { return s.DeleteDevice(ctx, k, "d") }},
		{"DeleteDevice id", func(ctx context.Context, s store.Store, k string) error { return s.DeleteDevice(ctx, "alice", k) }},
		{"DeleteDevices", func(ctx context.Context, s store.Store, k string) error {
			_, err := s.DeleteDevices(ctx, k)
			return err
		}},
		{"ParkRequest", func(ctx context.Context, s store.Store, k string) error {
			return s.ParkRequest(ctx, k, []byte("sealed request"), later)
		}},
		{"TakeParkedRequest", func(ctx context.Context, s store.Store, k string) error {
			_, err := s.TakeParkedRequest(ctx, k, t0)
			return err
		}},
	}
}

func testKeys(t *testing.T, h Harness) {
	t0 := wallClock()
	s := h.Open(t)
	keys := []struct {
		name    string
		key     string
		invalid bool
	}{
		{"empty", "", true},
		{"one byte over the limit", strings.Repeat("k", store.MaxKeyLen+1), true},
		{"at the limit", strings.Repeat("k", store.MaxKeyLen), false},
		{"not UTF-8", "k\xff", true},
		{"separators and control bytes", "a:b/c\x00d\té", false},
	}
	for _, c := range keyedCalls(t0) {
		for _, k := range keys {
			err := c.call(t.Context(), s, k.key)
			if k.invalid {
				wantIs(t, err, store.ErrInvalid, c.name+" with a key "+k.name)
			} else if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s with a key %s: %v", c.name, k.name, err)
			}
		}
	}
}

func testClosed(t *testing.T, h Harness) {
	t0 := wallClock()
	s := h.Open(t)
	mustOK(t, s.Close(), "Close")
	for _, c := range keyedCalls(t0) {
		wantIs(t, c.call(t.Context(), s, "k"), store.ErrUnavailable, c.name+" after Close")
	}
	_, err := s.Revocations(t.Context(), t0)
	wantIs(t, err, store.ErrUnavailable, "Revocations after Close")
	_, err = s.DeviceByToken(t.Context(), tokenHash("t"), t0)
	wantIs(t, err, store.ErrUnavailable, "DeviceByToken after Close")
}
