package caddymfa

import (
	"errors"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/challengepage"
)

// servePage answers the browser routes under the prefix.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request, route string) error {
	switch route {
	case "", "login", "challenge", "enroll":
		if r.Method == http.MethodPost && route == "login" {
			return h.loginForm(w, r)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if route == "login" {
				return h.pageError(w, r, methodNotAllowed("GET", "HEAD", "POST"))
			}
			return h.pageError(w, r, methodNotAllowed("GET", "HEAD"))
		}
		returnTo := safeReturnTo(r.URL.Query().Get("return_to"))
		if s, _, err := h.requestSession(r); err == nil && s.satisfies(h.requirementFor(r), h.now()) == nil {
			return h.seeOther(w, returnTo)
		}
		return h.showFlowStatus(w, r, returnTo, http.StatusOK, nil)
	case "verify":
		return h.postOnly(w, r, h.verifyForm)
	case "enroll/start":
		return h.postOnly(w, r, h.enrollStartForm)
	case "enroll/confirm":
		return h.postOnly(w, r, h.enrollConfirmForm)
	case "enroll/skip":
		return h.postOnly(w, r, h.enrollSkipForm)
	case "logout":
		if r.Method == http.MethodPost {
			return h.logoutForm(w, r)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return h.pageError(w, r, methodNotAllowed("GET", "HEAD", "POST"))
		}
		nonce := newNonce()
		return h.writePage(w, http.StatusOK, nonce, challengepage.LogoutView{
			Common: h.common(w, r, nonce, "/"),
			Action: h.prefix + "logout",
		})
	}
	return h.pageError(w, r, errNotFound)
}

func (h *Handler) postOnly(w http.ResponseWriter, r *http.Request, fn func(http.ResponseWriter, *http.Request) error) error {
	if r.Method != http.MethodPost {
		return h.pageError(w, r, methodNotAllowed("POST"))
	}
	return fn(w, r)
}

// common fills what every page needs.
func (h *Handler) common(w http.ResponseWriter, r *http.Request, nonce, returnTo string) challengepage.Common {
	return challengepage.Common{
		Prefix:   h.prefix,
		Nonce:    nonce,
		CSRF:     h.csrfToken(h.csrfCookie(w, r)),
		ReturnTo: returnTo,
	}
}

func (h *Handler) seeOther(w http.ResponseWriter, to string) error {
	pageHeaders(w)
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// pageError shows a problem on its own page (wrong method, unknown
// route, forged form, store down).
func (h *Handler) pageError(w http.ResponseWriter, r *http.Request, err error) error {
	ae := asAPIError(err)
	h.logFailure(r, ae)
	if wantsJSON(r) {
		return h.writeAPIError(w, r, ae)
	}
	h.errorHeaders(w, ae)
	nonce := newNonce()
	return h.writePage(w, ae.Status, nonce, challengepage.MessageView{
		Common:            h.common(w, r, nonce, "/"),
		Title:             messageTitle(ae),
		Message:           ae.Message,
		RetryAfterSeconds: retrySeconds(ae.RetryAfter),
		Link:              "/",
		LinkText:          "Back to the start",
	})
}

func messageTitle(ae *apiError) string {
	switch ae.Status {
	case http.StatusTooManyRequests:
		return "Too many attempts"
	case http.StatusServiceUnavailable:
		return "Service unavailable"
	case http.StatusNotFound:
		return "Not found"
	case http.StatusForbidden:
		return "Request refused"
	}
	return "Something is wrong with this request"
}

func (h *Handler) showFlow(w http.ResponseWriter, r *http.Request, returnTo string, pageErr error) error {
	return h.showFlowStatus(w, r, safeReturnTo(returnTo), http.StatusUnauthorized, pageErr)
}

// showFlowStatus renders the step the browser is at: sign in, set up an
// authenticator, or type a code. A given error is shown on that page and
// decides the status.
func (h *Handler) showFlowStatus(w http.ResponseWriter, r *http.Request, returnTo string, status int, pageErr error) error {
	st, ok := h.flowUser(r)
	if !ok {
		return h.showLogin(w, r, returnTo, status, pageErr, "")
	}
	p := st.pending
	nonce := newNonce()
	c, status := h.flowCommon(w, r, nonce, returnTo, status, pageErr)
	c.User = h.identityOf(p.User).displayName()
	ctx := r.Context()
	active, err := h.activeFactors(ctx, p.User)
	if err != nil {
		return h.pageError(w, r, err)
	}
	if len(active) > 0 {
		left, err := h.backend.RecoveryCodesLeft(ctx, p.User)
		if err != nil {
			return h.pageError(w, r, unavailable(err))
		}
		return h.writePage(w, status, nonce, challengepage.ChallengeView{
			Common:         c,
			Action:         h.prefix + "verify",
			StepUp:         st.session != nil && st.session.MFAVerified,
			Factors:        factorOptions(active),
			AllowRecovery:  h.allows(factor.TypeRecoveryCode),
			RecoveryOpen:   recoveryFirst(r, pageErr),
			CodesLeft:      left,
			RememberDevice: h.devicesEnabled() && st.session == nil,
			RememberDays:   h.rememberDays(),
			SignOutAction:  h.prefix + "logout",
		})
	}
	e, found, err := h.currentEnrollment(ctx, r, p.User, st.session)
	if err != nil {
		return h.pageError(w, r, err)
	}
	view := challengepage.EnrollView{
		Common:        c,
		Action:        h.prefix + "enroll/confirm",
		RestartAction: h.prefix + "enroll/start",
		Issuer:        h.issuer(r),
		Account:       p.User,
	}
	if st.session == nil {
		until, err := h.graceUntil(ctx, p.User)
		if err != nil {
			return h.pageError(w, r, err)
		}
		if !until.IsZero() {
			view.GraceDaysLeft = int((until.Sub(h.now()) + 24*time.Hour - 1) / (24 * time.Hour))
			view.SkipAction = h.prefix + "enroll/skip"
		}
	}
	if found {
		view.FactorID = e.FactorID
		view.QRCode = template.URL(e.qrDataURI())
		view.Secret = e.Secret
		view.OTPAuthURI = template.URL(e.URI)
	}
	return h.writePage(w, status, nonce, view)
}

// recoveryFirst says whether a challenge page opens on the recovery-code
// form: after a recovery code was tried, or when the account takes
// nothing else (the hard lock).
func recoveryFirst(r *http.Request, pageErr error) bool {
	return r.PostForm.Get("recovery_code") != "" || errors.Is(pageErr, errAccountLocked)
}

// showLogin renders the sign-in form, with the username typed if any.
func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request, returnTo string, status int, pageErr error, username string) error {
	if h.IdentityFrom != "" && h.dir.Len() == 0 {
		// Nobody signs in here: the earlier handler did not vouch for anyone.
		return h.pageError(w, r, errAuthRequired)
	}
	nonce := newNonce()
	c, status := h.flowCommon(w, r, nonce, returnTo, status, pageErr)
	if len(username) > maxUsername {
		username = ""
	}
	return h.writePage(w, status, nonce, challengepage.LoginView{Common: c, Action: h.prefix + "login", Username: username})
}

// flowCommon fills a flow page's common part and lets an error pick the
// status and the message.
func (h *Handler) flowCommon(w http.ResponseWriter, r *http.Request, nonce, returnTo string, status int, pageErr error) (challengepage.Common, int) {
	c := h.common(w, r, nonce, returnTo)
	c.Notice, _ = caddyhttp.GetVar(r.Context(), noticeVar).(string)
	if pageErr == nil {
		return c, status
	}
	ae := asAPIError(pageErr)
	h.logFailure(r, ae)
	h.errorHeaders(w, ae)
	c.Error = ae.Message
	if ae.RetryAfter > 0 && ae.Status == http.StatusTooManyRequests {
		c.Error += " Try again in " + humanDuration(ae.RetryAfter) + "."
	}
	return c, ae.Status
}

func (id identity) displayName() string {
	if id.Name != "" {
		return id.Name
	}
	return id.User
}

func (h *Handler) allows(factorType string) bool {
	for _, f := range h.factors {
		if f == factorType {
			return true
		}
	}
	return false
}

func factorOptions(fs []store.FactorRecord) []challengepage.FactorOption {
	var out []challengepage.FactorOption
	for _, f := range fs {
		if f.Type == factor.TypeTOTP {
			out = append(out, challengepage.FactorOption{ID: f.ID, Label: f.Label})
		}
	}
	return out
}

// readForm parses a urlencoded POST within the body limit and checks it
// was sent by our own page.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request) (url.Values, string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, "/", &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "Send this form from the sign-in page."}
	}
	if r.ContentLength > h.MaxBody {
		return nil, "/", errTooLarge
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.MaxBody)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, "/", errTooLarge
		}
		return nil, "/", badRequest("The form could not be read.")
	}
	form := r.PostForm
	returnTo := safeReturnTo(form.Get("return_to"))
	if !h.checkCSRF(r, form.Get("csrf_token")) {
		return nil, returnTo, errCSRF
	}
	return form, returnTo, nil
}

func (h *Handler) setPendingCookie(w http.ResponseWriter, tok string, p pending) {
	http.SetCookie(w, h.cookies.make(h.cookies.pending, tok, p.ExpiresAt))
}

func (h *Handler) setSessionCookie(w http.ResponseWriter, tok string, s session) {
	http.SetCookie(w, h.cookies.make(h.cookies.session, tok, s.ExpiresAt))
	http.SetCookie(w, h.cookies.clear(h.cookies.pending))
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) error {
	form, returnTo, err := h.readForm(w, r)
	if err != nil {
		return h.showFlow(w, r, returnTo, err)
	}
	if h.IdentityFrom != "" && h.dir.Len() == 0 {
		return h.pageError(w, r, errNotFound)
	}
	ctx := r.Context()
	user, err := h.checkPassword(ctx, r, form.Get("username"), form.Get("password"))
	if err != nil {
		// A failed sign-in also ends any sign-in in progress. The name
		// typed is shown again whether or not it exists.
		http.SetCookie(w, h.cookies.clear(h.cookies.pending))
		return h.showLogin(w, r, returnTo, http.StatusUnauthorized, err, form.Get("username"))
	}
	done, err := h.afterFirstFactor(ctx, r, user, []string{"pwd"}, deviceTokenOf(r, ""))
	if err != nil {
		return h.pageError(w, r, err)
	}
	switch done.Status {
	case statusAuthenticated:
		h.setSessionCookie(w, done.SessionToken, done.Session)
	case statusEnrollmentRequired:
		if _, err := h.startEnrollment(ctx, r, user, "", false); err != nil {
			return h.pageError(w, r, err)
		}
		h.setPendingCookie(w, done.Token, done.Pending)
	default:
		h.setPendingCookie(w, done.Token, done.Pending)
	}
	return h.seeOther(w, returnTo)
}

// finishFlow ends a passed second factor: a signed-in user's session is
// refreshed (same sid, fresh mfa_time); otherwise the browser's mfa_token
// is consumed and a new session starts.
func (h *Handler) finishFlow(w http.ResponseWriter, r *http.Request, st flowState, v verified) error {
	var s session
	var tok string
	var err error
	if st.session != nil {
		if err := h.settle(r.Context(), r, st.User, v); err != nil {
			return err
		}
		s, tok, err = h.refreshMFA(r, *st.session, v.Type)
	} else {
		s, tok, err = h.finishPending(r, st.pending, v)
	}
	if err != nil {
		return err
	}
	h.setSessionCookie(w, tok, s)
	return nil
}

// passCode checks a code the flow's form sent and ends the flow: a
// signed-in user's session is refreshed, a sign-in starts its session.
func (h *Handler) passCode(w http.ResponseWriter, r *http.Request, st flowState, in codeInput) (verified, error) {
	if st.session != nil {
		v, err := h.checkSecondFactor(r.Context(), r, st.User, in)
		if err != nil {
			return verified{}, err
		}
		return v, h.finishFlow(w, r, st, v)
	}
	v, s, tok, err := h.signInWithCode(r, st.pending, in)
	if err != nil {
		return verified{}, err
	}
	h.setSessionCookie(w, tok, s)
	return v, nil
}

func (h *Handler) verifyForm(w http.ResponseWriter, r *http.Request) error {
	form, returnTo, err := h.readForm(w, r)
	if err != nil {
		return h.showFlow(w, r, returnTo, err)
	}
	st, ok := h.flowUser(r)
	if !ok {
		return h.showFlow(w, r, returnTo, errInvalidMFAToken)
	}
	v, err := h.passCode(w, r, st, codeInput{
		Code:         form.Get("code"),
		RecoveryCode: form.Get("recovery_code"),
		FactorID:     form.Get("factor_id"),
	})
	if err != nil {
		return h.showFlow(w, r, returnTo, err)
	}
	// A page from before trusted devices were turned off may still send
	// the box: the sign-in goes on without one.
	if form.Get("remember_device") == "1" && st.session == nil && h.devicesEnabled() {
		if _, err := h.rememberDevice(w, r, st.User); err != nil {
			h.logStoreError("trusting a device", err)
		}
	}
	if v.Type == factor.TypeRecoveryCode {
		nonce := newNonce()
		return h.writePage(w, http.StatusOK, nonce, challengepage.MessageView{
			Common:   h.common(w, r, nonce, returnTo),
			Title:    "Recovery code accepted",
			Message:  recoveryNotice(v.CodesLeft),
			Link:     returnTo,
			LinkText: "Continue",
		})
	}
	return h.seeOther(w, returnTo)
}

func recoveryNotice(left int) string {
	switch left {
	case 0:
		return "That was your last recovery code. Create new ones from your account page now."
	case 1:
		return "You have 1 recovery code left. Create new ones from your account page soon."
	}
	return "You have " + strconv.Itoa(left) + " recovery codes left. Each works once."
}

func (h *Handler) enrollStartForm(w http.ResponseWriter, r *http.Request) error {
	_, returnTo, err := h.readForm(w, r)
	if err != nil {
		return h.showFlow(w, r, returnTo, err)
	}
	st, ok := h.flowUser(r)
	if !ok {
		return h.showFlow(w, r, returnTo, errInvalidMFAToken)
	}
	if err := h.pendingUnspent(r.Context(), st.pending); err != nil {
		return h.showFlow(w, r, returnTo, err)
	}
	sid := ""
	if st.session != nil {
		sid = st.session.SID
	}
	if _, err := h.startEnrollment(r.Context(), r, st.User, sid, false); err != nil {
		return h.showFlow(w, r, returnTo, err)
	}
	return h.seeOther(w, returnTo)
}

func (h *Handler) enrollConfirmForm(w http.ResponseWriter, r *http.Request) error {
	form, returnTo, err := h.readForm(w, r)
	if err != nil {
		return h.showFlow(w, r, returnTo, err)
	}
	st, ok := h.flowUser(r)
	if !ok {
		return h.showFlow(w, r, returnTo, errInvalidMFAToken)
	}
	if err := h.pendingUnspent(r.Context(), st.pending); err != nil {
		return h.showFlow(w, r, returnTo, err)
	}
	codes, err := h.confirmEnrollment(r.Context(), r, st.User, st.session, form.Get("factor_id"), form.Get("code"))
	if err != nil {
		return h.enrollProblem(w, r, st, returnTo, err)
	}
	// confirmEnrollment cleared the counter itself.
	if err := h.finishFlow(w, r, st, verified{Type: factor.TypeTOTP}); err != nil {
		return h.showFlow(w, r, returnTo, err)
	}
	if len(codes) == 0 {
		return h.seeOther(w, returnTo)
	}
	nonce := newNonce()
	return h.writePage(w, http.StatusOK, nonce, challengepage.RecoveryCodesView{
		Common:      h.common(w, r, nonce, returnTo),
		Codes:       codes,
		ContinueURL: returnTo,
	})
}

// enrollProblem shows a refused confirmation. A signed-in user adding
// another authenticator gets its setup page back: the flow would show them
// the step-up page of the factor they already have instead.
func (h *Handler) enrollProblem(w http.ResponseWriter, r *http.Request, st flowState, returnTo string, err error) error {
	if st.session == nil {
		return h.showFlow(w, r, returnTo, err)
	}
	active, aerr := h.activeFactors(r.Context(), st.User)
	if aerr != nil {
		return h.pageError(w, r, aerr)
	}
	if len(active) == 0 {
		return h.showFlow(w, r, returnTo, err)
	}
	return h.accountEnrollView(w, r, *st.session, err)
}

// enrollSkipForm starts a session without a second factor for a user in
// their enrollment grace period.
func (h *Handler) enrollSkipForm(w http.ResponseWriter, r *http.Request) error {
	_, returnTo, err := h.readForm(w, r)
	if err != nil {
		return h.showFlow(w, r, returnTo, err)
	}
	st, ok := h.flowUser(r)
	if !ok || st.session != nil {
		return h.showFlow(w, r, returnTo, errInvalidMFAToken)
	}
	s, tok, err := h.skipEnrollment(r, st.pending)
	if err != nil {
		return h.showFlow(w, r, returnTo, err)
	}
	h.setSessionCookie(w, tok, s)
	return h.seeOther(w, returnTo)
}

func (h *Handler) logoutForm(w http.ResponseWriter, r *http.Request) error {
	_, _, err := h.readForm(w, r)
	if err != nil {
		return h.pageError(w, r, err)
	}
	if s, _, err := h.requestSession(r); err == nil {
		if err := h.endSession(r.Context(), w, r, s); err != nil {
			return h.pageError(w, r, err)
		}
	} else {
		h.clearCookies(w)
	}
	nonce := newNonce()
	return h.writePage(w, http.StatusOK, nonce, challengepage.MessageView{
		Common:   h.common(w, r, nonce, "/"),
		Title:    "Signed out",
		Message:  "You are signed out.",
		Link:     "/",
		LinkText: "Sign in again",
	})
}

// serveAsset serves the embedded static files.
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, name string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return h.pageError(w, r, methodNotAllowed("GET", "HEAD"))
	}
	if name == "" || strings.Contains(name, "..") || !fs.ValidPath(name) {
		return h.pageError(w, r, errNotFound)
	}
	data, err := fs.ReadFile(h.pages.Assets(), name)
	if err != nil {
		return h.pageError(w, r, errNotFound)
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err = w.Write(data)
	return err
}

func humanDuration(d time.Duration) string {
	switch {
	case d <= time.Minute:
		return "a minute"
	case d < time.Hour:
		return strconv.Itoa(int((d+time.Minute-1)/time.Minute)) + " minutes"
	default:
		h := int((d + time.Hour - 1) / time.Hour)
		if h == 1 {
			return "an hour"
		}
		return strconv.Itoa(h) + " hours"
	}
}
