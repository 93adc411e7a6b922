package challengepage

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

const testNonce = "bm9uY2Utdm9sdWU"

func newTestRenderer(t *testing.T, opts Options) *Renderer {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// renderDoc renders v and parses the result the way a browser would.
func renderDoc(t *testing.T, r *Renderer, v View) (*html.Node, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Render(&buf, v); err != nil {
		t.Fatalf("Render(%T): %v", v, err)
	}
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("parse %T: %v", v, err)
	}
	return doc, buf.String()
}

// sampleCommon fills every Common field so each page shows all it can.
func sampleCommon() Common {
	return Common{
		Prefix:   "/_mfa/",
		Nonce:    testNonce,
		CSRF:     "csrf-123",
		ReturnTo: "/reports?year=2024",
		Notice:   "Heads up",
		User:     "Alice",
	}
}

// sampleViews is one fully filled view per page, with the form actions each
// page must post to.
func sampleViews() []struct {
	view    View
	actions []string
} {
	c := sampleCommon()
	return []struct {
		view    View
		actions []string
	}{
		{LoginView{Common: c, Action: "/_mfa/login", Username: "alice"}, []string{"/_mfa/login"}},
		{ChallengeView{
			Common: c, Action: "/_mfa/challenge", Factors: []FactorOption{{"f1", "Phone"}, {"f2", "Tablet"}},
			AllowRecovery: true, CodesLeft: 2, RememberDevice: true, RememberDays: 30, SignOutAction: "/_mfa/logout",
		}, []string{"/_mfa/challenge", "/_mfa/challenge", "/_mfa/logout"}},
		{EnrollView{
			Common: c, Action: "/_mfa/enroll/confirm", FactorID: "f9", QRCode: "data:image/png;base64,iVBORw0KGgo=",
			Secret: "JBSWY3DPEHPK3PXP", OTPAuthURI: "otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme",
			Issuer: "Acme", Account: "alice", RestartAction: "/_mfa/enroll/restart", GraceDaysLeft: 3, SkipAction: "/_mfa/enroll/skip",
		}, []string{"/_mfa/enroll/confirm", "/_mfa/enroll/restart", "/_mfa/enroll/skip"}},
		{RecoveryCodesView{Common: c, Codes: []string{"abcd-efgh", "ijkl-mnop"}, ContinueURL: "/reports"}, nil},
		{MessageView{Common: c, Title: "Too many attempts", Message: "Wait a bit.", RetryAfterSeconds: 290, Link: "/", LinkText: "Home"}, nil},
		{LogoutView{Common: c, Action: "/_mfa/logout"}, []string{"/_mfa/logout"}},
		{AccountView{
			Common:          c,
			Factors:         []AccountItem{{Label: "Authenticator app", Detail: "Added 2026-03-01", Action: "/_mfa/account/factors/f1/remove", Button: "Remove", CSRF: c.CSRF, ReturnTo: c.ReturnTo}},
			AddFactorAction: "/_mfa/account/factors/totp", CodesLeft: 7, RegenerateAction: "/_mfa/account/recovery-codes",
			Devices:          []AccountItem{{Label: "Firefox on Linux", Current: true, Action: "/_mfa/account/devices/d1/revoke", Button: "Forget", CSRF: c.CSRF, ReturnTo: c.ReturnTo}},
			Sessions:         []AccountItem{{Label: "Chrome on macOS", Detail: "Started 2026-03-01", Current: true, Action: "/_mfa/account/sessions/s1/revoke", Button: "Sign out", CSRF: c.CSRF, ReturnTo: c.ReturnTo}},
			SignOutAllAction: "/_mfa/account/signout-everywhere", SignOutAction: "/_mfa/logout", ShowRecoveryCodes: true,
		}, []string{"/_mfa/account/factors/f1/remove", "/_mfa/account/factors/totp", "/_mfa/account/recovery-codes",
			"/_mfa/account/devices/d1/revoke", "/_mfa/account/sessions/s1/revoke", "/_mfa/account/signout-everywhere", "/_mfa/logout"}},
	}
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func findAll(root *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	walk(root, func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
	})
	return out
}

func byTag(root *html.Node, tag string) []*html.Node {
	return findAll(root, func(n *html.Node) bool { return n.Data == tag })
}

func byID(root *html.Node, id string) *html.Node {
	found := findAll(root, func(n *html.Node) bool { v, ok := attr(n, "id"); return ok && v == id })
	if len(found) == 0 {
		return nil
	}
	return found[0]
}

func inputNamed(root *html.Node, name string) []*html.Node {
	return findAll(root, func(n *html.Node) bool {
		v, ok := attr(n, "name")
		return ok && v == name && (n.Data == "input" || n.Data == "select")
	})
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasAttr(n *html.Node, key string) bool {
	_, ok := attr(n, key)
	return ok
}

// text is the text content of n with runs of white space collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return strings.Join(strings.Fields(b.String()), " ")
}
