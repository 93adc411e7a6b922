package recovery

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
)

var shape = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)

func TestGenerate(t *testing.T) {
	for _, n := range []int{1, 8, DefaultCount, maxCount} {
		codes, err := Generate(n)
		if err != nil {
			t.Fatalf("Generate(%d): %v", n, err)
		}
		if len(codes) != n {
			t.Fatalf("Generate(%d) gave %d codes", n, len(codes))
		}
		for _, c := range codes {
			if !shape.MatchString(c) {
				t.Fatalf("code %q does not look like xxxx-xxxx-xxxx", c)
			}
		}
	}
}

func TestGenerateCount(t *testing.T) {
	for _, n := range []int{-1, 0, maxCount + 1} {
		if _, err := Generate(n); !errors.Is(err, errCount) {
			t.Errorf("Generate(%d) = %v, want errCount", n, err)
		}
	}
}

func TestGenerateUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 500 {
		codes, err := Generate(DefaultCount)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range codes {
			if seen[c] {
				t.Fatalf("code %q generated twice", c)
			}
			seen[c] = true
		}
	}
}

func TestEntropy(t *testing.T) {
	if len(alphabet) != 32 {
		t.Fatalf("alphabet has %d symbols, want 32 (Generate draws 5 bits per symbol)", len(alphabet))
	}
	for i := range alphabet {
		if strings.IndexByte(alphabet, alphabet[i]) != i {
			t.Fatalf("symbol %q repeats in the alphabet", alphabet[i])
		}
	}
	if bits := float64(codeLen) * math.Log2(float64(len(alphabet))); bits < 50 {
		t.Fatalf("a code carries %.1f bits, want at least 50", bits)
	}
}

// TestSymbolsUsed catches a Generate that draws from part of the alphabet
// only, which the entropy arithmetic alone would not notice.
func TestSymbolsUsed(t *testing.T) {
	count := map[rune]int{}
	codes, err := Generate(maxCount)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		for _, r := range strings.ReplaceAll(c, "-", "") {
			count[r]++
		}
	}
	// 1200 draws over 32 symbols: missing one has a probability near 1e-15.
	if len(count) != len(alphabet) {
		t.Fatalf("%d codes used %d of %d symbols", len(codes), len(count), len(alphabet))
	}
}

func TestNormalizeRoundTrip(t *testing.T) {
	codes, err := Generate(DefaultCount)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range codes {
		want, err := Normalize(code)
		if err != nil {
			t.Fatalf("Normalize(%q): %v", code, err)
		}
		if want != strings.ReplaceAll(code, "-", "") {
			t.Fatalf("Normalize(%q) = %q", code, want)
		}
		typed := []string{
			strings.ToUpper(code),
			strings.ReplaceAll(code, "-", ""),
			strings.ReplaceAll(code, "-", " "),
			"  " + code + "\n",
			strings.ToUpper(strings.ReplaceAll(code, "-", " - ")),
			strings.NewReplacer("0", "o", "1", "l").Replace(code),
			strings.NewReplacer("0", "O", "1", "I").Replace(code),
		}
		for _, in := range typed {
			if got, err := Normalize(in); err != nil || got != want {
				t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
			}
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" means ErrMalformed
	}{
		{"formatted", "k7qm-2xvb-9tfr", "k7qm2xvb9tfr"},
		{"look-alikes", "OIL0-2xvb-9tfr", "0110" + "2xvb9tfr"},
		{"empty", "", ""},
		{"separators only", " - - ", ""},
		{"too short", "k7qm-2xvb-9tf", ""},
		{"too long", "k7qm-2xvb-9tfrr", ""},
		{"u is not a symbol", "k7qm-2xvb-9tfu", ""},
		{"punctuation", "k7qm_2xvb_9tfr", ""},
		{"kelvin sign", "\u212a7qm-2xvb-9tfr", ""},
		{"fullwidth", "ｋ7qm-2xvb-9tfr", ""},
		{"invalid utf-8", "k7qm-2xvb-9tf\xff", ""},
		{"huge", strings.Repeat("k", 1<<20), ""},
		{"huge dashes", "k7qm2xvb9tfr" + strings.Repeat("-", 1<<20), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if tt.want == "" {
				if !errors.Is(err, factor.ErrMalformed) {
					t.Fatalf("Normalize = %q, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	for _, seed := range []string{"k7qm-2xvb-9tfr", "K7QM 2XVB 9TFR", "oil0oil0oil0", "", "\u212a", "\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Normalize(in)
		if err != nil {
			if !errors.Is(err, factor.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if len(got) != codeLen {
			t.Fatalf("Normalize(%q) = %q: want %d symbols", in, got, codeLen)
		}
		for i := range len(got) {
			if strings.IndexByte(alphabet, got[i]) < 0 {
				t.Fatalf("Normalize(%q) = %q: %q is not a symbol", in, got, got[i])
			}
		}
		if again, err := Normalize(got); err != nil || again != got {
			t.Fatalf("Normalize is not idempotent on %q: %q, %v", got, again, err)
		}
	})
}
