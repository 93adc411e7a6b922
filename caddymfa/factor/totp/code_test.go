package totp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
)

func TestCodeRFC4226(t *testing.T) {
	secret := []byte("12345678901234567890")
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, code := range want {
		if got := Code(secret, int64(counter), DefaultParams()); got != code {
			t.Errorf("counter %d: got %s, want %s", counter, got, code)
		}
	}
}

func TestCodeRFC6238(t *testing.T) {
	keys := map[otp.Algorithm][]byte{
		otp.AlgorithmSHA1:   []byte("12345678901234567890"),
		otp.AlgorithmSHA256: []byte("12345678901234567890123456789012"),
		otp.AlgorithmSHA512: []byte(strings.Repeat("1234567890", 6) + "1234"),
	}
	tests := []struct {
		unix                 int64
		sha1, sha256, sha512 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	}
	for _, tt := range tests {
		for alg, want := range map[otp.Algorithm]string{otp.AlgorithmSHA1: tt.sha1, otp.AlgorithmSHA256: tt.sha256, otp.AlgorithmSHA512: tt.sha512} {
			t.Run(alg.String()+"/"+time.Unix(tt.unix, 0).UTC().Format(time.RFC3339), func(t *testing.T) {
				p := Params{Digits: 8, Period: 30 * time.Second, Algorithm: alg}
				now := time.Unix(tt.unix, 0)
				if got := Code(keys[alg], Step(now, p), p); got != want {
					t.Fatalf("Code = %s, want %s", got, want)
				}
				step, err := Verify(keys[alg], want, now, 0, p)
				if err != nil || step != Step(now, p) {
					t.Fatalf("Verify = %d, %v; want step %d", step, err, Step(now, p))
				}
			})
		}
	}
}

func TestStep(t *testing.T) {
	tests := []struct {
		name string
		unix int64
		p    Params
		want int64
	}{
		{"epoch", 0, DefaultParams(), 0},
		{"end of first step", 29, DefaultParams(), 0},
		{"second step", 30, DefaultParams(), 1},
		{"rfc 6238 T", 1111111109, DefaultParams(), 0x23523EC},
		{"before epoch rounds down", -1, DefaultParams(), -1},
		{"60 s period", 119, Params{Period: time.Minute}, 1},
		{"zero period takes 30 s", 59, Params{}, 1},
		{"sub-second period takes 30 s", 59, Params{Period: time.Millisecond}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Step(time.Unix(tt.unix, 0), tt.p); got != tt.want {
				t.Errorf("Step = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestVerifySkew(t *testing.T) {
	secret := []byte("12345678901234567890")
	p := DefaultParams()
	now := time.Date(2030, 5, 17, 8, 0, 10, 0, time.UTC)
	current := Step(now, p)
	tests := []struct {
		name   string
		offset int64
		skew   int
		ok     bool
	}{
		{"current step", 0, 1, true},
		{"one step behind", -1, 1, true},
		{"one step ahead", 1, 1, true},
		{"two steps behind", -2, 1, false},
		{"two steps ahead", 2, 1, false},
		{"skew 0 refuses one behind", -1, 0, false},
		{"skew 2 accepts two ahead", 2, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := p
			p.Skew = tt.skew
			code := Code(secret, current+tt.offset, p)
			step, err := Verify(secret, code, now, 0, p)
			if !tt.ok {
				if !errors.Is(err, factor.ErrInvalid) {
					t.Fatalf("Verify = %d, %v; want ErrInvalid", step, err)
				}
				return
			}
			if err != nil || step != current+tt.offset {
				t.Fatalf("Verify = %d, %v; want step %d", step, err, current+tt.offset)
			}
		})
	}
}

func TestVerifyReplay(t *testing.T) {
	secret := []byte("12345678901234567890")
	p := DefaultParams()
	now := time.Date(2030, 5, 17, 8, 0, 10, 0, time.UTC)
	current := Step(now, p)
	tests := []struct {
		name     string
		codeStep int64
		lastStep int64
		ok       bool
	}{
		{"fresh factor", current, 0, true},
		{"same step again", current, current, false},
		{"older step after a newer one", current - 1, current, false},
		{"newer step after an older one", current + 1, current, true},
		{"previous step after a much older one", current - 1, current - 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, err := Verify(secret, Code(secret, tt.codeStep, p), now, tt.lastStep, p)
			if !tt.ok {
				if !errors.Is(err, factor.ErrInvalid) {
					t.Fatalf("Verify = %d, %v; want ErrInvalid", step, err)
				}
				return
			}
			if err != nil || step != tt.codeStep {
				t.Fatalf("Verify = %d, %v; want step %d", step, err, tt.codeStep)
			}
		})
	}
}

func TestVerifyWrongCode(t *testing.T) {
	secret := []byte("12345678901234567890")
	p := DefaultParams()
	now := time.Unix(59, 0)
	code := Code(secret, Step(now, p), p)
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	if _, err := Verify(secret, string(wrong), now, 0, p); !errors.Is(err, factor.ErrInvalid) {
		t.Fatalf("wrong code: %v, want ErrInvalid", err)
	}
	if _, err := Verify([]byte("another secret of twenty"), code, now, 0, p); !errors.Is(err, factor.ErrInvalid) {
		t.Fatalf("code of another secret: %v, want ErrInvalid", err)
	}
}

func TestNormalize(t *testing.T) {
	six := DefaultParams()
	eight := Params{Digits: 8}
	tests := []struct {
		name string
		in   string
		p    Params
		want string // "" means ErrMalformed
	}{
		{"plain", "123456", six, "123456"},
		{"surrounding spaces", "  123456 \n", six, "123456"},
		{"grouped", "123 456", six, "123456"},
		{"tab inside", "123\t456", six, "123456"},
		{"eight digits", "1234 5678", eight, "12345678"},
		{"leading zeros kept", "000001", six, "000001"},
		{"empty", "", six, ""},
		{"only spaces", "      ", six, ""},
		{"too short", "12345", six, ""},
		{"too long", "1234567", six, ""},
		{"six digits for eight", "123456", eight, ""},
		{"letter", "12345a", six, ""},
		{"dash", "123-456", six, ""},
		{"sign", "+12345", six, ""},
		{"arabic-indic digits", "١٢٣٤٥٦", six, ""},
		{"fullwidth digits", "１２３４５６", six, ""},
		{"nul byte", "123\x00456", six, ""},
		{"huge", strings.Repeat("1", 1<<20), six, ""},
		{"huge spaces", "123456" + strings.Repeat(" ", 1<<20), six, ""},
		{"invalid utf-8", "123\xff456", six, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in, tt.p)
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

func TestVerifyMalformed(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, in := range []string{"", "abcdef", "12345", strings.Repeat("9", 10000)} {
		if _, err := Verify(secret, in, time.Unix(59, 0), 0, DefaultParams()); !errors.Is(err, factor.ErrMalformed) {
			t.Errorf("Verify(%.10q…) = %v, want ErrMalformed", in, err)
		}
	}
}

func TestErrorsDoNotEchoCode(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, in := range []string{"987654", "98765x"} {
		_, err := Verify(secret, in, time.Unix(59, 0), 0, DefaultParams())
		if err == nil || strings.Contains(err.Error(), in) {
			t.Errorf("error %v for %q: want an error that does not contain the code", err, in)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, seed := range []string{"123456", " 123 456 ", "12345a", "١٢٣٤٥٦", "", "\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Normalize(in, DefaultParams())
		if err != nil {
			if !errors.Is(err, factor.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if len(got) != 6 || strings.Trim(got, "0123456789") != "" {
			t.Fatalf("Normalize(%q) = %q: not 6 ASCII digits", in, got)
		}
	})
}

func FuzzVerify(f *testing.F) {
	secret := []byte("12345678901234567890")
	f.Add("287082", int64(59), int64(0))
	f.Add("287082", int64(59), int64(1))
	f.Add("000000", int64(-1), int64(-5))
	f.Add("x", int64(1<<62), int64(1<<62))
	f.Fuzz(func(t *testing.T, code string, unix, lastStep int64) {
		p := DefaultParams()
		now := time.Unix(unix, 0)
		step, err := Verify(secret, code, now, lastStep, p)
		if err != nil {
			if !errors.Is(err, factor.ErrMalformed) && !errors.Is(err, factor.ErrInvalid) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		current := Step(now, p)
		if step <= lastStep || step < current-1 || step > current+1 {
			t.Fatalf("matched step %d outside (%d, %d±1]", step, lastStep, current)
		}
		if norm, _ := Normalize(code, p); Code(secret, step, p) != norm {
			t.Fatalf("matched step %d does not produce code %q", step, code)
		}
	})
}
