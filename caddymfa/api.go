package caddymfa

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
)

// The JSON API of DESIGN.md, for SPAs, CLIs and API clients.

type loginRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	DeviceToken string `json:"device_token"`
}

type mfaTokenRequest struct {
	MFAToken string `json:"mfa_token"`
}

type confirmRequest struct {
	MFAToken string `json:"mfa_token"`
	FactorID string `json:"factor_id"`
	Code     string `json:"code"`
}

type verifyRequest struct {
	MFAToken       string `json:"mfa_token"`
	Code           string `json:"code"`
	RecoveryCode   string `json:"recovery_code"`
	FactorID       string `json:"factor_id"`
	RememberDevice bool   `json:"remember_device"`
}

type factorJSON struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Label string `json:"label"`
}

type pendingAnswer struct {
	Status    string       `json:"status"`
	MFAToken  string       `json:"mfa_token"`
	ExpiresIn int          `json:"expires_in"`
	Factors   []factorJSON `json:"factors,omitempty"`
	Enroll    []string     `json:"enroll,omitempty"`
	// GraceUntil: enrollment may be skipped (POST enroll/skip) until then.
	GraceUntil int64 `json:"grace_until,omitempty"`
}

type tokensAnswer struct {
	Status                 string   `json:"status"`
	AccessToken            string   `json:"access_token"`
	TokenType              string   `json:"token_type"`
	ExpiresIn              int      `json:"expires_in"`
	SessionID              string   `json:"session_id"`
	AMR                    []string `json:"amr"`
	RecoveryCodes          []string `json:"recovery_codes,omitempty"`
	RecoveryCodesRemaining *int     `json:"recovery_codes_remaining,omitempty"`
	DeviceToken            string   `json:"device_token,omitempty"`
}

// tokensExtra is what some answers carry besides the session.
type tokensExtra struct {
	codes       []string
	codesLeft   *int
	deviceToken string
}

type enrollAnswer struct {
	FactorID   string `json:"factor_id"`
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
	QRPNG      string `json:"qr_png"`
}

type sessionAnswer struct {
	User        string   `json:"user"`
	AMR         []string `json:"amr"`
	AuthTime    int64    `json:"auth_time"`
	MFATime     int64    `json:"mfa_time,omitempty"`
	ExpiresAt   int64    `json:"expires_at"`
	AccessToken string   `json:"access_token"`
	ExpiresIn   int      `json:"expires_in"`
}

// serveAPI dispatches /_mfa/api/v1/*.
func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request, route string) error {
	type endpoint struct {
		method string
		fn     func(http.ResponseWriter, *http.Request) error
	}
	endpoints := map[string]endpoint{
		"login":               {http.MethodPost, h.apiLogin},
		"enroll/totp":         {http.MethodPost, h.apiEnroll},
		"enroll/totp/confirm": {http.MethodPost, h.apiConfirm},
		"enroll/skip":         {http.MethodPost, h.apiSkip},
		"verify":              {http.MethodPost, h.apiVerify},
		"session":             {http.MethodGet, h.apiSession},
		"logout":              {http.MethodPost, h.apiLogout},
	}
	if rest, ok := strings.CutPrefix(route, "account"); ok && (rest == "" || rest[0] == '/') {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := http.NewCrossOriginProtection().Check(r); err != nil {
				return h.writeAPIError(w, r, errCSRF)
			}
		}
		if err := h.serveAccountAPI(w, r, strings.TrimPrefix(rest, "/")); err != nil {
			return h.writeAPIError(w, r, err)
		}
		return nil
	}
	ep, ok := endpoints[route]
	if !ok {
		return h.writeAPIError(w, r, errNotFound)
	}
	if r.Method != ep.method {
		return h.writeAPIError(w, r, methodNotAllowed(ep.method))
	}
	if ep.method == http.MethodPost {
		// A browser page of another origin must not drive the API with
		// the user's cookies.
		if err := http.NewCrossOriginProtection().Check(r); err != nil {
			return h.writeAPIError(w, r, errCSRF)
		}
	}
	if err := ep.fn(w, r); err != nil {
		return h.writeAPIError(w, r, err)
	}
	return nil
}

func (h *Handler) apiLogin(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := h.readJSON(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	var user string
	var amr []string
	if h.IdentityFrom != "" && req.Username == "" && req.Password == "" {
		if user = h.upstreamIdentity(r); user == "" {
			return errAuthRequired
		}
	} else {
		if h.dir.Len() == 0 {
			return badRequest("Sign-in with a password is not enabled here.")
		}
		var err error
		if user, err = h.checkPassword(ctx, r, req.Username, req.Password); err != nil {
			return err
		}
		amr = []string{"pwd"}
	}
	done, err := h.afterFirstFactor(ctx, r, user, amr, deviceTokenOf(r, req.DeviceToken))
	if err != nil {
		return err
	}
	expiresIn := secondsUntil(done.Pending.ExpiresAt, h.now())
	switch done.Status {
	case statusAuthenticated:
		return h.writeTokens(w, done.Session, done.SessionToken, tokensExtra{})
	case statusEnrollmentRequired:
		ans := pendingAnswer{
			Status: done.Status, MFAToken: done.Token, ExpiresIn: expiresIn, Enroll: []string{factor.TypeTOTP},
		}
		if !done.GraceUntil.IsZero() {
			ans.GraceUntil = done.GraceUntil.Unix()
		}
		return h.writeJSON(w, http.StatusAccepted, ans)
	}
	factors := make([]factorJSON, 0, len(done.Factors)+1)
	for _, f := range done.Factors {
		factors = append(factors, factorJSON{ID: f.ID, Type: f.Type, Label: f.Label})
	}
	if h.allows(factor.TypeRecoveryCode) {
		factors = append(factors, factorJSON{ID: factor.TypeRecoveryCode, Type: factor.TypeRecoveryCode, Label: "Recovery code"})
	}
	return h.writeJSON(w, http.StatusAccepted, pendingAnswer{
		Status: done.Status, MFAToken: done.Token, ExpiresIn: expiresIn, Factors: factors,
	})
}

// noSession is the answer to a call without an mfa_token whose session
// check failed with err: the store's 503 when it could not vouch for the
// session presented (fail_closed), else a request missing its mfa_token.
func noSession(err error, message string) error {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
		return err
	}
	return badRequest("%s", message)
}

// pendingFrom verifies an mfa_token from a request body.
func (h *Handler) pendingFrom(r *http.Request, raw string) (pending, error) {
	if raw == "" {
		return pending{}, badRequest("mfa_token is required: use the one from POST login.")
	}
	p, err := h.tokens.parsePending(raw, h.audience(r))
	if err != nil || !h.pendingCurrent(p) {
		return pending{}, errInvalidMFAToken
	}
	return p, nil
}

func (h *Handler) apiEnroll(w http.ResponseWriter, r *http.Request) error {
	var req mfaTokenRequest
	if err := h.readJSON(w, r, &req); err != nil {
		return err
	}
	var e enrollment
	if req.MFAToken == "" {
		// A signed-in user adding another authenticator.
		s, _, err := h.accountSession(r)
		if err != nil {
			return noSession(err, "mfa_token is required, or call with a session to add an authenticator.")
		}
		if e, err = h.startAddingFactor(r.Context(), r, s); err != nil {
			return err
		}
	} else {
		p, err := h.pendingFrom(r, req.MFAToken)
		if err != nil {
			return err
		}
		// A token that signed in already starts nothing, nor replaces
		// the setup it started.
		if err := h.pendingUnspent(r.Context(), p); err != nil {
			return err
		}
		if e, err = h.startEnrollment(r.Context(), r, p.User, "", false); err != nil {
			return err
		}
	}
	return h.writeJSON(w, http.StatusOK, enrollAnswer{
		FactorID: e.FactorID, Secret: e.Secret, OTPAuthURI: e.URI, QRPNG: e.qrDataURI(),
	})
}

func (h *Handler) apiConfirm(w http.ResponseWriter, r *http.Request) error {
	var req confirmRequest
	if err := h.readJSON(w, r, &req); err != nil {
		return err
	}
	if req.MFAToken == "" {
		s, _, err := h.accountSession(r)
		if err != nil {
			return noSession(err, "mfa_token is required, or call with a session to add an authenticator.")
		}
		codes, err := h.confirmEnrollment(r.Context(), r, s.User, &s, req.FactorID, req.Code)
		if err != nil {
			return err
		}
		next, tok, err := h.refreshMFA(r, s, factor.TypeTOTP)
		if err != nil {
			return err
		}
		return h.writeTokens(w, next, tok, tokensExtra{codes: codes})
	}
	p, err := h.pendingFrom(r, req.MFAToken)
	if err != nil {
		return err
	}
	if err := h.pendingUnspent(r.Context(), p); err != nil {
		return err
	}
	codes, err := h.confirmEnrollment(r.Context(), r, p.User, nil, req.FactorID, req.Code)
	if err != nil {
		return err
	}
	// confirmEnrollment cleared the counter itself.
	s, tok, err := h.finishPending(r, p, verified{Type: factor.TypeTOTP})
	if err != nil {
		return err
	}
	return h.writeTokens(w, s, tok, tokensExtra{codes: codes})
}

func (h *Handler) apiVerify(w http.ResponseWriter, r *http.Request) error {
	var req verifyRequest
	if err := h.readJSON(w, r, &req); err != nil {
		return err
	}
	if req.RememberDevice && !h.devicesEnabled() {
		// Refused before the code is looked at: nothing is spent.
		return errDevicesOff
	}
	in := codeInput{Code: req.Code, RecoveryCode: req.RecoveryCode, FactorID: req.FactorID}
	if in.FactorID == factor.TypeRecoveryCode {
		in.FactorID = ""
	}
	if req.MFAToken == "" {
		if req.RememberDevice {
			// A confirmation never trusts a device: only a sign-in does.
			return badRequest("remember_device goes with an mfa_token, at sign-in.")
		}
		return h.apiStepUp(w, r, in)
	}
	p, err := h.pendingFrom(r, req.MFAToken)
	if err != nil {
		return err
	}
	v, s, tok, err := h.signInWithCode(r, p, in)
	if err != nil {
		return err
	}
	extra := tokensExtra{}
	if v.Type == factor.TypeRecoveryCode {
		extra.codesLeft = &v.CodesLeft
	}
	if req.RememberDevice {
		if extra.deviceToken, err = h.rememberDevice(w, r, p.User); err != nil {
			return err
		}
	}
	return h.writeTokens(w, s, tok, extra)
}

func (h *Handler) apiSkip(w http.ResponseWriter, r *http.Request) error {
	var req mfaTokenRequest
	if err := h.readJSON(w, r, &req); err != nil {
		return err
	}
	p, err := h.pendingFrom(r, req.MFAToken)
	if err != nil {
		return err
	}
	s, tok, err := h.skipEnrollment(r, p)
	if err != nil {
		return err
	}
	return h.writeTokens(w, s, tok, tokensExtra{})
}

// apiStepUp re-verifies a signed-in user: same session, fresh mfa_time.
func (h *Handler) apiStepUp(w http.ResponseWriter, r *http.Request, in codeInput) error {
	s, _, err := h.requestSession(r)
	if err != nil {
		return noSession(err, "mfa_token is required, or call with a session to confirm it again.")
	}
	v, err := h.verifySecondFactor(r.Context(), r, s.User, in)
	if err != nil {
		return err
	}
	next, tok, err := h.refreshMFA(r, s, v.Type)
	if err != nil {
		return err
	}
	extra := tokensExtra{}
	if v.Type == factor.TypeRecoveryCode {
		extra.codesLeft = &v.CodesLeft
	}
	return h.writeTokens(w, next, tok, extra)
}

func withoutMFA(amr []string) []string {
	out := make([]string, 0, len(amr))
	for _, a := range amr {
		if a != "mfa" {
			out = append(out, a)
		}
	}
	return out
}

// finishPending consumes an mfa_token (identity_from flows have none) and
// starts the session it leads to after the second factor v, spending v's
// TOTP step and clearing its counter, all in one store write.
func (h *Handler) finishPending(r *http.Request, p pending, v verified) (session, string, error) {
	ns := newSession{User: p.User, AuthTime: p.AuthTime, AMR: factorAMR(p.AMR, v.Type), MFAFactor: v.Type, Step: v.step}
	ns.ResetAttempts = v.counters
	ns.spendToken(p)
	return h.startSession(r.Context(), r, ns)
}

func (h *Handler) writeTokens(w http.ResponseWriter, s session, tok string, extra tokensExtra) error {
	h.setSessionCookie(w, tok, s)
	return h.writeJSON(w, http.StatusOK, tokensAnswer{
		Status:                 statusAuthenticated,
		AccessToken:            tok,
		TokenType:              "Bearer",
		ExpiresIn:              secondsUntil(s.ExpiresAt, h.now()),
		SessionID:              s.SID,
		AMR:                    s.AMR,
		RecoveryCodes:          extra.codes,
		RecoveryCodesRemaining: extra.codesLeft,
		DeviceToken:            extra.deviceToken,
	})
}

// apiSession describes the caller's session and hands out a renewed
// token, which is how bearer clients slide the idle limit.
func (h *Handler) apiSession(w http.ResponseWriter, r *http.Request) error {
	s, src, err := h.requestSession(r)
	if err != nil {
		return err
	}
	now := h.now()
	next := s
	next.IssuedAt = now
	next.ExpiresAt = h.expiry(s, now)
	tok, err := h.tokens.issueSession(next)
	if err != nil {
		return err
	}
	if src == fromCookie {
		http.SetCookie(w, h.cookies.make(h.cookies.session, tok, next.ExpiresAt))
	}
	ans := sessionAnswer{
		User:        s.User,
		AMR:         s.AMR,
		AuthTime:    s.AuthTime.Unix(),
		ExpiresAt:   next.ExpiresAt.Unix(),
		AccessToken: tok,
		ExpiresIn:   secondsUntil(next.ExpiresAt, now),
	}
	if !s.MFATime.IsZero() {
		ans.MFATime = s.MFATime.Unix()
	}
	return h.writeJSON(w, http.StatusOK, ans)
}

func (h *Handler) apiLogout(w http.ResponseWriter, r *http.Request) error {
	s, _, err := h.requestSession(r)
	if err != nil {
		return err
	}
	if err := h.endSession(r.Context(), w, r, s); err != nil {
		return err
	}
	pageHeaders(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// secondsUntil is expires_in for a token that expires at exp: whole
// seconds, rounded up, so that a token whose exp was cut to the second
// still reads its full lifetime (300, not 299), and never negative.
func secondsUntil(exp, now time.Time) int {
	d := exp.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
