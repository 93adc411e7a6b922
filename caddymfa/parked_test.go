package caddymfa

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSignOutDropsTheKeptRequest: alice's transfer is kept for a step-up,
// she signs out, and bob signs in in the same browser. Signing out clears
// the kept request's cookie; and a browser that still sends it (the
// cookie outlived the sign-out) gets nothing of alice's: bob's GET of the
// URL stays a GET, and the kept request is gone.
func TestSignOutDropsTheKeptRequest(t *testing.T) {
	g := startGateway(t, policyMFA(t, "step_up {\n match path /admin/*\n match method POST\n max_age 2m\n }"))
	c := g.client()
	c.enrollBrowser("/", "alice", "alice-password")
	g.clock.Advance(10 * time.Minute)

	r := c.postForm("/admin/transfer", url.Values{"to": {"mallory"}, "amount": {"900"}})
	mustStatus(t, r, http.StatusUnauthorized)
	resume := c.cookie(resumeCookie)
	if resume == nil {
		t.Fatal("alice's transfer was not kept")
	}
	page := c.get("/_mfa/logout")
	mustStatus(t, page, http.StatusOK)
	mustStatus(t, c.postForm("/_mfa/logout", formFields(t, page.Body, "/_mfa/logout")), http.StatusOK)
	if c.cookie(resumeCookie) != nil {
		t.Error("signing out left the kept request's cookie")
	}

	u, _ := url.Parse(g.base)
	c.jar.SetCookies(u, []*http.Cookie{{Name: resume.Name, Value: resume.Value, Path: "/", Secure: true, HttpOnly: true}})
	c.enrollBrowser("/admin/transfer", "bob", "bob-password")
	before := g.up.count()
	mustStatus(t, c.get("/admin/transfer"), http.StatusOK)
	got := g.up.last(t)
	if g.up.count() != before+1 || got.Method != "GET" || got.Body != "" || got.Header.Get("Remote-User") != "bob" {
		t.Errorf("upstream got %s %q as %q; want bob's plain GET", got.Method, got.Body, got.Header.Get("Remote-User"))
	}
	if c.cookie(resumeCookie) != nil {
		t.Error("the kept request's cookie stayed after it was dropped")
	}
}

// TestKeptRequestAfterExpiryIsNotForTheNextUser: alice's session ran out
// and her form is kept; bob signs in on the page that says so, in the same
// browser. The kept form was alice's (her expired session said so): it
// never reaches the upstream as bob's.
func TestKeptRequestAfterExpiryIsNotForTheNextUser(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	bobSecret, _, _ := g.client().enrollAPI("bob", "bob-password")
	c := g.client()
	c.enrollBrowser("/", "alice", "alice-password")
	g.clock.Advance(13 * time.Hour)

	r := c.postForm("/app/save", url.Values{"draft": {"alice's private note"}})
	mustStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(pageText(r.Body), "is kept") {
		t.Fatalf("alice's form was not kept: %s", pageText(r.Body))
	}
	back := signInFromPage(t, c, r.Body, "bob", "bob-password", bobSecret)

	before := g.up.count()
	mustStatus(t, c.get(back.Header.Get("Location")), http.StatusOK)
	got := g.up.last(t)
	if g.up.count() != before+1 || got.Method != "GET" || got.Body != "" || got.Header.Get("Remote-User") != "bob" {
		t.Errorf("upstream got %s %q as %q; want bob's plain GET", got.Method, got.Body, got.Header.Get("Remote-User"))
	}
}

// TestKeptRequestIgnoresCrossSiteVisits: a link on another site to the
// kept request's URL is a plain GET; the request stays kept for the
// browser's own return (a typed or bookmarked URL counts as its own).
func TestKeptRequestIgnoresCrossSiteVisits(t *testing.T) {
	g, c, back := parkedPayment(t)
	to := back.Header.Get("Location")
	for _, site := range []string{"cross-site", "same-site"} {
		mustStatus(t, c.get(to, "Sec-Fetch-Site", site), http.StatusOK)
		if got := g.up.last(t); got.Method != "GET" {
			t.Errorf("a %s GET replayed the kept %s %q", site, got.Method, got.Body)
		}
		if c.cookie(resumeCookie) == nil {
			t.Fatalf("a %s GET took the kept request's cookie", site)
		}
	}
	mustStatus(t, c.get(to, "Sec-Fetch-Site", "none"), http.StatusOK)
	if got := g.up.last(t); got.Method != "POST" || got.Body != "amount=5" {
		t.Errorf("upstream got %s %q, want the kept POST", got.Method, got.Body)
	}
}

// TestOnlyOwnPagesRequestsAreKept: a request is kept only when it shows it
// came from a page of this site. A client that sends neither Origin nor
// Sec-Fetch-Site passes the cross-origin check but gets nothing stored: no
// one without a session can fill the store with bodies.
func TestOnlyOwnPagesRequestsAreKept(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	other := "https" + strings.TrimPrefix(g.base, "http")
	cases := []struct {
		name string
		hdr  []string
		kept bool
	}{
		{"no origin headers", nil, false},
		{"Sec-Fetch-Site same-origin", []string{"Sec-Fetch-Site", "same-origin"}, true},
		{"own Origin", []string{"Origin", g.base}, true},
		{"both", []string{"Origin", g.base, "Sec-Fetch-Site", "same-origin"}, true},
		{"Origin of another scheme", []string{"Origin", other}, false},
		{"Origin null", []string{"Origin", "null"}, false},
		{"Sec-Fetch-Site none", []string{"Sec-Fetch-Site", "none"}, false},
		{"Sec-Fetch-Site same-site", []string{"Sec-Fetch-Site", "same-site"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := g.client()
			req, _ := http.NewRequest("POST", g.base+"/app/save", strings.NewReader("draft="+strings.Repeat("x", 60<<10)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "text/html")
			setHeaders(req, tc.hdr)
			r := c.do(req)
			mustStatus(t, r, http.StatusUnauthorized)
			said := strings.Contains(pageText(r.Body), "is kept")
			if got := c.cookie(resumeCookie) != nil; got != tc.kept || said != tc.kept {
				t.Errorf("kept %v (page says so: %v), want %v", got, said, tc.kept)
			}
		})
	}
}

// TestKeptRequestKeepsItsURL: the sign-in returns to the URL a form was
// sent to, its query as it came, and the form goes through there. A URL
// whose path the sign-in would not return to is not kept, and the page
// does not say it is.
func TestKeptRequestKeepsItsURL(t *testing.T) {
	g, _, secret := enrolledAlice(t, defaultMFA(t))
	for _, uri := range []string{
		"/search?q=line1%0D%0Aline2",
		"/files?dir=C%3A%5Cshare",
		"/find?q=100%",
		"/long?q=" + strings.Repeat("a", 3000),
	} {
		t.Run(uri[:min(len(uri), 30)], func(t *testing.T) {
			g.clock.Advance(time.Minute) // a code of a step not spent yet
			c := g.client()
			r := c.postForm(uri, url.Values{"n": {"1"}})
			mustStatus(t, r, http.StatusUnauthorized)
			if !strings.Contains(pageText(r.Body), "is kept") || c.cookie(resumeCookie) == nil {
				t.Fatalf("not kept: %s", pageText(r.Body))
			}
			if got := formFields(t, r.Body, "/_mfa/login").Get("return_to"); got != uri {
				t.Errorf("return_to = %.60q, want %.60q", got, uri)
			}
			back := signInFromPage(t, c, r.Body, "alice", "alice-password", secret)
			if got := back.Header.Get("Location"); got != uri {
				t.Fatalf("back to %.60q, want %.60q", got, uri)
			}
			mustStatus(t, c.get(uri), http.StatusOK)
			if got := g.up.last(t); got.Method != "POST" || got.URI != uri || got.Body != "n=1" {
				t.Errorf("upstream got %s %.60q %q, want the kept POST", got.Method, got.URI, got.Body)
			}
		})
	}

	c := g.client()
	r := c.postForm("/%2F%2Fevil.test", url.Values{"n": {"1"}})
	mustStatus(t, r, http.StatusUnauthorized)
	if strings.Contains(pageText(r.Body), "is kept") || c.cookie(resumeCookie) != nil {
		t.Error("kept a request the sign-in never returns to")
	}
}

// TestKeptRequestsPerClientAreCapped: headers that say "our page" can be
// forged, so one client IP keeps at most parkPerIP requests at a time;
// the next meets the challenge unkept, and the store holds no more.
func TestKeptRequestsPerClientAreCapped(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	post := func() bool {
		c := g.client()
		req, _ := http.NewRequest("POST", g.base+"/app/save", strings.NewReader("draft=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		r := c.do(req)
		mustStatus(t, r, http.StatusUnauthorized)
		return c.cookie(resumeCookie) != nil
	}
	for i := range parkPerIP {
		if !post() {
			t.Fatalf("request %d of one client was not kept", i+1)
		}
	}
	if post() {
		t.Errorf("request %d of one client was kept, past the cap", parkPerIP+1)
	}
	// Ten minutes on, the client may keep one again.
	g.clock.Advance(parkLifetime + time.Second)
	if !post() {
		t.Error("after ten minutes the client still keeps nothing")
	}
}

// signInFromPage signs user in through the sign-in page page (its form
// with the password, then the code page) and returns the code's answer:
// a 303 back to where the page was asked for.
func signInFromPage(t *testing.T, c *client, page, user, password, secret string) response {
	t.Helper()
	lf := formFields(t, page, "/_mfa/login")
	lf.Set("username", user)
	lf.Set("password", password)
	in := c.postForm("/_mfa/login", lf)
	mustStatus(t, in, http.StatusSeeOther)
	ch := c.get(in.Header.Get("Location"))
	mustStatus(t, ch, http.StatusUnauthorized)
	vf := formFields(t, ch.Body, "/_mfa/verify")
	vf.Set("code", codeAt(t, secret, c.g.clock.Now()))
	back := c.postForm("/_mfa/verify", vf)
	mustStatus(t, back, http.StatusSeeOther)
	return back
}

// TestKeptRequestsCappedPerSlash64: an IPv6 client that walks through the
// addresses of its /64 is still one client for the cap.
func TestKeptRequestsCappedPerSlash64(t *testing.T) {
	og := startOpsGateway(t, defaultMFA(t), opsOptions{global: "servers {\n\t\ttrusted_proxies static 127.0.0.0/8 ::1\n\t}"})
	kept := 0
	for i := range parkPerIP + 5 {
		c := og.client()
		req, _ := http.NewRequest("POST", og.base+"/app/save", strings.NewReader("draft=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("2001:db8:0:1::%x", i+1))
		mustStatus(t, c.do(req), http.StatusUnauthorized)
		if c.cookie(resumeCookie) != nil {
			kept++
		}
	}
	if kept != parkPerIP {
		t.Errorf("kept %d requests from one /64, want %d", kept, parkPerIP)
	}
}
