package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/users"
)

// site is one of the three sites under test.
type site struct {
	name string
	port int
}

func (s site) url() string { return fmt.Sprintf("http://127.0.0.1:%d/", s.port) }

// caddyProcess is the Caddy under test.
type caddyProcess struct {
	cmd   *exec.Cmd
	log   string
	admin string // address of the admin endpoint
}

func (c *caddyProcess) pid() int { return c.cmd.Process.Pid }

func (c *caddyProcess) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// repoRoot finds the module root of caddy-mfa from the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/caddymfa/caddy-mfa\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run mfabench inside the caddy-mfa repository (or pass -caddy)")
		}
		dir = parent
	}
}

// buildCaddy builds ./cmd/caddy into dir.
func buildCaddy(dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "caddy")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	return bin, nil
}

// The bench user's facts, which both the mfa site and the auth endpoint
// send upstream as Remote-Email, Remote-Name and Remote-Groups.
const (
	benchEmail  = "bench@example.com"
	benchName   = "Bench User"
	benchGroups = "staff,bench"
)

// benchUser is the user that signs in on the mfa site.
type benchUser struct {
	name, password, hash string
}

func newBenchUser() (benchUser, error) {
	u := benchUser{name: "bench", password: rand.Text()}
	h, err := users.HashPassword(u.password)
	u.hash = h
	return u, err
}

// caddyfile is the configuration under test: three sites that differ only
// in what stands before reverse_proxy. admin is the address of the admin
// endpoint (for its /metrics and /debug/pprof); extra goes into the mfa
// block, plainExtra into the plain site, global into the global options.
// With aaControl the mfa site is a copy of the plain one (the A/A control).
func caddyfile(dir, admin, global, plainExtra, extra string, aaControl bool, sites [3]site, upstream, auth string, u benchUser) string {
	plainBody := fmt.Sprintf("%s\n\treverse_proxy %s", indented(plainExtra, 1), upstream)
	mfaBody := fmt.Sprintf(`
	mfa {
		secret %[1]s
		user %[2]s %[3]s {
			email %[4]s
			name %[5]q
			groups %[6]s
		}
		store file %[7]s/mfa.db%[8]s
	}
	reverse_proxy %[9]s`, rand.Text()+rand.Text(), u.name, u.hash, benchEmail, benchName, strings.ReplaceAll(benchGroups, ",", " "), dir, indented(extra, 2), upstream)
	if aaControl {
		mfaBody = plainBody
	}
	return fmt.Sprintf(`{
	admin %[1]s
	auto_https off
	persist_config off
	storage file_system %[2]s/caddy-data%[3]s
}

http://127.0.0.1:%[4]d {%[7]s
}

http://127.0.0.1:%[5]d {%[8]s
}

http://127.0.0.1:%[6]d {
	forward_auth %[9]s {
		uri /auth
		copy_headers Remote-User Remote-Email Remote-Name Remote-Groups
	}
	reverse_proxy %[10]s
}
`, admin, dir, indented(global, 1), sites[0].port, sites[1].port, sites[2].port, plainBody, mfaBody, auth, upstream)
}

// indented puts each line of extra on a line of its own, indented as caddy
// fmt would at depth tabs, or returns "" for no lines.
func indented(extra string, tabs int) string {
	var b strings.Builder
	depth := tabs
	for line := range strings.Lines(extra) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "}") {
			depth--
		}
		b.WriteString("\n" + strings.Repeat("\t", max(depth, 0)) + line)
		if strings.HasSuffix(line, "{") {
			depth++
		}
	}
	return b.String()
}

// identityRequestHeaders is Caddyfile for a site that sends the upstream
// the same identity headers, with the same values, as the mfa site does
// for u.
func identityRequestHeaders(u benchUser) string {
	return fmt.Sprintf("request_header Remote-User %s\nrequest_header Remote-Email %s\nrequest_header Remote-Name %q\nrequest_header Remote-Groups %s",
		u.name, benchEmail, benchName, benchGroups)
}

// startCaddy runs bin with config, pinned to cpu when pin is set, and
// waits until every site accepts connections.
// With callgrind (its options) set, Caddy runs under Valgrind's
// callgrind, which writes its counts to files named callgrind.<pid>.<n> in
// dir (see countInstructions).
func startCaddy(bin, dir, config string, sites [3]site, pin bool, cpu int, callgrind []string) (*caddyProcess, error) {
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "caddy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{bin, "run", "--config", cfgPath, "--adapter", "caddyfile"}
	wait := 30 * time.Second
	if callgrind != nil {
		vg := append([]string{"valgrind", "--tool=callgrind", "--callgrind-out-file=" + filepath.Join(dir, "callgrind.%p")}, callgrind...)
		args = append(vg, args...)
		wait = 3 * time.Minute
	}
	if pin {
		args = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The data directory (and so the default store) stays in dir.
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	if callgrind != nil {
		// Valgrind cannot follow the signals Go preempts goroutines with,
		// and runs one thread at a time anyway. Without the collector the
		// count is the requests' own work: where a collection falls would
		// move a batch's count by half.
		cmd.Env = append(cmd.Env, "GODEBUG=asyncpreemptoff=1", "GOMAXPROCS=1", "GOGC=off")
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &caddyProcess{cmd: cmd, log: logPath}
	deadline := time.Now().Add(wait)
	for _, s := range sites {
		for {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				c.stop()
				log, _ := os.ReadFile(logPath)
				return nil, fmt.Errorf("caddy did not listen on %s within %v; its log:\n%s", s.url(), wait, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c, nil
}
