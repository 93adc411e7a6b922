package mfa_test

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// TestExampleCaddyfileDemo runs the README's demo as a user would: the
// Caddy binary with Caddyfile.example (on free ports), sign in as the demo
// user, enroll with a code from oathtool (an independent TOTP client), and
// see the legacy app show the identity headers.
func TestExampleCaddyfileDemo(t *testing.T) {
	root := testenv.RepoRoot(t)
	bin := testenv.CaddyBinary(t)
	oathtool := testenv.Oathtool(t)
	example, err := os.ReadFile(filepath.Join(root, "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	app, legacy := testenv.FreePort(t), testenv.FreePort(t)
	cfg := strings.NewReplacer("localhost:8080", fmt.Sprintf("localhost:%d", app), ":8081", fmt.Sprintf(":%d", legacy)).Replace(string(example))
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "Caddyfile")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)

	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	logFile, _ := os.Create(filepath.Join(testenv.ArtifactDir(t), "caddy.log"))
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	base := fmt.Sprintf("http://localhost:%d", app)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var status int
	var page string
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := hc.Get(base + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status, page = resp.StatusCode, string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not start: %v (see %s)", err, logFile.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status != http.StatusUnauthorized || !strings.Contains(page, `name="password"`) {
		t.Fatalf("first page: %d", status)
	}
	form := url.Values{"csrf_token": {hidden(t, page, "csrf_token")}, "return_to": {"/"},
		"username": {"demo"}, "password": {"correct horse battery staple"}}
	status, page = post("/_mfa/login", form) // follows the 303 to the enrollment page
	if status != http.StatusUnauthorized {
		t.Fatalf("after sign-in: %d", status)
	}
	m := regexp.MustCompile(`data-value="([A-Z2-7]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no setup key on the enrollment page")
	}
	out, err := exec.Command(oathtool, "--totp", "-b", m[1]).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	form = url.Values{"csrf_token": {hidden(t, page, "csrf_token")}, "return_to": {"/"},
		"factor_id": {hidden(t, page, "factor_id")}, "code": {strings.TrimSpace(string(out))}}
	status, page = post("/_mfa/enroll/confirm", form)
	if status != http.StatusOK || !strings.Contains(page, "recovery codes") {
		t.Fatalf("enrollment: %d", status)
	}
	status, page = get("/")
	if status != http.StatusOK {
		t.Fatalf("legacy app: %d", status)
	}
	for _, want := range []string{"Hello, Demo User", "<td>demo</td>", "demo@example.com", "staff,demo", "pwd,otp,mfa"} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("legacy app page lacks %q:\n%s", want, page)
		}
	}
}

func hidden(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no hidden %s on the page", name)
	}
	return html.UnescapeString(m[1])
}
