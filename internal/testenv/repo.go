package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// ModulePath is the module path of this repository.
const ModulePath = "github.com/caddymfa/caddy-mfa"

var repoRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if modulePathOf(filepath.Join(dir, "go.mod")) == ModulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module " + ModulePath + " above the working directory")
		}
		dir = parent
	}
})

// modulePathOf returns the module path declared in a go.mod file, or "" when
// the file is missing or declares none.
func modulePathOf(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`+"`")
		}
	}
	return ""
}

// RepoRoot returns the absolute path of the repository root: the nearest
// directory above the working directory whose go.mod declares this module
// (nested tool modules are passed over).
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return root
}

// ArtifactDir returns <repo root>/testartifacts/<test name>, created if
// needed, for screenshots and logs that outlive the test; CI keeps the
// directory. It is never emptied: test binaries run in parallel and two
// packages may have a test of the same name, so a file is only ever
// overwritten by one of the same name.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "testartifacts", sanitize(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: create artifact dir: %v", err)
	}
	return dir
}

// sanitize turns a test name into one safe path element.
func sanitize(name string) string {
	b := []byte(name)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			b[i] = '_'
		}
	}
	s := strings.Trim(string(b), ".")
	if s == "" {
		s = "_"
	}
	return s
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process can take it before the caller binds it; callers that
// start servers retry on a bind failure.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lookTool returns the path of the first of names found in PATH, or fails
// the test naming the Debian package that provides it.
func lookTool(t testing.TB, debianPackage string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatalf("testenv: %s not found in PATH: install Debian package %s (scripts/test-deps.sh installs every tool the tests need)",
		strings.Join(names, " or "), debianPackage)
	return ""
}

// GoTool returns the path of the go command that runs the tests.
func GoTool(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("testenv: go command not found in PATH: %v", err)
	}
	return path
}

// BuildEnv returns the environment for go and xcaddy commands that tests
// run: this process's environment without the variables that would retarget
// or reshape the build, and with a fixed GOFLAGS, so neither the caller's
// GOFLAGS nor a `go env -w GOFLAGS=…` can change what gets built.
// -buildvcs=false keeps version-control stamping, which needs a usable git
// checkout, out of test builds.
func BuildEnv() []string {
	drop := map[string]bool{
		"GOFLAGS": true, "GOOS": true, "GOARCH": true, "GOARM": true,
		"GOWORK": true, "CADDY_VERSION": true,
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if drop[name] || strings.HasPrefix(name, "XCADDY_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOFLAGS=-buildvcs=false", "GOWORK=off")
}

// runGo runs the go command in dir and returns its combined output.
func runGo(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(GoTool(t), args...)
	cmd.Dir = dir
	cmd.Env = BuildEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}
