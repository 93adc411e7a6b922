package challengepage

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed templates/*.html assets/*
var embedded embed.FS

// Assets is the embedded static files served under <prefix>assets/: at
// least style.css and app.js, the same CSS and JS the pages inline.
func Assets() fs.FS {
	sub, err := fs.Sub(embedded, "assets")
	if err != nil {
		panic(err) // a constant, valid path
	}
	return sub
}

// sources finds each template and asset: in Options.TemplateDir when the
// operator put a file of that name there, embedded otherwise.
type sources struct {
	dir       string
	overrides map[string]bool // template file names present in dir
	assets    fs.FS
}

func newSources(dir string, known []string) (sources, error) {
	s := sources{assets: Assets(), overrides: map[string]bool{}}
	if dir == "" {
		return s, nil
	}
	s.dir = dir
	entries, err := os.ReadDir(dir)
	if err != nil {
		return sources{}, fmt.Errorf("challengepage: template dir: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == "assets":
			// os.Stat, not e.IsDir: a symlink to a shared directory counts.
			path := filepath.Join(dir, name)
			info, err := os.Stat(path)
			if err != nil {
				return sources{}, fmt.Errorf("challengepage: template dir: assets: %w", err)
			}
			if !info.IsDir() {
				return sources{}, fmt.Errorf("challengepage: template dir: %s is not a directory (its files are served at <prefix>assets/)", path)
			}
			s.assets = overlayFS{top: os.DirFS(path), base: s.assets}
		case strings.HasSuffix(name, ".html"):
			// A misspelt name would otherwise be ignored without a word.
			if !slices.Contains(known, name) {
				return sources{}, fmt.Errorf("challengepage: template dir: unknown template %s (known: %s)", filepath.Join(dir, name), strings.Join(known, ", "))
			}
			s.overrides[name] = true
		}
	}
	return s, nil
}

// template returns a template's text and where it came from, for errors.
func (s sources) template(name string) (text, origin string, err error) {
	var b []byte
	if s.overrides[name] {
		origin = filepath.Join(s.dir, name)
		b, err = os.ReadFile(origin)
	} else {
		origin = "templates/" + name
		b, err = embedded.ReadFile(origin)
	}
	if err != nil {
		return "", origin, fmt.Errorf("challengepage: %w", err)
	}
	return string(b), origin, nil
}

// inline reads an asset for inlining into an element whose end tag it must
// not contain, or the rest of the file would be parsed as HTML.
func (s sources) inline(name, endTag string) (string, error) {
	b, err := fs.ReadFile(s.assets, name)
	if err != nil {
		return "", fmt.Errorf("challengepage: assets/%s: %w", name, err)
	}
	if strings.Contains(strings.ToLower(string(b)), endTag) {
		return "", fmt.Errorf("challengepage: assets/%s: must not contain %s", name, endTag)
	}
	return string(b), nil
}

// overlayFS serves the operator's files first and the embedded ones for
// every name the operator did not provide.
type overlayFS struct{ top, base fs.FS }

func (o overlayFS) Open(name string) (fs.File, error) {
	f, err := o.top.Open(name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	return o.base.Open(name)
}
