package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	if got := modulePathOf(filepath.Join(root, "go.mod")); got != ModulePath {
		t.Fatalf("go.mod at %s declares %q, want %q", root, got, ModulePath)
	}
	if _, err := os.Stat(filepath.Join(root, "xcaddy.json")); err != nil {
		t.Fatalf("repo root %s has no xcaddy.json: %v", root, err)
	}
}

func TestArtifactDir(t *testing.T) {
	for _, name := range []string{"plain", "with space/and:colon", "../escape"} {
		t.Run(name, func(t *testing.T) {
			dir := ArtifactDir(t)
			base := filepath.Join(RepoRoot(t), "testartifacts")
			rel, err := filepath.Rel(base, dir)
			if err != nil || strings.Contains(rel, string(filepath.Separator)) || strings.HasPrefix(rel, ".") {
				t.Fatalf("ArtifactDir = %s, want one directory under %s", dir, base)
			}
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				t.Fatalf("ArtifactDir %s not created: %v", dir, err)
			}
			if again := ArtifactDir(t); again != dir {
				t.Fatalf("second ArtifactDir = %s, want %s", again, dir)
			}
		})
	}
}

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort = %d", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d from FreePort cannot be bound: %v", port, err)
	}
	l.Close()
}

func TestBuildEnvFixesGOFLAGS(t *testing.T) {
	t.Setenv("GOFLAGS", "-mod=vendor")
	t.Setenv("GOOS", "plan9")
	t.Setenv("XCADDY_SKIP_BUILD", "1")
	var goflags []string
	for _, kv := range BuildEnv() {
		name, value, _ := strings.Cut(kv, "=")
		switch name {
		case "GOFLAGS":
			goflags = append(goflags, value)
		case "GOOS", "XCADDY_SKIP_BUILD":
			t.Errorf("BuildEnv keeps %s", kv)
		}
	}
	if len(goflags) != 1 || goflags[0] != "-buildvcs=false" {
		t.Fatalf("GOFLAGS in BuildEnv = %q, want exactly [-buildvcs=false]", goflags)
	}
}

func TestCaddyBinary(t *testing.T) {
	bin := CaddyBinary(t)
	if again := CaddyBinary(t); again != bin {
		t.Fatalf("second CaddyBinary = %s, want the same build %s", again, bin)
	}
	out, err := exec.Command(bin, "list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("%s list-modules: %v\n%s", bin, err, out)
	}
	if !hasLine(string(out), "http.handlers.mfa") {
		t.Fatalf("module http.handlers.mfa is not registered in ./cmd/caddy; list-modules printed:\n%s", out)
	}
}

func TestOathtoolMatchesRFC6238(t *testing.T) {
	// RFC 6238 Appendix B: SHA-1 key "12345678901234567890", T = 59 s.
	out, err := exec.Command(Oathtool(t), "--totp", "--base32", "--digits=8",
		"--now=1970-01-01 00:00:59 UTC", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "94287082" {
		t.Fatalf("oathtool printed %q, want 94287082", got)
	}
}

func hasLine(text, want string) bool {
	for line := range strings.Lines(text) {
		if strings.TrimSpace(line) == want {
			return true
		}
	}
	return false
}
