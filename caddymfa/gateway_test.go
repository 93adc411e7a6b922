package caddymfa

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"golang.org/x/crypto/argon2"
	"golang.org/x/net/html"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor/totp"
)

// The integration tests run a real Caddy, loaded from Caddyfile text, with
// this module in front of a real upstream that records what it receives.
// Caddy is one per process, so these tests do not run in parallel.

const testSecret = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"

// testClock is the injected clock of every handler in a test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// upstream records every request that reaches the legacy app.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	Method string
	Path   string
	URI    string // path and query as the upstream got them
	Header http.Header
	Body   string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, recorded{Method: r.Method, Path: r.URL.Path, URI: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(body)})
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "upstream saw %s %s as %q", r.Method, r.URL.Path, r.Header.Get("Remote-User"))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func (u *upstream) last(t *testing.T) recorded {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream received nothing")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

// gateway is a running Caddy with the mfa handler.
type gateway struct {
	t        *testing.T
	base     string
	port     int
	dir      string
	up       *upstream
	clock    *testClock
	logFile  string
	caddyCfg string
	global   string // more lines for Caddy's global options
}

// testPasswordHash is a cheap argon2id hash in Caddy's format, so the
// race-enabled tests stay quick.
func testPasswordHash(t testing.TB, password string) string {
	t.Helper()
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, 1, 1024, 1, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=1024,t=1,p=1$%s$%s", argon2.Version,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var aliceHash, bobHash string
var hashOnce sync.Once

func userHashes(t testing.TB) (string, string) {
	hashOnce.Do(func() {
		aliceHash = testPasswordHash(t, "alice-password")
		bobHash = testPasswordHash(t, "bob-password")
	})
	return aliceHash, bobHash
}

// defaultMFA is the mfa block most tests use; %s is the store path.
func defaultMFA(t testing.TB) string {
	a, b := userHashes(t)
	return fmt.Sprintf(`mfa {
		secret %s
		user alice %s {
			email alice@example.com
			name "Alice Doe"
			groups admins dev
		}
		user bob %s
		headers {
			methods Remote-MFA-Methods
			auth_time Remote-Auth-Time
			mfa_time Remote-MFA-Time
		}
		store file {STORE}
	}`, testSecret, a, b)
}

// startGateway loads site (the directives of one site, with {UPSTREAM} and
// {STORE} filled in) into Caddy on a free port.
func startGateway(t *testing.T, site string) *gateway {
	t.Helper()
	return startGatewayWith(t, "", site)
}

// startGatewayWith is startGateway with more global options.
func startGatewayWith(t *testing.T, global, site string) *gateway {
	t.Helper()
	g := &gateway{t: t, up: newUpstream(t), dir: t.TempDir(), clock: &testClock{t: time.Now().Truncate(time.Second)}, global: global}
	clock = g.clock.Now
	t.Cleanup(func() { clock = time.Now })
	g.port = freePort(t)
	g.base = fmt.Sprintf("http://localhost:%d", g.port)
	g.logFile = filepath.Join(g.dir, "caddy.log")
	g.load(site)
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Logf("stopping caddy: %v", err)
		}
		if t.Failed() {
			if data, err := os.ReadFile(g.logFile); err == nil {
				if i := strings.Index(string(data), "panic"); i >= 0 {
					t.Logf("Caddy log at the first panic:\n%s", strings.ReplaceAll(tail(string(data[i:]), 1<<20)[:min(3000, len(data)-i)], `\n`, "\n"))
				}
				t.Logf("Caddy log (last 4 KB):\n%s", tail(string(data), 4096))
			}
		}
	})
	return g
}

// load (re)loads the Caddyfile with site as the only site.
func (g *gateway) load(site string) {
	g.t.Helper()
	if err := g.tryLoad(site); err != nil {
		g.t.Fatalf("loading Caddyfile: %v\n%s", err, g.caddyCfg)
	}
	g.waitServing()
}

// waitServing returns once the freshly loaded config answers: a connection
// the old server accepted just before a reload may be cut, and a test's
// next request must not be that one.
func (g *gateway) waitServing() {
	g.t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(10 * time.Second); ; {
		// Any answer will do: a site may put basic_auth in front of us,
		// and then even our assets answer 401.
		resp, err := hc.Get(g.base + "/_mfa/assets/style.css")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway not answering after a reload: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *gateway) tryLoad(site string) error {
	site = strings.NewReplacer("{UPSTREAM}", g.up.addr(), "{STORE}", filepath.Join(g.dir, "mfa.db")).Replace(site)
	g.caddyCfg = fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	storage file_system %s
	log {
		output file %s
		format json
		level DEBUG
	}
	%s
}

http://localhost:%d {
	%s
	reverse_proxy %s
}
`, filepath.Join(g.dir, "caddy"), g.logFile, g.global, g.port, site, g.up.addr())
	return loadCaddyfile(g.caddyCfg)
}

func loadCaddyfile(text string) error {
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return err
	}
	return caddy.Load(cfg, true)
}

// logs returns the Caddy log written so far.
func (g *gateway) logs() string {
	g.t.Helper()
	data, err := os.ReadFile(g.logFile)
	if err != nil {
		g.t.Fatal(err)
	}
	return string(data)
}

// auditEvents returns the audit log entries.
func (g *gateway) auditEvents() []map[string]any {
	g.t.Helper()
	return auditEventsIn(g.logs())
}

// auditEventsIn reads the audit events from the JSON log lines of text.
func auditEventsIn(text string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m["logger"] == "http.handlers.mfa.audit" {
			out = append(out, m)
		}
	}
	return out
}

// client is a browser-like HTTP client: a cookie jar, no redirects followed.
type client struct {
	t   *testing.T
	g   *gateway
	hc  *http.Client
	jar *cookiejar.Jar
}

func (g *gateway) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: g.t, g: g, jar: jar, hc: &http.Client{
		Jar: jar,
		// No pooled connections: a config reload may close them mid-test.
		Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: 10 * time.Second},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

type response struct {
	*http.Response
	Body string
}

func (c *client) do(req *http.Request) response {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil && errors.Is(err, syscall.ECONNRESET) && req.Method == http.MethodGet && req.Body == nil {
		// Right after a config reload, the old server (which shared the
		// listener) may reset a connection it took as it closed; CI met
		// it in TestPasswordChangeEndsSessions. A GET that got no answer
		// is sent once more.
		resp, err = c.hc.Do(req)
	}
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{Response: resp, Body: string(body)}
}

func (c *client) get(path string, hdr ...string) response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.g.base+path, nil)
	req.Header.Set("Accept", "text/html")
	setHeaders(req, hdr)
	return c.do(req)
}

// postForm sends a form the way our own page does (same origin).
func (c *client) postForm(path string, form url.Values, hdr ...string) response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.g.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Origin", c.g.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	setHeaders(req, hdr)
	return c.do(req)
}

// api calls the JSON API; body may be a string (sent as is) or a value.
func (c *client) api(method, call string, body any, hdr ...string) (response, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, c.g.base+"/_mfa/api/v1/"+call, rd)
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	setHeaders(req, hdr)
	resp := c.do(req)
	var m map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal([]byte(resp.Body), &m); err != nil {
			c.t.Fatalf("%s %s: invalid JSON answer %q", method, call, resp.Body)
		}
	}
	return resp, m
}

// setHeaders replaces a header's defaults with the first value given for
// it and adds any further values (to send duplicates).
func setHeaders(req *http.Request, hdr []string) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(hdr); i += 2 {
		name, val := hdr[i], hdr[i+1]
		if name == "Host" {
			req.Host = val
			continue
		}
		if seen[http.CanonicalHeaderKey(name)] {
			req.Header[name] = append(req.Header[name], val)
			continue
		}
		seen[http.CanonicalHeaderKey(name)] = true
		req.Header.Del(name)
		req.Header[name] = []string{val}
	}
}

func (c *client) cookie(name string) *http.Cookie {
	u, _ := url.Parse(c.g.base)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// formFields reads the hidden and prefilled inputs of the first form whose
// action is action (all forms if action is "").
func formFields(t *testing.T, page, action string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	vals := url.Values{}
	var inForm bool
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" {
			was := inForm
			inForm = action == "" || attr(n, "action") == action
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
			inForm = was
			return
		}
		if inForm && n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" && attr(n, "type") == "hidden" {
			vals.Set(attr(n, "name"), attr(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if len(vals) == 0 {
		t.Fatalf("no form posting to %q on page: %s", action, pageText(page))
	}
	return vals
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// pageText is the visible text of a page, whitespace folded.
func pageText(page string) string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return page
	}
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style") {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return strings.Join(strings.Fields(b.String()), " ")
}

// codeAt is the TOTP code of a base32 secret at t.
func codeAt(t testing.TB, secretB32 string, at time.Time) string {
	t.Helper()
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.ReplaceAll(secretB32, " ", "")))
	if err != nil {
		t.Fatalf("secret %q is not base32: %v", secretB32, err)
	}
	p := totp.DefaultParams()
	return totp.Code(secret, totp.Step(at, p), p)
}

func mustStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, want, truncateForLog(pageText(r.Body)))
	}
}

func truncateForLog(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

func loadJSON(cfg string) error { return caddy.Load([]byte(cfg), true) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
