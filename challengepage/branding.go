package challengepage

import (
	"fmt"
	"html/template"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// Branding lets operators restyle the pages without new templates.
type Branding struct {
	Title   string // product name in the header and <title>; default "Sign in"
	LogoURL string // optional: a same-site path, an https:// URL or a data:image/ URL
	Color   string // accent colour: #rgb or #rrggbb only
}

const (
	defaultTitle = "Sign in"
	defaultColor = "#2563eb"
	// The --card backgrounds of assets/style.css, light and dark.
	cardLight = "#ffffff"
	cardDark  = "#181b21"
)

// brand is what templates see through the brand function.
type brand struct {
	Title   string
	Named   bool // the operator set a Title; the default one is not shown as a product name
	LogoURL template.URL
	Color   string
	OnColor string // text colour on Color, chosen for at least 4.5:1 contrast
	// Faint: Color is under 3:1 against a card background, so button edges
	// and link underlines use the text colour instead (WCAG 1.4.11).
	Faint bool
}

func newBrand(b Branding) (brand, error) {
	out := brand{Title: strings.TrimSpace(b.Title), Color: defaultColor}
	out.Named = out.Title != ""
	if !out.Named {
		out.Title = defaultTitle
	}
	if b.Color != "" {
		c, err := parseColor(b.Color)
		if err != nil {
			return brand{}, err
		}
		out.Color = c
	}
	out.OnColor = textOn(out.Color)
	out.Faint = !standsOut(out.Color)
	logo, err := checkLogoURL(b.LogoURL)
	if err != nil {
		return brand{}, err
	}
	out.LogoURL = logo
	return out, nil
}

// pageTitle is the <title> of a page: the page's own heading, then the
// product name when the operator set one.
func (b brand) pageTitle(page string) string {
	if !b.Named || strings.EqualFold(page, b.Title) {
		return page
	}
	return page + " · " + b.Title
}

// parseColor accepts only #rgb and #rrggbb, so the value is safe inside the
// inlined CSS whatever the operator typed.
func parseColor(s string) (string, error) {
	if (len(s) == 4 || len(s) == 7) && s[0] == '#' {
		if _, err := strconv.ParseUint(s[1:], 16, 32); err == nil {
			return strings.ToLower(s), nil
		}
	}
	return "", fmt.Errorf("challengepage: Branding.Color %q: want #rgb or #rrggbb", s)
}

// textOn picks white or black text for a background colour: white when it
// reaches WCAG AA (4.5:1), black otherwise, which then always does.
func textOn(color string) string {
	if contrast(luminance(color), 1) >= 4.5 {
		return "#ffffff"
	}
	return "#000000"
}

// standsOut reports whether a colour reaches 3:1 against the card in both
// colour schemes, as the edge of a control must.
func standsOut(color string) bool {
	l := luminance(color)
	return contrast(l, luminance(cardLight)) >= 3 && contrast(l, luminance(cardDark)) >= 3
}

// luminance is the WCAG relative luminance of a #rgb or #rrggbb colour.
func luminance(color string) float64 {
	hex := color[1:]
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	channel := func(i int) float64 {
		v, _ := strconv.ParseUint(hex[i:i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*channel(0) + 0.7152*channel(2) + 0.0722*channel(4)
}

func contrast(l1, l2 float64) float64 {
	if l1 < l2 {
		l1, l2 = l2, l1
	}
	return (l1 + 0.05) / (l2 + 0.05)
}

// checkLogoURL allows what the page CSP can load (img-src 'self' data:) plus
// https URLs, whose origin the mfa handler adds to its pages' img-src.
func checkLogoURL(s string) (template.URL, error) {
	if s == "" {
		return "", nil
	}
	bad := func() (template.URL, error) {
		return "", fmt.Errorf("challengepage: Branding.LogoURL %q: want a path such as /_mfa/assets/logo.png, an https:// URL or a data:image/ URL", s)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) {
		return bad()
	}
	if strings.HasPrefix(s, "data:image/") {
		return template.URL(s), nil
	}
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
		return template.URL(s), nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return bad()
	}
	return template.URL(s), nil
}
