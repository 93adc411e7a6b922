// Command mfabuild builds a Caddy binary exactly as the build manifest
// (xcaddy.json at the repository root, in the JSON shape of xcaddy's
// Builder) describes it, using xcaddy's library.
//
//	go run ./cmd/mfabuild [-manifest xcaddy.json] [-replace DIR [-pin]] [-o caddy]
//
// -replace builds the plugin from a checkout instead of a published
// version; -pin additionally gives the replaced module the zero
// pseudo-version, so nothing asks a module proxy for it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/caddyserver/xcaddy"
)

// zeroPseudoVersion is the version Go gives a module it knows only through
// a replace directive.
const zeroPseudoVersion = "v0.0.0-00010101000000-000000000000"

func main() {
	log.SetFlags(0)
	log.SetPrefix("mfabuild: ")
	manifest := flag.String("manifest", "", "build manifest (default: xcaddy.json in the working directory or the nearest one above it)")
	replace := flag.String("replace", "", "build the manifest's plugin from the module checkout in this directory")
	pin := flag.Bool("pin", false, "with -replace: pin the replaced module to "+zeroPseudoVersion)
	output := flag.String("o", "caddy", "path of the Caddy binary to write")
	flag.Parse()
	if flag.NArg() > 0 {
		log.Fatalf("unexpected arguments: %q", flag.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *manifest, *replace, *pin, *output); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, manifest, replace string, pin bool, output string) error {
	if manifest == "" {
		found, err := findManifest()
		if err != nil {
			return err
		}
		manifest = found
	}
	b, err := loadManifest(manifest)
	if err != nil {
		return err
	}
	switch {
	case replace != "":
		if err := replaceWithCheckout(&b, replace, pin); err != nil {
			return err
		}
	case pin:
		return errors.New("-pin needs -replace")
	}
	log.Printf("building Caddy %s from %s", b.CaddyVersion, manifest)
	return b.Build(ctx, output)
}

// findManifest looks for xcaddy.json in the working directory and then in
// each directory above it.
func findManifest() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		path := filepath.Join(dir, "xcaddy.json")
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no xcaddy.json in the working directory or above it; pass -manifest")
		}
		dir = parent
	}
}

// loadManifest reads an xcaddy.Builder from JSON. Unknown fields are an
// error, so a misspelt key cannot silently drop part of the build.
func loadManifest(path string) (xcaddy.Builder, error) {
	var b xcaddy.Builder
	data, err := os.ReadFile(path)
	if err != nil {
		return b, fmt.Errorf("read manifest: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, fmt.Errorf("manifest %s: %w", path, err)
	}
	if b.CaddyVersion == "" {
		return b, fmt.Errorf("manifest %s: caddy_version is empty", path)
	}
	if len(b.Plugins) == 0 {
		return b, fmt.Errorf("manifest %s: no plugins", path)
	}
	return b, nil
}

// replaceWithCheckout points the plugin that belongs to the module in dir
// at that directory.
func replaceWithCheckout(b *xcaddy.Builder, dir string, pin bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	module, err := modulePath(filepath.Join(abs, "go.mod"))
	if err != nil {
		return err
	}
	found := false
	for i, p := range b.Plugins {
		if p.PackagePath == module || strings.HasPrefix(p.PackagePath, module+"/") {
			found = true
			if pin {
				b.Plugins[i].Version = zeroPseudoVersion
			}
		}
	}
	if !found {
		return fmt.Errorf("-replace %s: the manifest has no plugin from module %s", dir, module)
	}
	old := module
	if pin {
		old += "@" + zeroPseudoVersion
	}
	b.Replacements = append(b.Replacements, xcaddy.NewReplace(old, abs))
	return nil
}

// modulePath returns the module path a go.mod file declares.
func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", fmt.Errorf("-replace: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], "\"`"), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("-replace: %s declares no module", gomod)
}
