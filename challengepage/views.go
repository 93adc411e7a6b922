package challengepage

import "html/template"

// View is implemented by the view types of this package only; the unexported
// method picks the page template.
type View interface{ templateName() string }

// Common is embedded in every view.
type Common struct {
	Prefix   string // reserved route prefix, e.g. "/_mfa/"
	Nonce    string // CSP nonce for the inline <style> and <script>; Render refuses an empty one
	CSRF     string // hidden input "csrf_token" in every form
	ReturnTo string // hidden input "return_to" in every form
	Error    string // shown in an alert (role="alert") that the inputs point at with aria-describedby
	Notice   string // neutral message (role="status")
	User     string // display name once known; shown as "Signed in as …"
}

func (c Common) common() Common { return c }

// LoginView asks for the first factor.
type LoginView struct {
	Common
	Action   string // form action (POST)
	Username string // prefilled after an error; the password field then gets the focus
}

// ChallengeView asks for a second-factor code.
type ChallengeView struct {
	Common
	Action  string // form action (POST)
	StepUp  bool   // "Confirm it's you" wording: signed in, but this page needs a fresh code
	Digits  int    // code length for wording and maxlength; 0 means 6
	Factors []FactorOption
	// AllowRecovery offers a second form with a "recovery_code" input. It is
	// hidden when CodesLeft is 0: that user is told to make new codes instead.
	AllowRecovery bool
	RecoveryOpen  bool // open the recovery-code form first, e.g. after a wrong recovery code
	CodesLeft     int  // ≤ 3 shows a warning; 0 shows one only with AllowRecovery
	// RememberDevice shows a "remember_device" checkbox (value "1").
	RememberDevice bool
	RememberDays   int
	SignOutAction  string // optional "Not you? Sign out" form (POST)
}

// FactorOption is one of the user's factors; a select named "factor_id"
// appears when there is more than one.
type FactorOption struct {
	ID, Label string
}

// EnrollView sets up a TOTP authenticator.
type EnrollView struct {
	Common
	Action        string       // POST: confirm with a code
	FactorID      string       // hidden input "factor_id"
	Digits        int          // code length; 0 means 6
	QRCode        template.URL // "data:image/png;base64,…"
	Secret        string       // base32; shown in blocks of 4
	OTPAuthURI    template.URL // "Open in authenticator app" link for phones
	Issuer        string
	Account       string
	RestartAction string // optional POST: start over with a new secret
	GraceDaysLeft int    // > 0 with SkipAction: "Skip for now (N days left)"
	SkipAction    string
}

// RecoveryCodesView shows freshly made recovery codes, once.
type RecoveryCodesView struct {
	Common
	Codes       []string
	ContinueURL string // same-site path, validated by the caller
}

// MessageView is a short page with a title and a message, for errors and
// confirmations.
type MessageView struct {
	Common
	Title             string // e.g. "Too many attempts"; empty shows "Something went wrong"
	Message           string
	RetryAfterSeconds int    // > 0 adds "Try again in 5 minutes."
	Link              string // optional same-site path
	LinkText          string // defaults to "Continue"
}

// LogoutView asks to confirm signing out.
type LogoutView struct {
	Common
	Action string // form action (POST)
}

// AccountView is the self-service page of a signed-in user. Every item
// with an Action gets a small POST form; the handler asks for a fresh
// second factor before the sensitive ones.
type AccountView struct {
	Common
	Factors           []AccountItem // the user's authenticators
	AddFactorAction   string        // POST: add another authenticator
	CodesLeft         int
	RegenerateAction  string // POST: new recovery codes (old ones die)
	Devices           []AccountItem
	Sessions          []AccountItem
	SignOutAllAction  string // POST: end every session, this one included
	SignOutAction     string // POST: end this session
	ShowRecoveryCodes bool   // the site offers recovery codes
}

// AccountItem is one row of the account page: an authenticator, a trusted
// device or a session.
type AccountItem struct {
	Label   string // e.g. "Authenticator app", "Firefox on Linux"
	Detail  string // e.g. "Added 2026-03-01", "Last used 2026-03-02 from 192.0.2.1"
	Current bool   // this browser's own device or session
	Action  string // POST target of its remove/revoke button; empty: no button
	Button  string // button text, e.g. "Remove", "Sign out"
	// CSRF and ReturnTo repeat the page's values for the row's form.
	CSRF     string
	ReturnTo string
}

func (LoginView) templateName() string         { return "login.html" }
func (ChallengeView) templateName() string     { return "challenge.html" }
func (EnrollView) templateName() string        { return "enroll.html" }
func (RecoveryCodesView) templateName() string { return "recovery_codes.html" }
func (MessageView) templateName() string       { return "message.html" }
func (LogoutView) templateName() string        { return "logout.html" }
func (AccountView) templateName() string       { return "account.html" }

// pageViews lists one zero value per page: New parses each and test-renders
// it with the samples made from it.
var pageViews = []View{
	LoginView{},
	ChallengeView{},
	EnrollView{},
	RecoveryCodesView{},
	MessageView{},
	LogoutView{},
	AccountView{},
}
