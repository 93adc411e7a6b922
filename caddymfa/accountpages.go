package caddymfa

import (
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
	"github.com/caddymfa/caddy-mfa/challengepage"
	"github.com/caddymfa/caddy-mfa/trusteddevice"
)

// day formats a date for people.
func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// serveAccount answers the self-service pages under <prefix>account.
func (h *Handler) serveAccount(w http.ResponseWriter, r *http.Request, route string) error {
	home := h.prefix + "account"
	s, _, err := h.accountSession(r)
	if err != nil {
		// Not signed in: the sign-in flow, then back here.
		if r.Method != http.MethodGet {
			return h.showFlow(w, r, home, err)
		}
		return h.showFlow(w, r, home, nil)
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		switch route {
		case "":
			return h.accountPage(w, r, s, http.StatusOK, "")
		case "enroll":
			return h.accountEnrollView(w, r, s, nil)
		}
		return h.pageError(w, r, errNotFound)
	}
	if r.Method != http.MethodPost {
		return h.pageError(w, r, methodNotAllowed("GET", "HEAD", "POST"))
	}
	if _, _, err := h.readForm(w, r); err != nil {
		return h.pageError(w, r, err)
	}
	ctx := r.Context()
	parts := strings.Split(route, "/")
	switch {
	case route == "factors/totp":
		_, err = h.startAddingFactor(ctx, r, s)
		if err == nil {
			return h.seeOther(w, home+"/enroll")
		}
	case len(parts) == 3 && parts[0] == "factors" && parts[2] == "remove":
		err = h.removeFactor(ctx, r, s, parts[1])
	case route == "recovery-codes":
		var codes []string
		if codes, err = h.regenerateCodes(ctx, r, s); err == nil {
			nonce := newNonce()
			return h.writePage(w, http.StatusOK, nonce, challengepage.RecoveryCodesView{
				Common: h.common(w, r, nonce, home), Codes: codes, ContinueURL: home,
			})
		}
	case len(parts) == 3 && parts[0] == "devices" && parts[2] == "revoke":
		err = h.revokeDevice(ctx, r, s.User, parts[1])
	case len(parts) == 3 && parts[0] == "sessions" && parts[2] == "revoke":
		err = h.revokeOwnSession(ctx, r, s, parts[1])
	case route == "signout-everywhere":
		if err = h.signOutEverywhere(ctx, r, s); err == nil {
			h.clearCookies(w)
			nonce := newNonce()
			return h.writePage(w, http.StatusOK, nonce, challengepage.MessageView{
				Common: h.common(w, r, nonce, "/"), Title: "Signed out everywhere",
				Message: "Every session of your account has ended, this one included.", Link: "/", LinkText: "Sign in again",
			})
		}
	default:
		err = errNotFound
	}
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "insufficient_user_authentication" {
		// Confirm with a fresh code, then come back and repeat the action.
		return h.showFlowStatus(w, r, home, http.StatusUnauthorized, &apiError{
			Status: http.StatusUnauthorized, Code: ae.Code,
			Message: "Confirm it's you with a code, then repeat what you were doing.",
		})
	}
	if err != nil {
		return h.accountProblem(w, r, s, err)
	}
	return h.seeOther(w, home)
}

// accountProblem shows the account page with err's message, status and
// headers.
func (h *Handler) accountProblem(w http.ResponseWriter, r *http.Request, s session, err error) error {
	ae := asAPIError(err)
	h.logFailure(r, ae)
	h.errorHeaders(w, ae)
	return h.accountPage(w, r, s, ae.Status, ae.Message)
}

// accountPage renders the self-service page.
func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request, s session, status int, problem string) error {
	st, err := h.accountState(r.Context(), s.User)
	if err != nil {
		return h.pageError(w, r, err)
	}
	home := h.prefix + "account"
	nonce := newNonce()
	c := h.common(w, r, nonce, home)
	c.User, c.Error = h.identityOf(s.User).displayName(), problem
	item := func(label, detail, action, button string, current bool) challengepage.AccountItem {
		return challengepage.AccountItem{Label: label, Detail: detail, Action: action, Button: button,
			Current: current, CSRF: c.CSRF, ReturnTo: c.ReturnTo}
	}
	v := challengepage.AccountView{
		Common:            c,
		AddFactorAction:   home + "/factors/totp",
		CodesLeft:         st.CodesLeft,
		SignOutAllAction:  home + "/signout-everywhere",
		SignOutAction:     h.prefix + "logout",
		ShowRecoveryCodes: h.allows(factor.TypeRecoveryCode),
	}
	if v.ShowRecoveryCodes && len(st.Factors) > 0 {
		v.RegenerateAction = home + "/recovery-codes"
	}
	for _, f := range st.Factors {
		v.Factors = append(v.Factors, item(f.Label, "Added "+day(f.CreatedAt), home+"/factors/"+f.ID+"/remove", "Remove", false))
	}
	thisDevice := cookieValue(r, deviceCookie)
	for _, d := range st.Devices {
		detail := "Trusted since " + day(d.CreatedAt) + ", until " + day(d.ExpiresAt)
		current := thisDevice != "" && string(d.TokenHash) == string(trusteddevice.Hash(thisDevice))
		v.Devices = append(v.Devices, item(d.Label, detail, home+"/devices/"+d.ID+"/revoke", "Forget", current))
	}
	for _, other := range st.Sessions {
		detail := "Since " + other.CreatedAt.UTC().Format("2006-01-02 15:04") + " UTC"
		if other.ClientIP != "" {
			detail += " from " + other.ClientIP
		}
		label := trusteddevice.Label(other.UserAgent)
		v.Sessions = append(v.Sessions, item(label, detail, home+"/sessions/"+other.ID+"/revoke", "Sign out", other.ID == s.SID))
	}
	return h.writePage(w, status, nonce, v)
}

// accountEnrollView shows the authenticator being added, with the problem
// of a refused confirmation if any. Without a setup to show it leads back
// to the account page, which says why when a code was sent for one gone.
func (h *Handler) accountEnrollView(w http.ResponseWriter, r *http.Request, s session, problem error) error {
	home := h.prefix + "account"
	e, found, err := h.currentEnrollment(r.Context(), r, s.User, &s)
	if err != nil {
		return h.pageError(w, r, err)
	}
	if problem != nil && (!found || errors.Is(problem, errEnrollmentGone)) {
		// Expired or replaced (a newer setup is not the one the code was for).
		return h.accountProblem(w, r, s, errEnrollmentGone)
	}
	if !found {
		return h.seeOther(w, home)
	}
	nonce := newNonce()
	c, status := h.flowCommon(w, r, nonce, home, http.StatusOK, problem)
	c.User = h.identityOf(s.User).displayName()
	return h.writePage(w, status, nonce, challengepage.EnrollView{
		Common:     c,
		Action:     h.prefix + "enroll/confirm",
		FactorID:   e.FactorID,
		QRCode:     template.URL(e.qrDataURI()),
		Secret:     e.Secret,
		OTPAuthURI: template.URL(e.URI),
		Issuer:     h.issuer(r),
		Account:    s.User,
	})
}
