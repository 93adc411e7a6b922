package caddymfa

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// TestRealBrowserEnrollAndSignIn drives headless Chromium through the
// pages as a person would: sign in, read the setup key off the page, turn
// on the authenticator, save the codes, reach the app, sign out, and sign
// in again with a code. Screenshots of each page land in testartifacts/.
func TestRealBrowserEnrollAndSignIn(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	browser := testenv.Browser(t)
	ctx, do, submit, text := driver(t, browser)
	shot := func(name string) { testenv.Screenshot(t, browser, name) }
	const appText = `upstream saw GET /dashboard as "alice"`

	do("open the app", chromedp.Navigate(g.base+"/dashboard"), chromedp.WaitVisible(chromedp.ID("username")))
	shot("1-sign-in")
	do("type credentials", chromedp.SendKeys(chromedp.ID("username"), "alice"), chromedp.SendKeys(chromedp.ID("password"), "alice-password"))
	submit("sign in", chromedp.Submit(chromedp.ID("password")))
	do("enrollment page", chromedp.WaitVisible(chromedp.CSS("img.qr")))
	shot("2-enroll")
	attr, err := chromedp.Run(ctx(), chromedp.AttributeValue(chromedp.ID("secret"), "data-value"))
	if err != nil || !attr.Exists || len(attr.Value) < 32 {
		t.Fatalf("setup key %+v: %v", attr, err)
	}
	secret := attr.Value
	do("type the code", chromedp.SendKeys(chromedp.ID("code"), codeAt(t, secret, g.clock.Now())))
	submit("turn on the authenticator", chromedp.Submit(chromedp.ID("code")))
	do("recovery codes page", chromedp.WaitVisible(chromedp.ID("codes")))
	shot("3-recovery-codes")
	codes, err := chromedp.Run(ctx(), chromedp.Evaluate[[]string](`[...document.querySelectorAll('#codes li')].map(li => li.textContent.trim())`))
	if err != nil || len(codes) < 8 {
		t.Fatalf("%d recovery codes shown: %v", len(codes), err)
	}
	submit("continue to the app", chromedp.Click(chromedp.CSS(`a[href="/dashboard"]`)))
	if got := text("body"); !strings.Contains(got, appText) {
		t.Fatalf("app page says %q", got)
	}
	shot("4-app")

	do("sign-out page", chromedp.Navigate(g.base+"/_mfa/logout"), chromedp.WaitVisible(chromedp.CSS("button[type=submit]")))
	shot("5-sign-out")
	submit("sign out", chromedp.Click(chromedp.CSS("button[type=submit]")))
	if got := text("h1"); !strings.Contains(got, "Signed out") {
		t.Fatalf("after sign-out: %q", got)
	}

	g.clock.Advance(time.Minute)
	do("open the app again", chromedp.Navigate(g.base+"/dashboard"), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"), chromedp.SendKeys(chromedp.ID("password"), "alice-password"))
	submit("sign in again", chromedp.Submit(chromedp.ID("password")))
	do("challenge page", chromedp.WaitVisible(chromedp.ID("code")))
	shot("6-challenge")
	do("type a wrong code", chromedp.SendKeys(chromedp.ID("code"), "000000"))
	submit("send the wrong code", chromedp.Submit(chromedp.ID("code")))
	if got := text("#form-error"); !strings.Contains(got, "didn't work") {
		t.Fatalf("error message %q", got)
	}
	shot("7-wrong-code")
	do("type the right code", chromedp.SetValue(chromedp.ID("code"), ""), chromedp.SendKeys(chromedp.ID("code"), codeAt(t, secret, g.clock.Now())))
	submit("send the right code", chromedp.Submit(chromedp.ID("code")))
	if got := text("body"); !strings.Contains(got, appText) {
		t.Fatalf("app page after the code: %q", got)
	}

	// The sign-in page on a phone-sized screen.
	do("sign out again", chromedp.Navigate(g.base+"/_mfa/logout"), chromedp.WaitVisible(chromedp.CSS("button[type=submit]")))
	submit("confirm", chromedp.Click(chromedp.CSS("button[type=submit]")))
	do("phone view", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(g.base+"/dashboard"), chromedp.WaitVisible(chromedp.ID("username")))
	shot("8-sign-in-phone")
}

// TestRealBrowserStepUp: a signed-in user opens a step-up route after the
// second factor has aged, confirms with a code on the "confirm it's you"
// page, and lands on the page asked for; a form posted meanwhile is kept.
func TestRealBrowserStepUp(t *testing.T) {
	g := startGateway(t, policyMFA(t, "step_up /admin/* 5m"))
	browser := testenv.Browser(t)
	ctx, do, submit, text := driver(t, browser)

	secret := enrollAliceInBrowser(t, g, ctx, do, submit)

	g.clock.Advance(10 * time.Minute)
	do("open the admin page", chromedp.Navigate(g.base+"/admin/users"), chromedp.WaitVisible(chromedp.ID("code")))
	if got := text("h1"); !strings.Contains(got, "Confirm") {
		t.Fatalf("step-up page heading %q", got)
	}
	testenv.Screenshot(t, browser, "1-confirm-its-you")
	do("type a fresh code", chromedp.SendKeys(chromedp.ID("code"), codeAt(t, secret, g.clock.Now())))
	submit("confirm", chromedp.Submit(chromedp.ID("code")))
	if got := text("body"); !strings.Contains(got, `upstream saw GET /admin/users as "alice"`) {
		t.Fatalf("after step-up: %q", got)
	}
	testenv.Screenshot(t, browser, "2-admin-page")

	// The account page, for the record.
	do("account page", chromedp.Navigate(g.base+"/_mfa/account"), chromedp.WaitVisible(chromedp.ID("factors")))
	testenv.Screenshot(t, browser, "3-account")
}

// TestRealBrowserKeepsAForm: a form a page of the site posts to a step-up
// route with an aged second factor is kept; after the code, the browser's
// return to the URL sends it on, once. It holds the keeping rules (the
// request must show it came from our own page; the return must not be
// cross-site) to what Chromium actually sends.
func TestRealBrowserKeepsAForm(t *testing.T) {
	g := startGateway(t, policyMFA(t, "step_up /admin/* 5m"))
	browser := testenv.Browser(t)
	ctx, do, submit, text := driver(t, browser)

	secret := enrollAliceInBrowser(t, g, ctx, do, submit)

	g.clock.Advance(10 * time.Minute)
	do("open an app page", chromedp.Navigate(g.base+"/app"))
	submit("post a form from it", chromedp.Evaluate[chromedp.Void](`(() => {
		const f = document.createElement('form');
		f.method = 'post';
		f.action = '/admin/transfer';
		const i = document.createElement('input');
		i.name = 'amount';
		i.value = '42';
		f.appendChild(i);
		document.body.appendChild(f);
		f.submit();
	})()`))
	// The form's answer (the step-up page) may still be loading when the
	// response is in: wait for its code field before reading it.
	do("step-up page", chromedp.WaitVisible(chromedp.ID("code")))
	if got := text("body"); !strings.Contains(got, "is kept") {
		t.Fatalf("step-up page after the form: %q", got)
	}
	before := g.up.count()
	do("type a fresh code", chromedp.SendKeys(chromedp.ID("code"), codeAt(t, secret, g.clock.Now())))
	submit("confirm", chromedp.Submit(chromedp.ID("code")))
	if got := text("body"); !strings.Contains(got, `upstream saw POST /admin/transfer as "alice"`) {
		t.Fatalf("after the code: %q", got)
	}
	g.up.mu.Lock()
	var posts []string
	for _, r := range g.up.reqs[before:] {
		if r.Method != "GET" { // the browser also asks for /favicon.ico
			posts = append(posts, r.Method+" "+r.Body)
		}
	}
	g.up.mu.Unlock()
	if len(posts) != 1 || posts[0] != "POST amount=42" {
		t.Errorf("upstream got %q; want the kept form once", posts)
	}
}

// driver gives the steps of a browser test: ctx (a fresh time limit per
// step), do (actions that stay on the page), submit (actions that load a
// new page; waits for it), text (an element's text).
// enrollAliceInBrowser signs alice in on the site's front page and sets up
// her authenticator; it returns the authenticator's secret.
func enrollAliceInBrowser(t *testing.T, g *gateway, ctx func() context.Context, do, submit func(string, ...chromedp.Action[chromedp.Void])) string {
	t.Helper()
	do("sign in", chromedp.Navigate(g.base+"/"), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"), chromedp.SendKeys(chromedp.ID("password"), "alice-password"))
	submit("send password", chromedp.Submit(chromedp.ID("password")))
	attr, err := chromedp.Run(ctx(), chromedp.AttributeValue(chromedp.ID("secret"), "data-value"))
	if err != nil {
		t.Fatal(err)
	}
	do("type code", chromedp.SendKeys(chromedp.ID("code"), codeAt(t, attr.Value, g.clock.Now())))
	submit("enroll", chromedp.Submit(chromedp.ID("code")))
	return attr.Value
}

func driver(t *testing.T, browser context.Context) (
	ctx func() context.Context,
	do func(string, ...chromedp.Action[chromedp.Void]),
	submit func(string, ...chromedp.Action[chromedp.Void]),
	text func(string) string,
) {
	ctx = func() context.Context {
		c, cancel := context.WithTimeout(browser, 30*time.Second)
		t.Cleanup(cancel)
		return c
	}
	do = func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx(), steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	submit = func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.RunResponse(ctx(), steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text = func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx(), chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	return ctx, do, submit, text
}
