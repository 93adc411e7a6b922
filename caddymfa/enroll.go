package caddymfa

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
	"github.com/caddymfa/caddy-mfa/caddymfa/factor/totp"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// enrollment is a TOTP factor being set up, as the user must see it.
type enrollment struct {
	FactorID string
	Secret   string // base32
	URI      string
	QRPNG    []byte
}

func (e enrollment) qrDataURI() string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRPNG)
}

// maxIssuer bounds the issuer setting: it appears twice in every QR code,
// next to a user name of up to 256 bytes.
const maxIssuer = 128

// issuer is the name authenticator apps show next to the account.
func (h *Handler) issuer(r *http.Request) string {
	if h.Issuer != "" {
		return h.Issuer
	}
	return h.audience(r)
}

// startEnrollment creates a pending TOTP factor for user. With only a first
// factor behind them (an mfa_token), users may enroll only while they have
// no active factor: otherwise a stolen password would be enough to add an
// attacker's authenticator. adding is for signed-in users who just
// confirmed with a factor they have (the account page checks that). sid is
// the session starting it, "" for none: a setup added to an active factor
// can be seen and confirmed only by that session (see pendingSetup).
func (h *Handler) startEnrollment(ctx context.Context, r *http.Request, user, sid string, adding bool) (enrollment, error) {
	all, err := h.backend.Factors(ctx, user)
	if err != nil {
		return enrollment{}, unavailable(err)
	}
	label := "Authenticator app"
	active := 0
	for _, f := range all {
		if !f.Pending {
			active++
		}
	}
	if active > 0 && !adding {
		return enrollment{}, errNoEnrollment
	}
	if active > 0 {
		label = fmt.Sprintf("Authenticator app %d", active+1)
	}
	secret, err := totp.NewSecret()
	if err != nil {
		return enrollment{}, err
	}
	id := newID()
	// Drawn before anything is written: a site name too long for a QR
	// code (a catch-all site without `issuer`) is refused, changing nothing.
	e, err := h.describeEnrollment(r, user, id, secret)
	if err != nil {
		return enrollment{}, badRequest("This site's name is too long for an authenticator app's QR code. Ask the operator to set a shorter issuer.")
	}
	for _, f := range all {
		if !f.Pending {
			continue
		}
		// One setup at a time: an abandoned one is replaced.
		if err := h.backend.DeleteFactor(ctx, user, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return enrollment{}, unavailable(err)
		}
	}
	sealed, err := h.ring.Seal(secret, []byte(user))
	if err != nil {
		return enrollment{}, err
	}
	now := h.now()
	f := store.FactorRecord{
		ID:           id,
		Type:         factor.TypeTOTP,
		Label:        label,
		Secret:       sealed,
		Pending:      true,
		PendingUntil: now.Add(defaultEnrollLifetime),
		StartedBy:    sid,
		CreatedAt:    now,
	}
	if err := h.backend.SaveFactor(ctx, user, f); err != nil {
		return enrollment{}, unavailable(err)
	}
	h.auditEvent(r, "enrollment_started", user, factor.TypeTOTP, "success")
	return e, nil
}

// currentEnrollment finds user's pending setup, if one is still valid and
// s (nil for none) may see it.
func (h *Handler) currentEnrollment(ctx context.Context, r *http.Request, user string, s *session) (enrollment, bool, error) {
	f, ok, err := h.pendingSetup(ctx, user, "", s)
	if err != nil || !ok {
		return enrollment{}, false, err
	}
	secret, err := h.ring.Open(f.Secret, []byte(user))
	if err != nil {
		return enrollment{}, false, nil
	}
	e, err := h.describeEnrollment(r, user, f.ID, secret)
	return e, err == nil, err
}

// pendingSetup finds user's pending setup id ("" for any) that s, the
// caller's session (nil for an mfa_token or an earlier handler's word), may
// see and confirm. Once user has an active factor, a setup is another
// authenticator being added: only the session that started it, while it
// was fresh enough to start it (needFresh), may finish it. Confirming
// refreshes that session's second factor, so any other session of the
// user (a stale one, one signed in with a trusted device) would otherwise
// earn a step-up from someone else's setup.
func (h *Handler) pendingSetup(ctx context.Context, user, id string, s *session) (store.FactorRecord, bool, error) {
	all, err := h.backend.Factors(ctx, user)
	if err != nil {
		return store.FactorRecord{}, false, unavailable(err)
	}
	now := h.now()
	var found *store.FactorRecord
	adding := false
	for i, f := range all {
		if !f.Pending {
			adding = true
		} else if found == nil && f.Type == factor.TypeTOTP && (id == "" || f.ID == id) && now.Before(f.PendingUntil) {
			found = &all[i]
		}
	}
	if found == nil {
		return store.FactorRecord{}, false, nil
	}
	if adding && !h.startedBy(*found, s, now) {
		return store.FactorRecord{}, false, nil
	}
	return *found, true, nil
}

// startedBy reports whether s is the session that started setup f, with
// a second factor fresh enough for it then: needFresh's rule at f's start.
func (h *Handler) startedBy(f store.FactorRecord, s *session, now time.Time) bool {
	if s == nil || f.StartedBy == "" || s.SID != f.StartedBy {
		return false
	}
	need := requirement{MFA: true, StepUp: true, MaxAge: accountStepUp + now.Sub(f.CreatedAt)}
	return s.satisfies(need, now) == nil
}

func (h *Handler) describeEnrollment(r *http.Request, user, id string, secret []byte) (enrollment, error) {
	uri := totp.URI(h.issuer(r), user, secret, h.totp)
	png, err := totp.QRCodePNG(uri, 256)
	if err != nil {
		return enrollment{}, fmt.Errorf("drawing QR code: %w", err)
	}
	return enrollment{FactorID: id, Secret: totp.EncodeSecret(secret), URI: uri, QRPNG: png}, nil
}

// confirmEnrollment activates the pending factor when code comes from it,
// and issues the first recovery codes. s is the caller's session, nil for
// none (see pendingSetup).
func (h *Handler) confirmEnrollment(ctx context.Context, r *http.Request, user string, s *session, factorID, code string) ([]string, error) {
	in, err := h.parseCode(codeInput{Code: code})
	if err != nil {
		return nil, err
	}
	if factorID == "" || len(factorID) > 64 {
		return nil, badRequest("factor_id is required: use the one from the enrollment step.")
	}
	now := h.now()
	// No code is checked for a setup that is gone or not the caller's, so
	// no attempt is counted against the user.
	f, ok, err := h.pendingSetup(ctx, user, factorID, s)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errEnrollmentGone
	}
	key := h.attemptKey("mfa", user)
	// As at sign-in: one client checks only so many codes at once, so the
	// IP limit read below is not outrun by parallel requests.
	leave, ok := h.enterIPCheck(r)
	if !ok {
		return nil, h.refuseBusy(r, user, factor.TypeTOTP)
	}
	defer leave()
	if err := h.checkIPLock(ctx, r, now, user, factor.TypeTOTP); err != nil {
		return nil, err
	}
	st, err := h.backend.CountAttempt(ctx, key, now, h.limits.secondFactor)
	if err != nil {
		return nil, unavailable(err)
	}
	if !st.Allowed {
		h.refusedByLock(r, user, factor.TypeTOTP, "locked")
		return nil, rateLimited(st.LockedUntil.Sub(now))
	}
	secret, err := h.ring.Open(f.Secret, []byte(user))
	if err != nil {
		return nil, unavailable(err)
	}
	step, err := totp.Verify(secret, in.Code, now, 0, h.totp)
	if err != nil {
		h.accountLockStarts(r, user, factor.TypeTOTP, st, now)
		h.ipFailed(ctx, r, now, user, factor.TypeTOTP)
		h.auditEvent(r, "enrollment", user, factor.TypeTOTP, "failure")
		return nil, errInvalidCode
	}
	// Two racing confirmations must not both issue recovery codes.
	switch err := h.backend.UseOnce(ctx, "enroll:"+f.ID, f.PendingUntil); {
	case errors.Is(err, store.ErrReplay):
		return nil, errInvalidCode
	case err != nil:
		return nil, unavailable(err)
	}
	f.Pending, f.PendingUntil, f.LastStep = false, time.Time{}, step
	if err := h.backend.SaveFactor(ctx, user, f); err != nil {
		return nil, unavailable(err)
	}
	// The counter is cleared as after a sign-in, under the names older
	// builds gave it too (legacyattempts.go). No hard cap or window is
	// checked here: the code is of a secret the caller was just given,
	// so it guesses nothing.
	for _, k := range append([]string{key}, h.legacyAttemptKeys("mfa", user)...) {
		if err := h.backend.ResetAttempts(ctx, k); err != nil {
			return nil, unavailable(err)
		}
	}
	// First codes with the first factor; a user adding an authenticator
	// keeps the codes they have.
	left, err := h.backend.RecoveryCodesLeft(ctx, user)
	if err != nil {
		return nil, unavailable(err)
	}
	var codes []string
	if left == 0 {
		if codes, err = h.newRecoveryCodes(ctx, user); err != nil {
			return nil, err
		}
		left = len(codes)
	}
	h.auditEvent(r, "enrollment", user, factor.TypeTOTP, "success", codesLeft(left))
	return codes, nil
}
