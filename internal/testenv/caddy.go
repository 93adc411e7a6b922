package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// caddyBuild is the one build of ./cmd/caddy this test process makes.
var caddyBuild struct {
	once sync.Once
	dir  string // removed by Main
	path string
	err  error
}

// CaddyBinary builds ./cmd/caddy (Caddy, its standard modules and this
// plugin) once per test process and returns the binary's path, for tests
// that run Caddy as a separate process. The binary lives in a temporary
// directory kept for the whole process; a package whose TestMain calls Main
// removes it at exit.
func CaddyBinary(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	caddyBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "caddy-mfa-testenv-")
		if err != nil {
			caddyBuild.err = err
			return
		}
		caddyBuild.dir = dir
		path := filepath.Join(dir, "caddy")
		out, err := runGo(t, root, "build", "-o", path, "./cmd/caddy")
		if err != nil {
			caddyBuild.err = fmt.Errorf("%w\n%s", err, out)
			return
		}
		caddyBuild.path = path
	})
	if caddyBuild.err != nil {
		t.Fatalf("testenv: build ./cmd/caddy: %v", caddyBuild.err)
	}
	return caddyBuild.path
}

// Main runs the tests and then removes what this package built for them
// (the CaddyBinary build). Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if caddyBuild.dir != "" {
		os.RemoveAll(caddyBuild.dir)
	}
	os.Exit(code)
}
