package challengepage

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
)

// Options configures a Renderer.
type Options struct {
	// TemplateDir optionally holds files named like the embedded ones
	// (login.html, layout.html, assets/style.css, …) that replace them.
	TemplateDir string
	Branding    Branding
}

// Renderer renders the pages. It is safe for concurrent use.
type Renderer struct {
	pages  map[string]*template.Template
	assets fs.FS
}

const layoutFile = "layout.html"

// New parses and test-renders every page with sample views that run each
// branch, so a broken template or bad branding fails at config load rather
// than in front of a user.
func New(opts Options) (*Renderer, error) {
	b, err := newBrand(opts.Branding)
	if err != nil {
		return nil, err
	}
	known := []string{layoutFile}
	for _, v := range pageViews {
		known = append(known, v.templateName())
	}
	src, err := newSources(opts.TemplateDir, known)
	if err != nil {
		return nil, err
	}
	css, err := src.inline("style.css", "</style")
	if err != nil {
		return nil, err
	}
	js, err := src.inline("app.js", "</script")
	if err != nil {
		return nil, err
	}

	base := template.New(layoutFile).Funcs(funcMap(b, template.CSS(css), template.JS(js)))
	if err := parseInto(base, src, layoutFile); err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}, assets: src.assets}
	for _, v := range pageViews {
		name := v.templateName()
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("challengepage: %s: %w", name, err)
		}
		if err := parseInto(t.New(name), src, name); err != nil {
			return nil, err
		}
		for _, part := range []string{"title", "content"} {
			if t.Lookup(part) == nil {
				_, origin, _ := src.template(name)
				return nil, fmt.Errorf("challengepage: %s: no {{define %q}}", origin, part)
			}
		}
		// html/template finds context errors only when it first executes,
		// and a field or index error only when its branch runs.
		for _, sample := range samples(v) {
			if err := t.ExecuteTemplate(io.Discard, layoutFile, sample); err != nil {
				_, origin, _ := src.template(name)
				return nil, fmt.Errorf("challengepage: %s: %w", origin, err)
			}
		}
		r.pages[name] = t
	}
	return r, nil
}

func parseInto(t *template.Template, src sources, name string) error {
	text, origin, err := src.template(name)
	if err != nil {
		return err
	}
	if _, err := t.Parse(text); err != nil {
		return fmt.Errorf("challengepage: %s: %w", origin, err)
	}
	return nil
}

// Render writes the page for v to w. The page is rendered into a buffer
// first, so a template error never leaves half a page on w.
func (r *Renderer) Render(w io.Writer, v View) error {
	if v == nil {
		return errors.New("challengepage: render: nil view")
	}
	name := v.templateName()
	if c, ok := v.(interface{ common() Common }); !ok || c.common().Nonce == "" {
		// Without the nonce the CSP blocks the inline CSS and JS.
		return fmt.Errorf("challengepage: render %s: empty Nonce", name)
	}
	var buf bytes.Buffer
	if err := r.pages[name].ExecuteTemplate(&buf, layoutFile, v); err != nil {
		return fmt.Errorf("challengepage: render %s: %w", name, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// Assets is Assets() with the files of TemplateDir/assets served in place
// of, or next to, the embedded ones.
func (r *Renderer) Assets() fs.FS { return r.assets }
