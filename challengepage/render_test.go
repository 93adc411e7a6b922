package challengepage

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/html"
)

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		files   map[string]string // written into a TemplateDir when set
		wantErr string
	}{
		{"colour word", Options{Branding: Branding{Color: "red"}}, nil, "Branding.Color"},
		{"colour too short", Options{Branding: Branding{Color: "#12"}}, nil, "Branding.Color"},
		{"colour with alpha", Options{Branding: Branding{Color: "#11223344"}}, nil, "Branding.Color"},
		{"colour not hex", Options{Branding: Branding{Color: "#12345g"}}, nil, "Branding.Color"},
		{"colour breaking out of CSS", Options{Branding: Branding{Color: "#fff;}body{display:none"}}, nil, "Branding.Color"},
		{"colour without #", Options{Branding: Branding{Color: "2563eb"}}, nil, "Branding.Color"},
		{"logo javascript", Options{Branding: Branding{LogoURL: "javascript:alert(1)"}}, nil, "Branding.LogoURL"},
		{"logo plain http", Options{Branding: Branding{LogoURL: "http://cdn.example/logo.png"}}, nil, "Branding.LogoURL"},
		{"logo protocol-relative", Options{Branding: Branding{LogoURL: "//evil.example/logo.png"}}, nil, "Branding.LogoURL"},
		{"logo with quote and space", Options{Branding: Branding{LogoURL: `/logo.png" onerror="x`}}, nil, "Branding.LogoURL"},
		{"missing dir", Options{TemplateDir: "/nonexistent/caddy-mfa-templates"}, nil, "template dir"},
		{"misspelt template", Options{}, map[string]string{"Login.html": ""}, "unknown template"},
		{"syntax error", Options{}, map[string]string{"login.html": `{{define "title"}}x{{end}}{{define "content"}}{{if}}{{end}}`}, "login.html"},
		{"no content", Options{}, map[string]string{"login.html": `{{define "title"}}x{{end}}`}, `login.html: no {{define "content"}}`},
		{"unknown field", Options{}, map[string]string{"logout.html": `{{define "title"}}x{{end}}{{define "content"}}{{.Nope}}{{end}}`}, "logout.html"},
		{"unsafe context", Options{}, map[string]string{"logout.html": `{{define "title"}}x{{end}}{{define "content"}}<a href="{{if .Action}}"{{end}}>{{end}}`}, "logout.html"},
		// Only the filled sample views reach these: the zero ones skip the branch.
		{"unknown field in an if", Options{}, map[string]string{"challenge.html": `{{define "title"}}x{{end}}{{define "content"}}{{if .Error}}<p>{{.Eror}}</p>{{end}}{{end}}`}, `/challenge.html: template: challenge.html:1:64: executing "content" at <.Eror>: can't evaluate field Eror`},
		{"unknown field in a range", Options{}, map[string]string{"challenge.html": `{{define "title"}}x{{end}}{{define "content"}}<select>{{range .Factors}}<option>{{.Name}}</option>{{end}}</select>{{end}}`}, "/challenge.html: template: challenge.html:1:82: executing \"content\" at <.Name>: can't evaluate field Name in type challengepage.FactorOption"},
		{"unknown field in a with", Options{}, map[string]string{"account.html": `{{define "title"}}x{{end}}{{define "content"}}{{with .SignOutAction}}{{$.SignOut}}{{end}}{{end}}`}, "can't evaluate field SignOut"},
		{"unknown field in an else", Options{}, map[string]string{"enroll.html": `{{define "title"}}x{{end}}{{define "content"}}{{if not .FactorID}}x{{else}}{{.Secrett}}{{end}}{{end}}`}, "can't evaluate field Secrett"},
		{"counter branch", Options{}, map[string]string{"message.html": `{{define "title"}}x{{end}}{{define "content"}}{{if gt .RetryAfterSeconds 0}}{{.Retry}}{{end}}{{end}}`}, "message.html"},
		{"else of a bool", Options{}, map[string]string{"account.html": `{{define "title"}}x{{end}}{{define "content"}}{{range .Sessions}}{{if .Current}}this one{{else}}{{.Label.Nope}}{{end}}{{end}}{{end}}`}, "account.html"},
		{"script closing its element", Options{}, map[string]string{"assets/app.js": `x = "</SCRIPT>"`}, "assets/app.js"},
		{"assets a file", Options{}, map[string]string{"assets": "logo.png"}, "assets is not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if tc.files != nil {
				opts.TemplateDir = writeDir(t, tc.files)
			}
			r, err := New(opts)
			if err == nil {
				t.Fatalf("New succeeded (%v), want an error mentioning %q", r != nil, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewAcceptsBranding(t *testing.T) {
	for _, b := range []Branding{
		{},
		{Title: "Acme", Color: "#abc", LogoURL: "/_mfa/assets/logo.svg"},
		{Color: "#A1B2C3", LogoURL: "https://static.example.com/logo.png"},
		{LogoURL: "data:image/png;base64,iVBORw0KGgo="},
	} {
		if _, err := New(Options{Branding: b}); err != nil {
			t.Errorf("New(%+v): %v", b, err)
		}
	}
}

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTemplateDirOverride(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"login.html":       `{{define "title"}}Custom{{end}}{{define "content"}}<p id="custom">{{.Action}}</p>{{end}}`,
		"assets/style.css": "body{color:#123}",
		"assets/logo.png":  "png",
		"notes.txt":        "operators keep notes here",
	})
	r := newTestRenderer(t, Options{TemplateDir: dir})

	doc, _ := renderDoc(t, r, LoginView{Common: sampleCommon(), Action: "/_mfa/login"})
	if p := byID(doc, "custom"); p == nil || text(p) != "/_mfa/login" {
		t.Error("login.html from the template dir not used")
	}
	if css := text(byTag(doc, "style")[0]); !strings.HasPrefix(css, "body{color:#123}") {
		t.Errorf("inlined CSS %.40q, want the override", css)
	}

	doc, _ = renderDoc(t, r, ChallengeView{Common: sampleCommon(), Action: "/_mfa/challenge"})
	if byID(doc, "code") == nil {
		t.Error("challenge page should stay the embedded one")
	}

	assets := r.Assets()
	for name, want := range map[string]string{"style.css": "body{color:#123}", "logo.png": "png", "app.js": mustRead(t, Assets(), "app.js")} {
		if got := mustRead(t, assets, name); got != want {
			t.Errorf("assets/%s = %.30q, want %.30q", name, got, want)
		}
	}
	if _, err := fs.ReadFile(assets, "../notes.txt"); err == nil {
		t.Error("assets reach outside their directory")
	}
}

// TestTemplateDirAssetsSymlink: operators often link a shared directory in
// as assets/; it is followed, and a link to nothing or to a file stops the load.
func TestTemplateDirAssetsSymlink(t *testing.T) {
	shared := writeDir(t, map[string]string{"logo.png": "png", "style.css": "body{color:#123}", "notes.txt": "x"})
	tests := []struct {
		name, target, wantErr string
	}{
		{"to a directory", shared, ""},
		{"to a file", filepath.Join(shared, "notes.txt"), "assets is not a directory"},
		{"dangling", filepath.Join(shared, "gone"), "template dir: assets:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Symlink(tc.target, filepath.Join(dir, "assets")); err != nil {
				t.Skipf("no symlinks here: %v", err)
			}
			r, err := New(Options{TemplateDir: dir})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New: %v, want an error mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			for name, want := range map[string]string{"logo.png": "png", "style.css": "body{color:#123}", "app.js": mustRead(t, Assets(), "app.js")} {
				if got := mustRead(t, r.Assets(), name); got != want {
					t.Errorf("assets/%s = %.30q, want %.30q", name, got, want)
				}
			}
			doc, _ := renderDoc(t, r, LogoutView{Common: sampleCommon(), Action: "/l"})
			if css := text(byTag(doc, "style")[0]); !strings.HasPrefix(css, "body{color:#123}") {
				t.Errorf("inlined CSS %.40q, want the linked style.css", css)
			}
		})
	}
}

func mustRead(t *testing.T, fsys fs.FS, name string) string {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAssetsAreWhatPagesInline(t *testing.T) {
	r := newTestRenderer(t, Options{})
	doc, raw := renderDoc(t, r, LogoutView{Common: sampleCommon(), Action: "/l"})
	css := mustRead(t, Assets(), "style.css")
	js := mustRead(t, Assets(), "app.js")
	style := byTag(doc, "style")[0].FirstChild.Data
	script := byTag(doc, "script")[0].FirstChild.Data
	if !strings.HasPrefix(style, css) {
		t.Error("inlined CSS differs from assets/style.css")
	}
	if script != js {
		t.Error("inlined JS differs from assets/app.js")
	}
	if strings.Contains(raw, "@import") || strings.Contains(raw, "url(") {
		t.Error("CSS loads something")
	}
}

func TestRenderErrorWritesNothing(t *testing.T) {
	// Fine for the sample messages New renders, an error for this one.
	dir := writeDir(t, map[string]string{
		"message.html": `{{define "title"}}x{{end}}{{define "content"}}<p>half a page</p>{{if eq .Message "short"}}{{index .Message 99}}{{end}}{{end}}`,
	})
	r := newTestRenderer(t, Options{TemplateDir: dir})
	var w bytes.Buffer
	err := r.Render(&w, MessageView{Common: sampleCommon(), Message: "short"})
	if err == nil {
		t.Fatal("want an error")
	}
	if w.Len() != 0 {
		t.Errorf("wrote %d bytes on error", w.Len())
	}
}

func TestRenderNeedsNonce(t *testing.T) {
	r := newTestRenderer(t, Options{})
	var w bytes.Buffer
	if err := r.Render(&w, LoginView{Action: "/l"}); err == nil || w.Len() != 0 {
		t.Errorf("err %v, %d bytes: a page without a nonce would be unstyled under the CSP", err, w.Len())
	}
	if err := r.Render(&w, nil); err == nil {
		t.Error("nil view rendered")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("gone") }

func TestRenderReportsWriteError(t *testing.T) {
	r := newTestRenderer(t, Options{})
	if err := r.Render(failingWriter{}, LoginView{Common: sampleCommon()}); err == nil {
		t.Error("write error lost")
	}
}

// TestEscaping puts markup into every string field of every view: it must
// come out as text, never as elements or attributes.
func TestEscaping(t *testing.T) {
	const hostile = `"'><script>alert(1)</script><x onclick=y>&amp;`
	r := newTestRenderer(t, Options{})
	for _, tc := range sampleViews() {
		v := reflect.New(reflect.TypeOf(tc.view)).Elem()
		v.Set(reflect.ValueOf(tc.view))
		fillStrings(v, hostile)
		view := v.Interface().(View)
		t.Run(view.templateName(), func(t *testing.T) {
			doc, _ := renderDoc(t, r, view)
			if n := len(byTag(doc, "script")); n != 1 {
				t.Errorf("%d scripts, want 1", n)
			}
			if n := len(byTag(doc, "x")); n != 0 {
				t.Error("markup from a field became an element")
			}
			walk(doc, func(n *html.Node) {
				for _, a := range n.Attr {
					if strings.HasPrefix(a.Key, "on") {
						t.Errorf("attribute %s injected", a.Key)
					}
					if (a.Key == "href" || a.Key == "action" || a.Key == "src") && strings.Contains(a.Val, "<") {
						t.Errorf("%s=%q not escaped", a.Key, a.Val)
					}
				}
			})
			for _, name := range []string{"csrf_token", "return_to"} {
				for _, in := range inputNamed(doc, name) {
					if v, _ := attr(in, "value"); v != hostile {
						t.Errorf("%s value %q, want it intact", name, v)
					}
				}
			}
			if a := byID(doc, "form-error"); a == nil || text(a) != strings.Join(strings.Fields(hostile), " ") {
				t.Error("error message not shown as text")
			}
			if n := byTag(doc, "style")[0]; n.FirstChild == nil || n.FirstChild.NextSibling != nil {
				t.Error("style element split")
			}
		})
	}
}

// fillStrings sets every string field (and string in a slice) to s,
// recursing into embedded structs; typed URLs are the caller's trusted
// values and stay as they are.
func fillStrings(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fillStrings(v.Field(i), s)
		}
	case reflect.Slice:
		for i := range v.Len() {
			fillStrings(v.Index(i), s)
		}
	case reflect.String:
		if v.Type() == reflect.TypeFor[string]() {
			v.SetString(s)
		}
	}
}

func TestURLFieldsNeutralised(t *testing.T) {
	r := newTestRenderer(t, Options{})
	const evil = "javascript:alert(1)"
	views := []View{
		LoginView{Common: sampleCommon(), Action: evil},
		RecoveryCodesView{Common: sampleCommon(), Codes: []string{"a"}, ContinueURL: evil},
		MessageView{Common: sampleCommon(), Link: evil},
		ChallengeView{Common: sampleCommon(), Action: "/c", SignOutAction: evil},
	}
	for _, v := range views {
		doc, _ := renderDoc(t, r, v)
		walk(doc, func(n *html.Node) {
			for _, a := range n.Attr {
				if strings.HasPrefix(strings.ToLower(a.Val), "javascript:") {
					t.Errorf("%s: %s=%q", v.templateName(), a.Key, a.Val)
				}
			}
		})
	}
}

func TestRenderConcurrently(t *testing.T) {
	r := newTestRenderer(t, Options{Branding: Branding{Title: "Acme"}})
	want := make([]string, 0)
	for _, tc := range sampleViews() {
		var b bytes.Buffer
		if err := r.Render(&b, tc.view); err != nil {
			t.Fatal(err)
		}
		want = append(want, b.String())
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, tc := range sampleViews() {
				var b bytes.Buffer
				if err := r.Render(&b, tc.view); err != nil || b.String() != want[i] {
					t.Errorf("%s: err %v or output differs", tc.view.templateName(), err)
				}
			}
		})
	}
	wg.Wait()
}
