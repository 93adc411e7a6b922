package challengepage

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestParseColor(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"#abc", "#abc", true},
		{"#ABCDEF", "#abcdef", true},
		{"#2563eb", "#2563eb", true},
		{"abc", "", false},
		{"#abcd", "", false},
		{"#ggg", "", false},
		{"#-12", "", false},
		{"#+12345", "", false},
		{"rgb(0,0,0)", "", false},
		{"#fff ", "", false},
	}
	for _, tc := range tests {
		got, err := parseColor(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseColor(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestTextOnAnyAccent: whatever colour the operator picks, button text on it
// meets WCAG AA (4.5:1).
func TestTextOnAnyAccent(t *testing.T) {
	for r := 0; r < 256; r += 5 {
		for g := 0; g < 256; g += 5 {
			for b := 0; b < 256; b += 5 {
				c := fmt.Sprintf("#%02x%02x%02x", r, g, b)
				on := textOn(c)
				if got := contrast(luminance(c), luminance(on)); got < 4.5 {
					t.Fatalf("%s on %s: contrast %.2f", on, c, got)
				}
			}
		}
	}
	if got := textOn(defaultColor); got != "#ffffff" {
		t.Errorf("default accent text %s, want white", got)
	}
}

func TestLuminanceShortForm(t *testing.T) {
	for _, pair := range [][2]string{{"#fff", "#ffffff"}, {"#036", "#003366"}, {"#000", "#000000"}} {
		if luminance(pair[0]) != luminance(pair[1]) {
			t.Errorf("%s and %s differ", pair[0], pair[1])
		}
	}
	if l := luminance("#ffffff"); l < 0.999 || l > 1.001 {
		t.Errorf("white luminance %v", l)
	}
}

func TestPageTitle(t *testing.T) {
	tests := []struct {
		brand      brand
		page, want string
	}{
		{brand{Title: defaultTitle}, "Enter your code", "Enter your code"},
		{brand{Title: defaultTitle}, "Sign in", "Sign in"},
		{brand{Title: "Acme", Named: true}, "Enter your code", "Enter your code · Acme"},
		{brand{Title: "Sign In", Named: true}, "Sign in", "Sign in"},
	}
	for _, tc := range tests {
		if got := tc.brand.pageTitle(tc.page); got != tc.want {
			t.Errorf("pageTitle(%q) with %+v = %q, want %q", tc.page, tc.brand, got, tc.want)
		}
	}
}

// TestFocusAndEdgesStandOut: whatever the branding colour, the focus ring
// and the edge of a primary button reach 3:1 against the card in both
// colour schemes (WCAG 2.4.13, 1.4.11). It reads the CSS the page emits.
func TestFocusAndEdgesStandOut(t *testing.T) {
	for _, color := range []string{"", "#ffffff", "#000000", "#1e3a8a", "#0a7", "#ffdd00", "#181b21"} {
		t.Run(color, func(t *testing.T) {
			r := newTestRenderer(t, Options{Branding: Branding{Color: color}})
			doc, _ := renderDoc(t, r, LogoutView{Common: sampleCommon(), Action: "/l"})
			css := byTag(doc, "style")[0].FirstChild.Data
			light, dark := cssVars(t, css)
			if light["--card"] != cardLight || dark["--card"] != cardDark {
				t.Fatalf("style.css cards %s / %s, branding.go assumes %s / %s", light["--card"], dark["--card"], cardLight, cardDark)
			}
			for _, check := range []struct{ rule, prop string }{
				{":focus-visible", "outline"},
				{"button, .button", "border"},
			} {
				value := cssDecl(t, css, check.rule, check.prop)
				for scheme, vars := range map[string]map[string]string{"light": light, "dark": dark} {
					c := resolveColor(t, value, vars)
					if got := contrast(luminance(c), luminance(vars["--card"])); got < 3 {
						t.Errorf("%s { %s: %s } is %s in the %s scheme: %.2f:1 against the card %s, want at least 3:1",
							check.rule, check.prop, value, c, scheme, got, vars["--card"])
					}
				}
			}
		})
	}
}

// cssVars collects the custom properties set on :root, in source order,
// for the light scheme and for the dark one (where the
// prefers-color-scheme: dark block applies too).
func cssVars(t *testing.T, css string) (light, dark map[string]string) {
	t.Helper()
	const media = "@media (prefers-color-scheme: dark)"
	mediaStart := strings.Index(css, media)
	if mediaStart < 0 {
		t.Fatalf("no %s block", media)
	}
	mediaEnd := mediaStart + strings.Index(css[mediaStart:], "}\n}") // the block holds one rule
	light, dark = map[string]string{}, map[string]string{}
	for _, m := range regexp.MustCompile(`:root\s*\{([^}]*)\}`).FindAllStringSubmatchIndex(css, -1) {
		inDark := m[0] > mediaStart && m[0] < mediaEnd
		for name, value := range declarations(css[m[2]:m[3]]) {
			if strings.HasPrefix(name, "--") {
				dark[name] = value
				if !inDark {
					light[name] = value
				}
			}
		}
	}
	return light, dark
}

// cssDecl is the value of prop in the top-level rule for selector.
func cssDecl(t *testing.T, css, selector, prop string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(selector) + `\s*\{([^}]*)\}`).FindStringSubmatch(css)
	if m == nil {
		t.Fatalf("no rule %q", selector)
	}
	value, ok := declarations(m[1])[prop]
	if !ok {
		t.Fatalf("rule %q sets no %s", selector, prop)
	}
	return value
}

func declarations(block string) map[string]string {
	out := map[string]string{}
	for _, d := range strings.Split(block, ";") {
		if name, value, ok := strings.Cut(d, ":"); ok {
			out[strings.TrimSpace(name)] = strings.TrimSpace(value)
		}
	}
	return out
}

// resolveColor finds the colour in a value such as "3px solid var(--fg)"
// and follows var() references until it reaches a hex colour.
func resolveColor(t *testing.T, value string, vars map[string]string) string {
	t.Helper()
	for range 10 {
		if m := regexp.MustCompile(`#[0-9a-fA-F]{3,6}\b`).FindString(value); m != "" {
			c, err := parseColor(m)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		m := regexp.MustCompile(`var\((--[a-z-]+)\)`).FindStringSubmatch(value)
		if m == nil {
			t.Fatalf("no colour in %q", value)
		}
		value = vars[m[1]]
	}
	t.Fatalf("var() loop in %q", value)
	return ""
}
