package caddymfa

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// accountStepUp is how fresh a second factor must be for the sensitive
// self-service actions: adding or removing a factor, new recovery codes.
const accountStepUp = 5 * time.Minute

// The self-service operations behind both the account page and the JSON
// API. Each takes the caller's verified session.

// accountSession is the session of a self-service request.
func (h *Handler) accountSession(r *http.Request) (session, int, error) {
	s, src, err := h.requestSession(r)
	if err == nil {
		err = s.satisfies(requirement{MFA: h.enforce == enforceRequired}, h.now())
	}
	return s, src, err
}

// needFresh refuses a sensitive action unless s passed a second factor
// (not a trusted device) within accountStepUp.
func (h *Handler) needFresh(s session) error {
	return s.satisfies(requirement{MFA: true, StepUp: true, MaxAge: accountStepUp}, h.now())
}

// accountState is what the account page and GET account show.
type accountState struct {
	Factors   []store.FactorRecord
	CodesLeft int
	Devices   []store.Device
	Sessions  []store.Session
}

func (h *Handler) accountState(ctx context.Context, user string) (accountState, error) {
	var st accountState
	var err error
	if st.Factors, err = h.activeFactors(ctx, user); err != nil {
		return st, err
	}
	now := h.now()
	if st.CodesLeft, err = h.backend.RecoveryCodesLeft(ctx, user); err != nil {
		return st, unavailable(err)
	}
	if h.devicesEnabled() {
		if st.Devices, err = h.devices.List(ctx, user); err != nil {
			return st, unavailable(err)
		}
	}
	if st.Sessions, err = h.backend.Sessions(ctx, user, now); err != nil {
		return st, unavailable(err)
	}
	return st, nil
}

// removeFactor deletes one of s.User's factors. Removing the last one is a
// reset: recovery codes and trusted devices go with it, so the next
// sign-in enrolls again.
func (h *Handler) removeFactor(ctx context.Context, r *http.Request, s session, id string) error {
	if err := h.needFresh(s); err != nil {
		return err
	}
	active, err := h.activeFactors(ctx, s.User)
	if err != nil {
		return err
	}
	found := false
	for _, f := range active {
		found = found || f.ID == id
	}
	if found {
		if err := h.backend.DeleteFactor(ctx, s.User, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return unavailable(err)
		}
		h.auditEvent(r, "factor_removed", s.User, factor.TypeTOTP, "success")
		// Read again: a removal racing this one may have taken the
		// others, and then neither saw the last one go.
		if active, err = h.activeFactors(ctx, s.User); err != nil {
			return err
		}
	}
	switch {
	case len(active) > 0 && !found:
		return errNotFound
	case len(active) > 0:
		return nil
	}
	// No factor left. Found or not, the reset runs (again): one a store
	// failure interrupted left this session, vouched for by a factor now
	// gone, alive, and the user's retry finishes it.
	return h.resetFactors(ctx, r, s.User)
}

// resetFactors drops what only made sense with a factor (recovery codes,
// trusted devices) and ends the user's sessions: they were vouched for by
// the factor that is gone. The sessions end last: the caller's goes with
// them, and a retry of a reset that failed before needs it.
func (h *Handler) resetFactors(ctx context.Context, r *http.Request, user string) error {
	if err := h.backend.ReplaceRecoveryCodes(ctx, user, nil); err != nil {
		return unavailable(err)
	}
	n, err := h.devices.RevokeAll(ctx, user)
	if err != nil {
		return unavailable(err)
	}
	if n > 0 {
		h.auditEvent(r, "device_revoked", user, amrDevice, "success")
	}
	notBefore := revocationCutoff(h.now())
	if err := h.backend.revoke(ctx, store.Revocation{
		User: user, NotBefore: notBefore, ExpiresAt: notBefore.Add(h.backend.longestLifetime(h.lifetime) + tokenLeeway),
	}); err != nil {
		return unavailable(err)
	}
	return nil
}

// regenerateCodes replaces s.User's recovery codes; the old ones die.
func (h *Handler) regenerateCodes(ctx context.Context, r *http.Request, s session) ([]string, error) {
	if !h.allows(factor.TypeRecoveryCode) {
		return nil, errNotFound
	}
	if err := h.needFresh(s); err != nil {
		return nil, err
	}
	codes, err := h.newRecoveryCodes(ctx, s.User)
	if err != nil {
		return nil, err
	}
	h.auditEvent(r, "recovery_codes_regenerated", s.User, factor.TypeRecoveryCode, "success", codesLeft(len(codes)))
	return codes, nil
}

// startAddingFactor begins setting up another authenticator.
func (h *Handler) startAddingFactor(ctx context.Context, r *http.Request, s session) (enrollment, error) {
	if err := h.needFresh(s); err != nil {
		// A user with no factor yet (a password-only session under
		// `enforce enrolled`, or one in the enrollment grace) has none to
		// confirm with: the first one is enrolled as at sign-in, which
		// startEnrollment refuses, changing nothing, once one is active.
		e, ferr := h.startEnrollment(ctx, r, s.User, s.SID, false)
		if errors.Is(ferr, errNoEnrollment) {
			return enrollment{}, err
		}
		return e, ferr
	}
	return h.startEnrollment(ctx, r, s.User, s.SID, true)
}

// revokeOwnSession ends one of s.User's sessions.
func (h *Handler) revokeOwnSession(ctx context.Context, r *http.Request, s session, sid string) error {
	sessions, err := h.backend.Sessions(ctx, s.User, h.now())
	if err != nil {
		return unavailable(err)
	}
	for _, other := range sessions {
		if other.ID == sid {
			if err := h.backend.revoke(ctx, store.Revocation{SessionID: sid, User: s.User, ExpiresAt: other.ExpiresAt.Add(tokenLeeway)}); err != nil {
				return unavailable(err)
			}
			h.auditEvent(r, "logout", s.User, "", "session_revoked")
			return nil
		}
	}
	return errNotFound
}

// signOutEverywhere ends every session of s.User, this one included.
func (h *Handler) signOutEverywhere(ctx context.Context, r *http.Request, s session) error {
	notBefore := revocationCutoff(h.now())
	err := h.backend.revoke(ctx, store.Revocation{
		User:      s.User,
		NotBefore: notBefore,
		ExpiresAt: notBefore.Add(h.backend.longestLifetime(h.lifetime) + tokenLeeway),
	})
	if err != nil {
		return unavailable(err)
	}
	h.auditEvent(r, "logout", s.User, "", "everywhere")
	return nil
}
