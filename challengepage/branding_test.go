package challengepage

import (
	"fmt"
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
