package caddymfa

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// elementAttr finds the first element with id and returns one attribute.
func elementAttr(t *testing.T, page, id, name string) string {
	t.Helper()
	return attr(elementByID(t, page, id), name)
}

// elementByID finds the first element with id.
func elementByID(t *testing.T, page, id string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var found *html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if found != nil {
			return
		}
		if n.Type == html.ElementNode && attr(n, "id") == id {
			found = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if found == nil {
		t.Fatalf("no element #%s on page: %s", id, pageText(page))
	}
	return found
}

// hasAttr reports whether n carries attribute name, even an empty one
// (autofocus, open).
func hasAttr(n *html.Node, name string) bool {
	for _, a := range n.Attr {
		if a.Key == name {
			return true
		}
	}
	return false
}

// listItems returns the text of the <li>s of the list with id.
func listItems(t *testing.T, page, id string) []string {
	t.Helper()
	doc, _ := html.Parse(strings.NewReader(page))
	var out []string
	var walk func(n *html.Node, in bool)
	walk = func(n *html.Node, in bool) {
		if n.Type == html.ElementNode && attr(n, "id") == id {
			in = true
		}
		if in && n.Type == html.ElementNode && n.Data == "li" {
			out = append(out, strings.TrimSpace(textOf(n)))
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, in)
		}
	}
	walk(doc, false)
	return out
}

func textOf(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(textOf(c))
	}
	return b.String()
}

// signInBrowser posts the login form shown at path and returns the answer.
func (c *client) signInBrowser(path, user, password string) response {
	c.t.Helper()
	page := c.get(path)
	mustStatus(c.t, page, http.StatusUnauthorized)
	form := formFields(c.t, page.Body, "/_mfa/login")
	form.Set("username", user)
	form.Set("password", password)
	return c.postForm("/_mfa/login", form)
}

// enrollBrowser signs user in at path with a browser and enrolls TOTP;
// it returns the secret read off the page and the recovery codes shown.
func (c *client) enrollBrowser(path, user, password string) (string, []string) {
	c.t.Helper()
	r := c.signInBrowser(path, user, password)
	mustStatus(c.t, r, http.StatusSeeOther)
	page := c.get(r.Header.Get("Location"))
	mustStatus(c.t, page, http.StatusUnauthorized)
	secret := elementAttr(c.t, page.Body, "secret", "data-value")
	form := formFields(c.t, page.Body, "/_mfa/enroll/confirm")
	form.Set("code", codeAt(c.t, secret, c.g.clock.Now()))
	done := c.postForm("/_mfa/enroll/confirm", form)
	mustStatus(c.t, done, http.StatusOK)
	codes := listItems(c.t, done.Body, "codes")
	return secret, codes
}

// verifyBrowser signs in and answers the challenge with form values.
func (c *client) verifyBrowser(path, user, password string, answer url.Values) response {
	c.t.Helper()
	r := c.signInBrowser(path, user, password)
	mustStatus(c.t, r, http.StatusSeeOther)
	page := c.get(r.Header.Get("Location"))
	mustStatus(c.t, page, http.StatusUnauthorized)
	form := formFields(c.t, page.Body, "/_mfa/verify")
	for k, v := range answer {
		form[k] = v
	}
	return c.postForm("/_mfa/verify", form)
}

// enrolledAlice starts a gateway for site, enrolls alice through the API
// and moves the clock a minute on, so that her next code is of a step
// enrollment did not spend.
func enrolledAlice(t *testing.T, site string) (*gateway, *client, string) {
	t.Helper()
	g := startGateway(t, site)
	c := g.client()
	secret, _, _ := c.enrollAPI("alice", "alice-password")
	g.clock.Advance(time.Minute)
	return g, c, secret
}

// enrollAPI enrolls user through the JSON API and returns the secret, the
// recovery codes and the access token.
func (c *client) enrollAPI(user, password string) (secret string, codes []string, token string) {
	c.t.Helper()
	r, m := c.api("POST", "login", map[string]string{"username": user, "password": password})
	mustStatus(c.t, r, http.StatusAccepted)
	if m["status"] != "enrollment_required" {
		c.t.Fatalf("login: %v", m)
	}
	mfaToken := m["mfa_token"].(string)
	r, m = c.api("POST", "enroll/totp", map[string]string{"mfa_token": mfaToken})
	mustStatus(c.t, r, http.StatusOK)
	secret = m["secret"].(string)
	r, m = c.api("POST", "enroll/totp/confirm", map[string]string{
		"mfa_token": mfaToken, "factor_id": m["factor_id"].(string), "code": codeAt(c.t, secret, c.g.clock.Now()),
	})
	mustStatus(c.t, r, http.StatusOK)
	for _, v := range m["recovery_codes"].([]any) {
		codes = append(codes, v.(string))
	}
	return secret, codes, m["access_token"].(string)
}

// loginAPI returns a fresh mfa_token for an enrolled user.
func (c *client) loginAPI(user, password string) string {
	c.t.Helper()
	r, m := c.api("POST", "login", map[string]string{"username": user, "password": password})
	mustStatus(c.t, r, http.StatusAccepted)
	if m["status"] != "mfa_required" {
		c.t.Fatalf("login: %v", m)
	}
	return m["mfa_token"].(string)
}
