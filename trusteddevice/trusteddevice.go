package trusteddevice

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// tokenBytes is the token's entropy: 256 bits from crypto/rand.
const tokenBytes = 32

// ErrUntrusted: the token is unknown, expired, revoked or another user's.
var ErrUntrusted = errors.New("trusteddevice: not a trusted device")

// Store is the part of store.Store devices need.
type Store interface {
	SaveDevice(ctx context.Context, d store.Device) error
	DeviceByToken(ctx context.Context, tokenHash []byte, now time.Time) (store.Device, error)
	TouchDevice(ctx context.Context, user, deviceID string, at time.Time) error
	Devices(ctx context.Context, user string, now time.Time) ([]store.Device, error)
	DeleteDevice(ctx context.Context, user, deviceID string) error
	DeleteDevices(ctx context.Context, user string) (int, error)
}

// Manager works on one store with one lifetime.
type Manager struct {
	Store    Store
	Lifetime time.Duration
	Now      func() time.Time
	// TouchEvery limits how often LastUsedAt is written (default 1h), so
	// a busy device costs no write per sign-in.
	TouchEvery time.Duration
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Hash is what the store keeps of a token.
func Hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Issue trusts a new device of user; the token goes into the cookie and
// is not kept anywhere else.
func (m *Manager) Issue(ctx context.Context, user, userAgent string) (string, store.Device, error) {
	if m.Lifetime <= 0 {
		return "", store.Device{}, errors.New("trusteddevice: trusted devices are disabled")
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", store.Device{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	now := m.now()
	d := store.Device{
		ID:        rand.Text(),
		User:      user,
		TokenHash: Hash(token),
		Label:     Label(userAgent),
		CreatedAt: now,
		ExpiresAt: now.Add(m.Lifetime),
	}
	if err := m.Store.SaveDevice(ctx, d); err != nil {
		return "", store.Device{}, fmt.Errorf("trusteddevice: save: %w", err)
	}
	return token, d, nil
}

// Verify returns the live device of user behind token, trusted less than
// Lifetime ago. Malformed tokens, unknown ones and other users' devices
// are all ErrUntrusted; a store
// failure is returned as is, so callers can tell "no" from "cannot say".
func (m *Manager) Verify(ctx context.Context, token, user string) (store.Device, error) {
	if m.Lifetime <= 0 || !wellFormed(token) {
		return store.Device{}, ErrUntrusted
	}
	now := m.now()
	d, err := m.Store.DeviceByToken(ctx, Hash(token), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Device{}, ErrUntrusted
	case err != nil:
		return store.Device{}, fmt.Errorf("trusteddevice: look up: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(d.User), []byte(user)) != 1 {
		return store.Device{}, ErrUntrusted
	}
	// The stored expiry is the lifetime when the device was trusted: a
	// lifetime shortened since must shorten it too.
	if !now.Before(d.CreatedAt.Add(m.Lifetime)) {
		return store.Device{}, ErrUntrusted
	}
	every := m.TouchEvery
	if every == 0 {
		every = time.Hour
	}
	if now.Sub(d.LastUsedAt) >= every {
		// Never a save of the device read above: a revocation landing in
		// between would be undone. A failed touch only loses a date.
		if m.Store.TouchDevice(ctx, user, d.ID, now) == nil {
			d.LastUsedAt = now
		}
	}
	return d, nil
}

// List returns user's live devices, oldest first: those Verify would
// still accept, each expiring no later than Lifetime after it was trusted.
func (m *Manager) List(ctx context.Context, user string) ([]store.Device, error) {
	if m.Lifetime <= 0 {
		return nil, nil
	}
	now := m.now()
	all, err := m.Store.Devices(ctx, user, now)
	if err != nil {
		return nil, err
	}
	live := all[:0]
	for _, d := range all {
		if end := d.CreatedAt.Add(m.Lifetime); end.Before(d.ExpiresAt) {
			d.ExpiresAt = end
		}
		if now.Before(d.ExpiresAt) {
			live = append(live, d)
		}
	}
	return live, nil
}

// Revoke removes one of user's devices.
func (m *Manager) Revoke(ctx context.Context, user, id string) error {
	return m.Store.DeleteDevice(ctx, user, id)
}

// RevokeAll removes all of user's devices, as when their factors are
// reset.
func (m *Manager) RevokeAll(ctx context.Context, user string) (int, error) {
	return m.Store.DeleteDevices(ctx, user)
}

func wellFormed(token string) bool {
	if len(token) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}
