package caddymfa

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// TestSharedSessionAcrossSitesWithCookieDomain: two sites under one
// cookie_domain, different policies, one store and one session.
func TestSharedSessionAcrossSitesWithCookieDomain(t *testing.T) {
	g := startGateway(t, defaultMFA(t)) // for the clock, upstream and store dir
	port := freePort(t)
	a, b := userHashes(t)
	block := func(extra string) string {
		return fmt.Sprintf(`mfa {
		secret %s
		user alice %s
		user bob %s
		store file %s
		cookie_domain example.test
		%s
	}
	reverse_proxy %s`, testSecret, a, b, filepath.Join(g.dir, "mfa.db"), extra, g.up.addr())
	}
	cfg := fmt.Sprintf(`{
	admin off
	persist_config off
	local_certs
	skip_install_trust
	log {
		output file %s
	}
	storage file_system %s
	http_port %d
	https_port %d
}
app1.example.test {
	tls internal
	%s
}
app2.example.test {
	tls internal
	%s
}
`, g.logFile, filepath.Join(g.dir, "caddy-tls"), freePort(t), port, block(""), block("step_up /admin/* 5m"))
	if err := loadCaddyfile(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caddy.Stop() })

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
			},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	call := func(method, url, body string, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		setHeaders(req, hdr)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	app1 := fmt.Sprintf("https://app1.example.test:%d", port)
	// The internal CA issues the certificates in the background.
	for _, host := range []string{"app1", "app2"} {
		for deadline := time.Now().Add(30 * time.Second); ; {
			resp, err := hc.Get(fmt.Sprintf("https://%s.example.test:%d/_mfa/assets/style.css", host, port))
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never served TLS: %v", host, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	app2 := fmt.Sprintf("https://app2.example.test:%d", port)
	json := []string{"Content-Type", "application/json", "Accept", "application/json"}

	// Enroll and sign in on app1 through the API (the answer sets the
	// shared session cookie).
	status, body := call("POST", app1+"/_mfa/api/v1/login", `{"username":"alice","password":"alice-password"}`, json...)
	if status != http.StatusAccepted {
		t.Fatalf("login: %d %s", status, body)
	}
	mfaToken := jsonField(t, body, "mfa_token")
	status, body = call("POST", app1+"/_mfa/api/v1/enroll/totp", fmt.Sprintf(`{"mfa_token":%q}`, mfaToken), json...)
	secret, factorID := jsonField(t, body, "secret"), jsonField(t, body, "factor_id")
	status, body = call("POST", app1+"/_mfa/api/v1/enroll/totp/confirm",
		fmt.Sprintf(`{"mfa_token":%q,"factor_id":%q,"code":%q}`, mfaToken, factorID, codeAt(t, secret, g.clock.Now())), json...)
	if status != http.StatusOK {
		t.Fatalf("confirm: %d %s", status, body)
	}
	var shared *http.Cookie
	for _, ck := range jar.Cookies(mustURL(app2)) {
		if ck.Name == "__Secure-mfa_session" {
			shared = ck
		}
	}
	if shared == nil {
		t.Fatal("no shared session cookie for app2")
	}

	// The same session works on app2, whose own step-up rule still applies.
	if status, _ = call("GET", app2+"/dashboard", "", "Accept", "text/html"); status != http.StatusOK {
		t.Fatalf("app2 with the shared session: %d", status)
	}
	if got := g.up.last(t).Header.Get("Remote-User"); got != "alice" {
		t.Errorf("app2 upstream Remote-User %q", got)
	}
	g.clock.Advance(6 * time.Minute)
	if status, _ = call("GET", app2+"/admin/x", "", "Accept", "application/json"); status != http.StatusUnauthorized {
		t.Errorf("app2 step-up route: %d", status)
	}
	if status, _ = call("GET", app1+"/admin/x", "", "Accept", "text/html"); status != http.StatusOK {
		t.Errorf("app1 has no step-up rule: %d", status)
	}
	// Logout on app2 ends it on app1.
	if status, _ = call("POST", app2+"/_mfa/api/v1/logout", "", "Accept", "application/json"); status != http.StatusNoContent {
		t.Fatalf("logout on app2: %d", status)
	}
	if status, _ = call("GET", app1+"/dashboard", "", "Accept", "application/json",
		"Cookie", shared.Name+"="+shared.Value); status != http.StatusUnauthorized {
		t.Errorf("app1 after logout on app2: %d", status)
	}
}

func jsonField(t *testing.T, body, field string) string {
	t.Helper()
	key := `"` + field + `":"`
	i := strings.Index(body, key)
	if i < 0 {
		t.Fatalf("no %s in %s", field, body)
	}
	rest := body[i+len(key):]
	return rest[:strings.IndexByte(rest, '"')]
}
