package caddymfa

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// instance is a separate Caddy process with this plugin (the binary
// xcaddy would build), its own Caddyfile, port and data directory: one
// gateway instance of several behind a load balancer.
type instance struct {
	t      *testing.T
	name   string
	port   int
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}

	// statuses counts every answer the test got from this instance, to
	// check none was an unexpected 5xx.
	mu       sync.Mutex
	statuses map[int]int
}

// startInstance runs Caddy with one site: the mfa block given, in front of
// up. It returns once the site answers.
func startInstance(t *testing.T, name, mfaBlock string, up *upstream) *instance {
	t.Helper()
	in := &instance{t: t, name: name, port: testenv.FreePort(t), dir: t.TempDir(), exited: make(chan struct{}), statuses: map[int]int{}}
	caddyfile := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	storage file_system %s
	log {
		output file %s
		format json
		level DEBUG
	}
}

http://localhost:%d {
	%s
	reverse_proxy %s
}
`, filepath.Join(in.dir, "caddy"), in.logPath(), in.port, mfaBlock, up.addr())
	cfgPath := filepath.Join(in.dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(in.dir, "output.log"))
	if err != nil {
		t.Fatal(err)
	}
	in.cmd = exec.Command(testenv.CaddyBinary(t), "run", "--config", cfgPath, "--adapter", "caddyfile")
	in.cmd.Dir = in.dir
	in.cmd.Env = append(os.Environ(), "HOME="+in.dir, "XDG_DATA_HOME="+filepath.Join(in.dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(in.dir, "config"))
	in.cmd.Stdout, in.cmd.Stderr = out, out
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		in.cmd.Wait()
		out.Close()
		close(in.exited)
	}()
	t.Cleanup(in.stop)

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-in.exited:
			t.Fatalf("instance %s exited at start:\n%s", name, in.tail("output.log"))
		default:
		}
		if c, err := net.DialTimeout("tcp", in.hostPort(), time.Second); err == nil {
			c.Close()
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s not listening after 60s:\n%s", name, in.tail("output.log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (in *instance) hostPort() string { return fmt.Sprintf("localhost:%d", in.port) }
func (in *instance) logPath() string  { return filepath.Join(in.dir, "caddy.log") }

// stop ends the process gracefully, then for good.
func (in *instance) stop() {
	select {
	case <-in.exited:
		return
	default:
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(10 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.exited
	}
}

// tail is the end of one of the instance's files, for failure messages.
func (in *instance) tail(file string) string {
	b, err := os.ReadFile(filepath.Join(in.dir, file))
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// client is a browser-like client of this instance. Its clock is the wall
// clock, which the process reads too.
func (in *instance) client() *client {
	g := &gateway{t: in.t, base: "http://" + in.hostPort(), clock: &testClock{t: time.Now()}}
	c := g.client()
	c.hc.Transport = &recordingTransport{in: in, next: c.hc.Transport}
	return c
}

// syncClock sets the client's clock to now, before it computes a code.
func syncClock(c *client) { c.g.clock = &testClock{t: time.Now()} }

// recordingTransport counts statuses per instance.
type recordingTransport struct {
	in   *instance
	next http.RoundTripper
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(req)
	if err == nil {
		rt.in.mu.Lock()
		rt.in.statuses[resp.StatusCode]++
		rt.in.mu.Unlock()
	}
	return resp, err
}

// checkHealthy fails on any 5xx but the 503s in allowed503, on a panic
// in the instance's output, and on a process that died.
func (in *instance) checkHealthy(allow503 bool) {
	in.t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	for status, n := range in.statuses {
		if status >= 500 && !(status == http.StatusServiceUnavailable && allow503) {
			in.t.Errorf("instance %s answered %d %d times", in.name, status, n)
		}
	}
	select {
	case <-in.exited:
		in.t.Errorf("instance %s exited:\n%s", in.name, in.tail("output.log"))
	default:
	}
	for _, f := range []string{"output.log", "caddy.log"} {
		if b, _ := os.ReadFile(filepath.Join(in.dir, f)); strings.Contains(string(b), "panic") {
			in.t.Errorf("instance %s logged a panic:\n%s", in.name, in.tail(f))
		}
	}
}

// bearerGet asks for a protected page with a bearer token, as an API
// client would, and returns the status.
func bearerGet(c *client, path, token string) response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.g.base+path, nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	return c.do(req)
}

var errNoToken = errors.New("no access_token in the answer")

// tokenOf returns the access token of an "authenticated" answer.
func tokenOf(m map[string]any) (string, error) {
	tok, ok := m["access_token"].(string)
	if !ok || tok == "" {
		return "", errNoToken
	}
	return tok, nil
}
