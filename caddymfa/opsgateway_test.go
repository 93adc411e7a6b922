package caddymfa

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// opsOptions are what an operator adds around the gateway's site.
type opsOptions struct {
	admin  bool   // Caddy's admin endpoint on a free port
	global string // more global options, e.g. `servers { trusted_proxies … }`
	sites  string // more site blocks; {UPSTREAM} and {STORE} are filled in
}

// opsGateway is a gateway started with opsOptions.
type opsGateway struct {
	*gateway
	adminBase string
	opts      opsOptions
}

// startOpsGateway is startGateway with the options an operator adds.
func startOpsGateway(t *testing.T, site string, opts opsOptions) *opsGateway {
	t.Helper()
	g := &gateway{t: t, up: newUpstream(t), dir: t.TempDir(), clock: &testClock{t: time.Now().Truncate(time.Second)}}
	clock = g.clock.Now
	t.Cleanup(func() { clock = time.Now })
	g.port = freePort(t)
	g.base = fmt.Sprintf("http://localhost:%d", g.port)
	g.logFile = filepath.Join(g.dir, "caddy.log")
	og := &opsGateway{gateway: g, opts: opts}
	if opts.admin {
		og.adminBase = fmt.Sprintf("http://localhost:%d", freePort(t))
	}
	og.reload(site)
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Logf("stopping caddy: %v", err)
		}
	})
	return og
}

// reload loads the Caddyfile again with site as the gateway's site.
func (og *opsGateway) reload(site string) {
	og.t.Helper()
	g := og.gateway
	fill := strings.NewReplacer("{UPSTREAM}", g.up.addr(), "{STORE}", filepath.Join(g.dir, "mfa.db")).Replace
	admin := "admin off"
	if og.adminBase != "" {
		admin = "admin " + strings.TrimPrefix(og.adminBase, "http://")
	}
	g.caddyCfg = fmt.Sprintf(`{
	%s
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

%s
`, admin, filepath.Join(g.dir, "caddy"), g.logFile, og.opts.global, g.port, fill(site), g.up.addr(), fill(og.opts.sites))
	if err := loadCaddyfile(g.caddyCfg); err != nil {
		og.t.Fatalf("loading Caddyfile: %v\n%s", err, g.caddyCfg)
	}
}

// adminCall calls Caddy's admin endpoint.
func (og *opsGateway) adminCall(method, path string) response {
	og.t.Helper()
	req, err := http.NewRequest(method, og.adminBase, nil)
	if err != nil {
		og.t.Fatal(err)
	}
	req.URL.Opaque = path // sent as is, malformed escapes included
	return og.client().do(req)
}

// scrapeMetrics reads the Prometheus text format at url: series → value.
func scrapeMetrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	// No pooled connections: a reload closes them.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	resp, err := hc.Get(url)
	// Right after a reload, while Caddy hands the port from the old
	// server to the new one, a new connection can be reset (CI met it
	// once); a client tries again.
	for try := 1; try < 5 && errors.Is(err, syscall.ECONNRESET); try++ {
		time.Sleep(100 * time.Millisecond)
		resp, err = hc.Get(url)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
