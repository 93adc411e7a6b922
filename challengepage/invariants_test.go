package challengepage

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestPageInvariants checks what every page owes the CSP, accessibility and
// the handler, with and without an error message.
func TestPageInvariants(t *testing.T) {
	r := newTestRenderer(t, Options{Branding: Branding{Title: "Acme", LogoURL: "/_mfa/assets/logo.png"}})
	for _, tc := range sampleViews() {
		for _, withError := range []bool{false, true} {
			v := tc.view
			if withError {
				v = setError(v, "That code didn't work.")
			}
			t.Run(fmt.Sprintf("%s/error=%v", v.templateName(), withError), func(t *testing.T) {
				doc, raw := renderDoc(t, r, v)
				checkDocument(t, doc)
				checkCSPSafe(t, doc)
				checkForms(t, doc, tc.actions)
				checkLabels(t, doc)
				checkCodeInputs(t, doc)
				if withError {
					checkErrorLinked(t, doc)
				}
				if len(raw) > 20<<10 {
					t.Errorf("page is %d bytes, want under 20 KB", len(raw))
				}
			})
		}
	}
}

func setError(v View, msg string) View {
	switch v := v.(type) {
	case LoginView:
		v.Error = msg
		return v
	case ChallengeView:
		v.Error = msg
		return v
	case EnrollView:
		v.Error = msg
		return v
	case RecoveryCodesView:
		v.Error = msg
		return v
	case MessageView:
		v.Error = msg
		return v
	case LogoutView:
		v.Error = msg
		return v
	case AccountView:
		v.Error = msg
		return v
	}
	panic(fmt.Sprintf("unknown view %T", v))
}

func checkDocument(t *testing.T, doc *html.Node) {
	t.Helper()
	if h := byTag(doc, "html"); len(h) != 1 || !slices.Contains(h[0].Attr, html.Attribute{Key: "lang", Val: "en"}) {
		t.Error(`want <html lang="en">`)
	}
	viewport := findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "name"); return n.Data == "meta" && v == "viewport" })
	if len(viewport) != 1 {
		t.Error("want one viewport meta")
	}
	if titles := byTag(doc, "title"); len(titles) != 1 || text(titles[0]) == "" {
		t.Error("want one non-empty <title>")
	}
	if h1 := byTag(doc, "h1"); len(h1) != 1 || text(h1[0]) == "" {
		t.Error("want one non-empty <h1>")
	}
	if n := len(findAll(doc, func(n *html.Node) bool { return hasAttr(n, "autofocus") })); n > 1 {
		t.Errorf("%d elements with autofocus, want at most 1", n)
	}
	for _, b := range byTag(doc, "button") {
		if !hasAttr(b, "type") {
			t.Errorf("button %q has no type", text(b))
		}
	}
}

// checkCSPSafe: under default-src 'none' with nonces, nothing may need more
// than the nonce, 'self' images and data: images.
func checkCSPSafe(t *testing.T, doc *html.Node) {
	t.Helper()
	for _, tag := range []string{"style", "script"} {
		els := byTag(doc, tag)
		if len(els) != 1 {
			t.Errorf("%d <%s> elements, want 1 (inlined)", len(els), tag)
		}
		for _, el := range els {
			if v, _ := attr(el, "nonce"); v != testNonce {
				t.Errorf("<%s nonce=%q>, want %q", tag, v, testNonce)
			}
			if hasAttr(el, "src") {
				t.Errorf("<%s> loads a file", tag)
			}
		}
	}
	for _, tag := range []string{"link", "iframe", "object", "embed", "base"} {
		if len(byTag(doc, tag)) > 0 {
			t.Errorf("page has a <%s>", tag)
		}
	}
	walk(doc, func(n *html.Node) {
		for _, a := range n.Attr {
			if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s %s=%q>: inline styles and handlers are blocked by the CSP", n.Data, a.Key, a.Val)
			}
		}
	})
	for _, img := range byTag(doc, "img") {
		src, _ := attr(img, "src")
		if !strings.HasPrefix(src, "data:image/") && !(strings.HasPrefix(src, "/") && !strings.HasPrefix(src, "//")) {
			t.Errorf("<img src=%q> is neither same-site nor data:", src)
		}
	}
}

func checkForms(t *testing.T, doc *html.Node, actions []string) {
	t.Helper()
	forms := byTag(doc, "form")
	var got []string
	for _, f := range forms {
		if m, _ := attr(f, "method"); m != "post" {
			t.Errorf(`form method %q, want "post"`, m)
		}
		a, _ := attr(f, "action")
		got = append(got, a)
		for _, field := range []struct{ name, want string }{{"csrf_token", "csrf-123"}, {"return_to", "/reports?year=2024"}} {
			in := inputNamed(f, field.name)
			if len(in) != 1 {
				t.Errorf("form %s: %d %s inputs, want 1", a, len(in), field.name)
				continue
			}
			if typ, _ := attr(in[0], "type"); typ != "hidden" {
				t.Errorf("form %s: %s type %q, want hidden", a, field.name, typ)
			}
			if v, _ := attr(in[0], "value"); v != field.want {
				t.Errorf("form %s: %s = %q, want %q", a, field.name, v, field.want)
			}
		}
	}
	if !slices.Equal(got, actions) {
		t.Errorf("form actions %q, want %q", got, actions)
	}
}

func visibleFields(doc *html.Node) []*html.Node {
	return findAll(doc, func(n *html.Node) bool {
		typ, _ := attr(n, "type")
		return (n.Data == "input" && typ != "hidden") || n.Data == "select" || n.Data == "textarea"
	})
}

func checkLabels(t *testing.T, doc *html.Node) {
	t.Helper()
	seen := map[string]bool{}
	walk(doc, func(n *html.Node) {
		if id, ok := attr(n, "id"); ok && n.Type == html.ElementNode {
			if seen[id] {
				t.Errorf("duplicate id %q", id)
			}
			seen[id] = true
		}
	})
	for _, f := range visibleFields(doc) {
		id, _ := attr(f, "id")
		name, _ := attr(f, "name")
		labels := findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "for"); return n.Data == "label" && v == id })
		if id == "" || len(labels) != 1 || text(labels[0]) == "" {
			t.Errorf("field %q (id %q) has no label", name, id)
		}
	}
	for _, l := range byTag(doc, "label") {
		if id, _ := attr(l, "for"); byID(doc, id) == nil {
			t.Errorf("label for=%q points at nothing", id)
		}
	}
}

func checkCodeInputs(t *testing.T, doc *html.Node) {
	t.Helper()
	for _, in := range inputNamed(doc, "code") {
		for _, want := range []html.Attribute{
			{Key: "type", Val: "text"},
			{Key: "inputmode", Val: "numeric"},
			{Key: "autocomplete", Val: "one-time-code"},
			{Key: "pattern", Val: "[0-9 ]*"},
			{Key: "maxlength", Val: "12"},
			{Key: "autofocus"},
			{Key: "required"},
		} {
			if !slices.Contains(in.Attr, want) {
				t.Errorf("code input lacks %s=%q", want.Key, want.Val)
			}
		}
	}
}

func checkErrorLinked(t *testing.T, doc *html.Node) {
	t.Helper()
	alerts := findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "role"); return v == "alert" })
	if len(alerts) != 1 || text(alerts[0]) != "That code didn't work." {
		t.Fatalf("want one role=alert with the error, got %d", len(alerts))
	}
	id, _ := attr(alerts[0], "id")
	for _, f := range visibleFields(doc) {
		if typ, _ := attr(f, "type"); typ == "checkbox" || f.Data == "select" {
			continue
		}
		if d, _ := attr(f, "aria-describedby"); id == "" || !slices.Contains(strings.Fields(d), id) {
			t.Errorf("field %v: aria-describedby=%q does not name the alert %q", f.Attr, d, id)
		}
	}
}
