package challengepage

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestLoginFields(t *testing.T) {
	r := newTestRenderer(t, Options{})
	tests := []struct {
		name     string
		username string
		focus    string
	}{
		{"first visit focuses the username", "", "username"},
		{"after an error the password", "alice", "password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, _ := renderDoc(t, r, LoginView{Common: sampleCommon(), Action: "/_mfa/login", Username: tc.username})
			user := byID(doc, "username")
			pass := byID(doc, "password")
			if user == nil || pass == nil {
				t.Fatal("username or password field missing")
			}
			for n, want := range map[*html.Node][]html.Attribute{
				user: {{Key: "name", Val: "username"}, {Key: "autocomplete", Val: "username"}, {Key: "autocapitalize", Val: "none"}, {Key: "spellcheck", Val: "false"}, {Key: "required"}, {Key: "value", Val: tc.username}},
				pass: {{Key: "name", Val: "password"}, {Key: "type", Val: "password"}, {Key: "autocomplete", Val: "current-password"}, {Key: "required"}},
			} {
				for _, a := range want {
					if !slices.Contains(n.Attr, a) {
						t.Errorf("%v lacks %s=%q", n.Attr, a.Key, a.Val)
					}
				}
			}
			if focused := byID(doc, tc.focus); !hasAttr(focused, "autofocus") {
				t.Errorf("%s has no autofocus", tc.focus)
			}
		})
	}
}

func TestChallengeOptions(t *testing.T) {
	r := newTestRenderer(t, Options{})
	base := ChallengeView{Common: sampleCommon(), Action: "/_mfa/challenge"}
	tests := []struct {
		name  string
		edit  func(*ChallengeView)
		check func(t *testing.T, doc *html.Node)
	}{
		{"one factor, no select", func(v *ChallengeView) { v.Factors = []FactorOption{{"f1", "Phone"}} }, func(t *testing.T, doc *html.Node) {
			if len(inputNamed(doc, "factor_id")) != 0 {
				t.Error("factor_id offered for a single factor")
			}
		}},
		{"two factors, a select", func(v *ChallengeView) { v.Factors = []FactorOption{{"f1", "Phone"}, {"f2", "Tablet"}} }, func(t *testing.T, doc *html.Node) {
			sel := inputNamed(doc, "factor_id")
			if len(sel) != 1 || sel[0].Data != "select" {
				t.Fatal("want a select named factor_id")
			}
			var got []string
			for _, o := range byTag(sel[0], "option") {
				v, _ := attr(o, "value")
				got = append(got, v+"="+text(o))
			}
			if want := []string{"f1=Phone", "f2=Tablet"}; !slices.Equal(got, want) {
				t.Errorf("options %q, want %q", got, want)
			}
		}},
		{"step-up wording", func(v *ChallengeView) { v.StepUp = true }, func(t *testing.T, doc *html.Node) {
			if h := text(byTag(doc, "h1")[0]); h != "Confirm it's you" {
				t.Errorf("h1 %q", h)
			}
		}},
		{"sign-in wording", func(v *ChallengeView) {}, func(t *testing.T, doc *html.Node) {
			if h := text(byTag(doc, "h1")[0]); h != "Enter your code" {
				t.Errorf("h1 %q", h)
			}
			if len(inputNamed(doc, "remember_device")) != 0 || len(inputNamed(doc, "recovery_code")) != 0 || len(byTag(doc, "form")) != 1 {
				t.Error("optional parts shown though not asked for")
			}
		}},
		{"8-digit codes", func(v *ChallengeView) { v.Digits = 8 }, func(t *testing.T, doc *html.Node) {
			code := byID(doc, "code")
			if m, _ := attr(code, "maxlength"); m != "16" {
				t.Errorf("maxlength %q, want 16", m)
			}
			if l := text(findAll(doc, func(n *html.Node) bool { return n.Data == "label" })[0]); l != "8-digit code" {
				t.Errorf("label %q", l)
			}
		}},
		{"remember device", func(v *ChallengeView) { v.RememberDevice, v.RememberDays = true, 30 }, func(t *testing.T, doc *html.Node) {
			cb := inputNamed(doc, "remember_device")
			if len(cb) != 1 || !slices.Contains(cb[0].Attr, html.Attribute{Key: "type", Val: "checkbox"}) || !slices.Contains(cb[0].Attr, html.Attribute{Key: "value", Val: "1"}) {
				t.Fatal("want a remember_device checkbox with value 1")
			}
			if hasAttr(cb[0], "checked") {
				t.Error("trusting a device must be opted into")
			}
			if form := ancestor(cb[0], "form"); form == nil || len(inputNamed(form, "code")) != 1 {
				t.Error("the checkbox must be sent with the code")
			}
			label := findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "for"); return v == "remember_device" })
			if len(label) != 1 || text(label[0]) != "Trust this device for 30 days" {
				t.Errorf("label %q", text(label[0]))
			}
		}},
		{"recovery code in its own form", func(v *ChallengeView) { v.AllowRecovery, v.CodesLeft = true, 8 }, func(t *testing.T, doc *html.Node) {
			rc := inputNamed(doc, "recovery_code")
			if len(rc) != 1 {
				t.Fatal("want a recovery_code input")
			}
			for _, a := range []html.Attribute{{Key: "type", Val: "text"}, {Key: "autocomplete", Val: "off"}} {
				if !slices.Contains(rc[0].Attr, a) {
					t.Errorf("recovery_code lacks %s=%q", a.Key, a.Val)
				}
			}
			// The code field is required: sharing its form would block a
			// recovery code from being sent without JS.
			if form := ancestor(rc[0], "form"); form == nil || len(inputNamed(form, "code")) != 0 {
				t.Error("recovery_code shares a form with the required code field")
			}
			if d := ancestor(rc[0], "details"); d == nil || hasAttr(d, "open") {
				t.Error("recovery form should sit in a closed <details>")
			}
		}},
		{"recovery form opened first", func(v *ChallengeView) { v.AllowRecovery, v.CodesLeft, v.RecoveryOpen = true, 8, true }, func(t *testing.T, doc *html.Node) {
			rc := inputNamed(doc, "recovery_code")[0]
			if !hasAttr(ancestor(rc, "details"), "open") || !hasAttr(rc, "autofocus") || hasAttr(byID(doc, "code"), "autofocus") {
				t.Error("want the details open and the focus on the recovery code")
			}
		}},
		{"no recovery codes left hides the form", func(v *ChallengeView) { v.AllowRecovery, v.CodesLeft = true, 0 }, func(t *testing.T, doc *html.Node) {
			if len(inputNamed(doc, "recovery_code")) != 0 {
				t.Error("recovery form offered with no codes left")
			}
		}},
		{"sign out form", func(v *ChallengeView) { v.SignOutAction = "/_mfa/logout" }, func(t *testing.T, doc *html.Node) {
			forms := byTag(doc, "form")
			if len(forms) != 2 || text(forms[1]) != "Not you? Sign out" {
				t.Errorf("want a second form %q", "Not you? Sign out")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := base
			tc.edit(&v)
			doc, _ := renderDoc(t, r, v)
			tc.check(t, doc)
		})
	}
}

func ancestor(n *html.Node, tag string) *html.Node {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.Data == tag {
			return p
		}
	}
	return nil
}

func TestCodesLeftWarning(t *testing.T) {
	r := newTestRenderer(t, Options{})
	tests := []struct {
		left          int
		allowRecovery bool
		want          string // "" means no warning
	}{
		{0, true, "You have no recovery codes left. Create new ones from your account page."},
		{0, false, ""},
		{1, true, "You have 1 recovery code left. Create new ones from your account page."},
		{2, true, "You have 2 recovery codes left. Create new ones from your account page."},
		{3, true, "You have 3 recovery codes left. Create new ones from your account page."},
		{3, false, "You have 3 recovery codes left. Create new ones from your account page."},
		{4, true, ""},
		{10, true, ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d/recovery=%v", tc.left, tc.allowRecovery), func(t *testing.T) {
			doc, _ := renderDoc(t, r, ChallengeView{Common: sampleCommon(), Action: "/c", AllowRecovery: tc.allowRecovery, CodesLeft: tc.left})
			got := ""
			if n := byID(doc, "codes-left"); n != nil {
				got = text(n)
			}
			if got != tc.want {
				t.Errorf("warning %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEnrollPage(t *testing.T) {
	r := newTestRenderer(t, Options{})
	v := sampleViews()[2].view.(EnrollView)
	doc, _ := renderDoc(t, r, v)

	secret := byID(doc, "secret")
	if secret == nil || text(secret) != "JBSW Y3DP EHPK 3PXP" {
		t.Errorf("secret shown as %q, want blocks of 4", text(secret))
	}
	copyButtons := findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "data-copy"); return v == "secret" })
	if len(copyButtons) != 1 || !hasAttr(copyButtons[0], "hidden") {
		t.Error("want one copy button for the secret, hidden until the script shows it")
	}
	if imgs := byTag(doc, "img"); len(imgs) != 1 || !slices.Contains(imgs[0].Attr, html.Attribute{Key: "src", Val: string(v.QRCode)}) {
		t.Error("want the QR code image")
	}
	links := findAll(doc, func(n *html.Node) bool { return n.Data == "a" && text(n) == "Open in authenticator app" })
	if len(links) != 1 || !slices.Contains(links[0].Attr, html.Attribute{Key: "href", Val: string(v.OTPAuthURI)}) {
		t.Error("want an otpauth link")
	}
	confirm := byTag(doc, "form")[0]
	if in := inputNamed(confirm, "factor_id"); len(in) != 1 || !slices.Contains(in[0].Attr, html.Attribute{Key: "value", Val: "f9"}) {
		t.Error("confirm form lacks factor_id")
	}
	skip := byTag(doc, "form")[2]
	if got := text(skip); got != "Skip for now (3 days left)" {
		t.Errorf("skip form %q", got)
	}

	v.GraceDaysLeft = 0
	doc, _ = renderDoc(t, r, v)
	if n := len(byTag(doc, "form")); n != 2 {
		t.Errorf("%d forms without grace days, want 2 (no skip)", n)
	}
}

func TestRecoveryCodesPage(t *testing.T) {
	r := newTestRenderer(t, Options{Branding: Branding{Title: "Acme"}})
	v := sampleViews()[3].view.(RecoveryCodesView)
	doc, _ := renderDoc(t, r, v)

	var shown []string
	for _, li := range byTag(byID(doc, "codes"), "li") {
		shown = append(shown, text(li))
	}
	if !slices.Equal(shown, v.Codes) {
		t.Errorf("codes shown %q, want %q", shown, v.Codes)
	}
	download := findAll(doc, func(n *html.Node) bool { return hasAttr(n, "download") })
	if len(download) != 1 {
		t.Fatal("want one download link")
	}
	href, _ := attr(download[0], "href")
	if !strings.HasPrefix(href, "data:text/plain;charset=utf-8,") || !strings.Contains(href, "Acme") {
		t.Fatalf("download href %q", href)
	}
	for _, c := range v.Codes {
		if !strings.Contains(href, c) {
			t.Errorf("download lacks %q", c)
		}
	}
	cont := findAll(doc, func(n *html.Node) bool { return n.Data == "a" && strings.HasPrefix(text(n), "I saved them") })
	if len(cont) != 1 || !slices.Contains(cont[0].Attr, html.Attribute{Key: "href", Val: "/reports"}) {
		t.Error("want a continue link to ContinueURL")
	}
}

func TestMessagePage(t *testing.T) {
	r := newTestRenderer(t, Options{})
	tests := []struct {
		name      string
		view      MessageView
		h1, retry string
		link      string // "text=href", "" for none
	}{
		{"retry and link", MessageView{Title: "Too many attempts", RetryAfterSeconds: 290, Link: "/", LinkText: "Home"}, "Too many attempts", "Try again in 5 minutes.", "Home=/"},
		{"defaults", MessageView{Link: "/x"}, "Something went wrong", "", "Continue=/x"},
		{"plain", MessageView{Title: "Signed out"}, "Signed out", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.view.Common = sampleCommon()
			doc, _ := renderDoc(t, r, tc.view)
			if h := text(byTag(doc, "h1")[0]); h != tc.h1 {
				t.Errorf("h1 %q, want %q", h, tc.h1)
			}
			retry := ""
			if n := byID(doc, "retry"); n != nil {
				retry = text(n)
			}
			if retry != tc.retry {
				t.Errorf("retry %q, want %q", retry, tc.retry)
			}
			link := ""
			if a := findAll(doc, func(n *html.Node) bool { return n.Data == "a" }); len(a) > 0 {
				href, _ := attr(a[0], "href")
				link = text(a[0]) + "=" + href
			}
			if link != tc.link {
				t.Errorf("link %q, want %q", link, tc.link)
			}
		})
	}
}

func TestBrandingShown(t *testing.T) {
	tests := []struct {
		name                 string
		branding             Branding
		title, logout, brand string
		logo                 string
	}{
		{"default", Branding{}, "Enter your code", "Sign out?", "", ""},
		{"named with logo", Branding{Title: "Acme Wiki", LogoURL: "/_mfa/assets/logo.png"}, "Enter your code · Acme Wiki", "Sign out of Acme Wiki?", "Acme Wiki", "/_mfa/assets/logo.png"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRenderer(t, Options{Branding: tc.branding})
			doc, _ := renderDoc(t, r, ChallengeView{Common: sampleCommon(), Action: "/c"})
			if got := text(byTag(doc, "title")[0]); got != tc.title {
				t.Errorf("title %q, want %q", got, tc.title)
			}
			header := byTag(doc, "header")
			if got := ""; len(header) == 1 {
				got = text(header[0])
				if got != tc.brand {
					t.Errorf("header %q, want %q", got, tc.brand)
				}
			} else if tc.brand != "" {
				t.Error("no header")
			}
			logo := ""
			if imgs := byTag(doc, "img"); len(imgs) == 1 {
				logo, _ = attr(imgs[0], "src")
			}
			if logo != tc.logo {
				t.Errorf("logo %q, want %q", logo, tc.logo)
			}
			doc, _ = renderDoc(t, r, LogoutView{Common: sampleCommon(), Action: "/l"})
			if got := text(byTag(doc, "h1")[0]); got != tc.logout {
				t.Errorf("logout h1 %q, want %q", got, tc.logout)
			}
		})
	}
}

func TestAccentColourInlined(t *testing.T) {
	// A faint accent (under 3:1 against a card) hands its lines to the text colour.
	const faint = ";--accent-line:var(--fg)"
	tests := []struct{ color, accent, onAccent, line string }{
		{"", "#2563eb", "#ffffff", ""},
		{"#FFDD00", "#ffdd00", "#000000", faint},
		{"#036", "#036", "#ffffff", faint},
		{"#0a7d5a", "#0a7d5a", "#ffffff", ""},
	}
	for _, tc := range tests {
		t.Run(tc.color, func(t *testing.T) {
			r := newTestRenderer(t, Options{Branding: Branding{Color: tc.color}})
			doc, _ := renderDoc(t, r, LogoutView{Common: sampleCommon(), Action: "/l"})
			css := text(byTag(doc, "style")[0])
			if want := ":root{--accent:" + tc.accent + ";--on-accent:" + tc.onAccent + tc.line + "}"; !strings.HasSuffix(css, want) {
				t.Errorf("style ends %q, want %q", css[max(0, len(css)-60):], want)
			}
		})
	}
}

func TestEnrollPageWithoutSetupOffersToStartOne(t *testing.T) {
	r := newTestRenderer(t, Options{})
	v := sampleViews()[2].view.(EnrollView)
	v.FactorID, v.QRCode, v.Secret, v.OTPAuthURI = "", "", "", ""
	doc, _ := renderDoc(t, r, v)
	forms := byTag(doc, "form")
	if len(forms) < 1 {
		t.Fatal("no form")
	}
	if got, _ := attr(forms[0], "action"); got != v.RestartAction {
		t.Errorf("first form posts to %q, want the start action %q", got, v.RestartAction)
	}
	if byID(doc, "code") != nil || byID(doc, "secret") != nil || len(byTag(doc, "img")) != 0 {
		t.Error("a code field, setup key or QR code without a setup")
	}
}
