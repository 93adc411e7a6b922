package challengepage

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.html from the current templates")

// TestLoginGolden pins the whole sign-in page, so any change to its markup
// is a deliberate one: review the diff, then run go test -run Golden -update.
func TestLoginGolden(t *testing.T) {
	r := newTestRenderer(t, Options{Branding: Branding{Title: "Acme", LogoURL: "/_mfa/assets/logo.png", Color: "#0a7d5a"}})
	v := LoginView{
		Common:   Common{Prefix: "/_mfa/", Nonce: testNonce, CSRF: "csrf-123", ReturnTo: "/reports?year=2024", Error: "Incorrect username or password."},
		Action:   "/_mfa/login",
		Username: "alice",
	}
	var page bytes.Buffer
	if err := r.Render(&page, v); err != nil {
		t.Fatal(err)
	}
	// The golden file is about markup; the inlined assets have their own tests.
	got := bytes.Replace(page.Bytes(), []byte(mustRead(t, Assets(), "style.css")), []byte("/* assets/style.css */"), 1)
	got = bytes.Replace(got, []byte(mustRead(t, Assets(), "app.js")), []byte("/* assets/app.js */"), 1)
	path := filepath.Join("testdata", "login.golden.html")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("login page differs from %s; if intended, run go test -run Golden -update\n got: %s", path, got)
	}
}
