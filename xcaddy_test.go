package mfa_test

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// zeroPseudoVersion pins a module that is known only through a replace
// directive, so the build never asks a module proxy for it.
const zeroPseudoVersion = "v0.0.0-00010101000000-000000000000"

// buildManifest is the part of xcaddy.json (the JSON shape of
// xcaddy.Builder) that these tests read.
type buildManifest struct {
	CaddyVersion string `json:"caddy_version"`
	Plugins      []struct {
		ModulePath string `json:"module_path"`
		Version    string `json:"version"`
	} `json:"plugins"`
}

func readManifest(t *testing.T) buildManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "xcaddy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m buildManifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("xcaddy.json: %v", err)
	}
	if m.CaddyVersion == "" || len(m.Plugins) == 0 {
		t.Fatalf("xcaddy.json needs caddy_version and plugins, got %+v", m)
	}
	return m
}

// TestXcaddyManifestMatchesModule keeps xcaddy.json, go.mod and
// cmd/caddy/main.go describing the same Caddy.
func TestXcaddyManifestMatchesModule(t *testing.T) {
	root := testenv.RepoRoot(t)
	m := readManifest(t)

	cmd := exec.Command(testenv.GoTool(t), "list", "-m", "-f", "{{.Version}}", "github.com/caddyserver/caddy/v2")
	cmd.Dir = root
	cmd.Env = testenv.BuildEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m caddy: %v\n%s", err, out)
	}
	if required := strings.TrimSpace(string(out)); m.CaddyVersion != required {
		t.Errorf("xcaddy.json builds Caddy %s but go.mod requires %s", m.CaddyVersion, required)
	}

	file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "cmd", "caddy", "main.go"), nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	imported := map[string]bool{}
	for _, spec := range file.Imports {
		path, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		imported[path] = true
	}
	ours := false
	for _, p := range m.Plugins {
		if !imported[p.ModulePath] {
			t.Errorf("xcaddy.json plugin %s is not imported by cmd/caddy/main.go", p.ModulePath)
		}
		if p.ModulePath == testenv.ModulePath {
			ours = true
			if p.Version != "" {
				t.Errorf("xcaddy.json pins %s to %s; this checkout's plugin takes no version", p.ModulePath, p.Version)
			}
		}
	}
	if !ours {
		t.Errorf("xcaddy.json does not build %s", testenv.ModulePath)
	}
}

// TestXcaddyBuild builds Caddy with this checkout's plugin the two ways
// users and `make caddy` do, and checks the binaries.
func TestXcaddyBuild(t *testing.T) {
	root := testenv.RepoRoot(t)
	toolDir := filepath.Join(root, "build", "xcaddy")
	m := readManifest(t)

	t.Run("xcaddy_cli", func(t *testing.T) {
		t.Parallel()
		tmp := t.TempDir()
		xcaddyBin := filepath.Join(tmp, "xcaddy")
		runLogged(t, toolDir, testenv.GoTool(t), "build", "-o", xcaddyBin, "github.com/caddyserver/xcaddy/cmd/xcaddy")

		caddyBin := filepath.Join(tmp, "caddy")
		args := []string{"build", m.CaddyVersion, "--output", caddyBin}
		for _, p := range m.Plugins {
			if p.Version == "" {
				args = append(args, "--with", p.ModulePath+"@"+zeroPseudoVersion+"="+root)
			} else {
				args = append(args, "--with", p.ModulePath+"@"+p.Version)
			}
		}
		runLogged(t, tmp, xcaddyBin, args...)
		checkCaddy(t, caddyBin, m.CaddyVersion)
	})

	t.Run("manifest_program", func(t *testing.T) {
		t.Parallel()
		caddyBin := filepath.Join(t.TempDir(), "caddy2")
		runLogged(t, toolDir, testenv.GoTool(t), "run", "./cmd/mfabuild", "-replace", root, "-pin", "-o", caddyBin)
		checkCaddy(t, caddyBin, m.CaddyVersion)
	})
}

// checkCaddy asserts that the binary reports the manifest's Caddy version
// and registers the mfa handler.
func checkCaddy(t *testing.T, caddyBin, version string) {
	t.Helper()
	modules := runLogged(t, t.TempDir(), caddyBin, "list-modules")
	if !hasLine(modules, "http.handlers.mfa") {
		t.Errorf("%s list-modules does not list http.handlers.mfa:\n%s", caddyBin, modules)
	}
	out := runLogged(t, t.TempDir(), caddyBin, "version")
	if fields := strings.Fields(out); len(fields) == 0 || fields[0] != version {
		t.Errorf("%s version printed %q, want %s", caddyBin, out, version)
	}
}

// runLogged runs a command with the test build environment, keeps its
// output in the test's artifact directory and fails the test with that
// output when the command fails. It returns the output.
func runLogged(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	// Caddy's list-modules and version touch no state, but keep them out of
	// the user's home all the same.
	cmd.Env = append(testenv.BuildEnv(), "XDG_CONFIG_HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	logName := filepath.Base(name) + ".log"
	if len(args) > 0 {
		logName = filepath.Base(name) + "-" + args[0] + ".log"
	}
	if werr := os.WriteFile(filepath.Join(testenv.ArtifactDir(t), logName), out.Bytes(), 0o644); werr != nil {
		t.Errorf("save %s: %v", logName, werr)
	}
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out.String())
	}
	return out.String()
}

func hasLine(text, want string) bool {
	for line := range strings.Lines(text) {
		if strings.TrimSpace(line) == want {
			return true
		}
	}
	return false
}
