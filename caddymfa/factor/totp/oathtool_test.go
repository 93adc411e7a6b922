package totp

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
)

// TestOathtool checks our secrets and codes against an independent TOTP
// client, the oathtool command of OATH Toolkit.
func TestOathtool(t *testing.T) {
	oathtool, err := exec.LookPath("oathtool")
	if err != nil {
		t.Fatal("oathtool not found: install the Debian package oathtool (apt-get install oathtool)")
	}
	tests := []struct {
		name string
		p    Params
		flag string
	}{
		{"defaults", DefaultParams(), "--totp"},
		{"sha256, 8 digits", Params{Digits: 8, Period: 30 * time.Second, Skew: 1, Algorithm: otp.AlgorithmSHA256}, "--totp=sha256"},
		{"sha512, 60 s", Params{Digits: 6, Period: time.Minute, Skew: 1, Algorithm: otp.AlgorithmSHA512}, "--totp=sha512"},
	}
	times := []time.Time{
		time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Unix(1111111111, 0),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret, err := NewSecret()
			if err != nil {
				t.Fatal(err)
			}
			for _, now := range times {
				args := []string{tt.flag, "--digits=" + strconv.Itoa(tt.p.Digits),
					"--time-step-size=" + strconv.FormatInt(tt.p.periodSeconds(), 10) + "s",
					"--now=@" + strconv.FormatInt(now.Unix(), 10), "-b", EncodeSecret(secret)}
				out, err := exec.Command(oathtool, args...).Output()
				if err != nil {
					t.Fatalf("oathtool %s: %v", strings.Join(args[:len(args)-1], " "), err)
				}
				code := strings.TrimSpace(string(out))
				step, err := Verify(secret, code, now, 0, tt.p)
				if err != nil {
					t.Fatalf("at %v our Verify refuses oathtool's code: %v", now, err)
				}
				if step != Step(now, tt.p) {
					t.Fatalf("at %v oathtool's code matched step %d, want the current step %d", now, step, Step(now, tt.p))
				}
			}
		})
	}
}
