package caddymfa

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReservedRoutesNeverReachUpstream(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "assets"), 0o755)
	os.WriteFile(filepath.Join(dir, "assets", "logo.png"), []byte("\x89PNG\r\n\x1a\nlogo"), 0o644)
	os.WriteFile(filepath.Join(dir, "logout.html"), []byte(`{{define "title"}}Leaving?{{end}}{{define "content"}}<h1>Custom leave page</h1><form method="post" action="{{.Action}}">{{template "form-fields" .}}<button>Go</button></form>{{end}}`), 0o644)
	a, _ := userHashes(t)
	g := startGateway(t, fmt.Sprintf(`mfa {
		secret %s
		user alice %s
		store file {STORE}
		templates %s
	}`, testSecret, a, dir))
	c := g.client()

	css := c.get("/_mfa/assets/style.css")
	mustStatus(t, css, http.StatusOK)
	if !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") || len(css.Body) < 100 {
		t.Errorf("style.css: %s, %d bytes", css.Header.Get("Content-Type"), len(css.Body))
	}
	logo := c.get("/_mfa/assets/logo.png")
	mustStatus(t, logo, http.StatusOK)
	if logo.Header.Get("Content-Type") != "image/png" {
		t.Errorf("operator asset type %q", logo.Header.Get("Content-Type"))
	}
	out := c.get("/_mfa/logout")
	mustStatus(t, out, http.StatusOK)
	if !strings.Contains(out.Body, "Custom leave page") {
		t.Error("template override not used")
	}
	for _, path := range []string{"/_mfa/nope", "/_mfa/assets/../../etc/passwd", "/_mfa/assets/", "/_mfa/api/v1/nope", "/_mfa/api/v2/login", "/_mfa/../secret"} {
		r := c.get(path)
		if r.StatusCode < 400 || r.StatusCode >= 500 {
			t.Errorf("GET %s: %d", path, r.StatusCode)
		}
	}
	r := c.get("/_mfa/verify")
	mustStatus(t, r, http.StatusMethodNotAllowed)
	r, m := c.api("GET", "login", nil)
	if r.StatusCode != http.StatusMethodNotAllowed || m["error"] != "method_not_allowed" || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET login: %d %v Allow=%q", r.StatusCode, m, r.Header.Get("Allow"))
	}
	if g.up.count() != 0 {
		t.Errorf("reserved routes reached the upstream %d times", g.up.count())
	}
}

func TestJSONConfigWorksLikeCaddyfile(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	a, _ := userHashes(t)
	cfg := fmt.Sprintf(`{
	"admin": {"disabled": true},
	"apps": {"http": {"servers": {"srv0": {
		"listen": [":%d"],
		"automatic_https": {"disable": true},
		"routes": [{"handle": [
			{"handler": "mfa", "secrets": [%q], "users": [{"name": "alice", "password": %q, "groups": ["ops"]}],
			 "store": {"backend": "file", "path": %q}, "session_idle": "10m", "headers": {"groups": "X-Groups"}},
			{"handler": "reverse_proxy", "upstreams": [{"dial": %q}]}
		]}]
	}}}}
}`, g.port, testSecret, a, filepath.Join(g.dir, "json.db"), g.up.addr())
	if err := loadJSON(cfg); err != nil {
		t.Fatal(err)
	}
	c := g.client()
	c.enrollBrowser("/", "alice", "alice-password")
	mustStatus(t, c.get("/"), http.StatusOK)
	if got := g.up.last(t).Header.Get("X-Groups"); got != "ops" {
		t.Errorf("X-Groups = %q", got)
	}
}
