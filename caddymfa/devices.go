package caddymfa

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/trusteddevice"
)

const (
	defaultTrustedDevice = 30 * 24 * time.Hour
	// deviceCookie holds a trusted device's token; host-only like the
	// sign-in cookies, whatever cookie_domain says.
	deviceCookie = "__Host-mfa_device"
	// amrDevice marks, in amr and Remote-MFA-Methods, a sign-in whose
	// second step was a trusted device rather than a code.
	amrDevice = "device"
)

func (h *Handler) provisionDevices() {
	lifetime := defaultTrustedDevice
	if h.TrustedDevice != nil {
		lifetime = time.Duration(*h.TrustedDevice)
	}
	h.devices = &trusteddevice.Manager{Store: h.backend, Lifetime: lifetime, Now: h.now}
}

func (h *Handler) devicesEnabled() bool { return h.devices.Lifetime > 0 }

func (h *Handler) rememberDays() int {
	return int((h.devices.Lifetime + 24*time.Hour - 1) / (24 * time.Hour))
}

// trustedDevice checks a device token presented at sign-in. A store that
// cannot answer means "not trusted": the user is asked for a code.
func (h *Handler) trustedDevice(ctx context.Context, r *http.Request, user, token string) (store.Device, bool) {
	if !h.devicesEnabled() {
		return store.Device{}, false
	}
	d, err := h.devices.Verify(ctx, token, user)
	if err != nil {
		if !errors.Is(err, trusteddevice.ErrUntrusted) {
			h.logStoreError("checking a trusted device", err)
		}
		return store.Device{}, false
	}
	h.auditEvent(r, "challenge", user, amrDevice, "success")
	return d, true
}

// deviceTokenOf is the device token a request presents, body first.
func deviceTokenOf(r *http.Request, fromBody string) string {
	if fromBody != "" {
		return fromBody
	}
	return cookieValue(r, deviceCookie)
}

// rememberDevice trusts the browser of a user who just passed a second
// errDevicesOff answers a request to trust a device where trusted devices
// are turned off.
var errDevicesOff = badRequest("Trusted devices are turned off here.")

// factor: it sets the cookie and returns the token for API clients.
func (h *Handler) rememberDevice(w http.ResponseWriter, r *http.Request, user string) (string, error) {
	if !h.devicesEnabled() {
		return "", errDevicesOff
	}
	tok, d, err := h.devices.Issue(r.Context(), user, r.UserAgent())
	if err != nil {
		return "", unavailable(err)
	}
	http.SetCookie(w, h.cookies.make(deviceCookie, tok, d.ExpiresAt))
	h.auditEvent(r, "device_trusted", user, amrDevice, "success")
	return tok, nil
}

// revokeDevice ends the sessions started with one device, then forgets
// it. In that order: a failure leaves the device to retry with, never
// its sessions alive with the device gone.
func (h *Handler) revokeDevice(ctx context.Context, r *http.Request, user, id string) error {
	sessions, err := h.backend.Sessions(ctx, user, h.now())
	if err != nil {
		return unavailable(err)
	}
	for _, s := range sessions {
		if s.DeviceID == id {
			if err := h.backend.revoke(ctx, store.Revocation{SessionID: s.ID, User: user, ExpiresAt: s.ExpiresAt.Add(tokenLeeway)}); err != nil {
				return unavailable(err)
			}
		}
	}
	if err := h.devices.Revoke(ctx, user, id); err != nil {
		// An id the store cannot even hold (too long, not UTF-8) names no
		// device either.
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
			return errNotFound
		}
		return unavailable(err)
	}
	h.auditEvent(r, "device_revoked", user, amrDevice, "success")
	return nil
}
