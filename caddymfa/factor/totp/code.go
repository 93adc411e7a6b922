package totp

import (
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
)

// maxInput bounds what Normalize looks at, so a megabyte of input costs
// nothing.
const maxInput = 64

// Code returns the code of secret for time step step.
func Code(secret []byte, step int64, p Params) string {
	p = p.withDefaults()
	code, err := hotp.GenerateCodeCustom(EncodeSecret(secret), uint64(step), hotp.ValidateOpts{
		Digits:    otp.Digits(p.Digits),
		Algorithm: p.Algorithm,
	})
	if err != nil {
		// Only a bad base32 secret fails, and EncodeSecret made this one.
		return ""
	}
	return code
}

// Normalize trims surrounding and inner spaces from what the user typed.
// Anything but exactly p.Digits ASCII digits is factor.ErrMalformed.
func Normalize(code string, p Params) (string, error) {
	p = p.withDefaults()
	malformed := fmt.Errorf("totp: a code is %d digits: %w", p.Digits, factor.ErrMalformed)
	if len(code) > maxInput {
		return "", malformed
	}
	code = strings.TrimSpace(code)
	digits := make([]byte, 0, p.Digits)
	for i := 0; i < len(code); i++ {
		switch c := code[i]; {
		case c == ' ' || c == '\t':
		case c >= '0' && c <= '9' && len(digits) < p.Digits:
			digits = append(digits, c)
		default:
			return "", malformed
		}
	}
	if len(digits) != p.Digits {
		return "", malformed
	}
	return string(digits), nil
}

// Verify checks code against the steps Step(now)-p.Skew … Step(now)+p.Skew,
// skipping steps at or below lastStep (already used), and returns the step
// it matched. The caller must then record that step atomically; Verify alone
// does not stop two concurrent uses of one code.
//
// Errors: factor.ErrMalformed when code is not well formed, factor.ErrInvalid
// when it matches no usable step (a reused code is ErrInvalid too).
func Verify(secret []byte, code string, now time.Time, lastStep int64, p Params) (int64, error) {
	p = p.withDefaults()
	want, err := Normalize(code, p)
	if err != nil {
		return 0, err
	}
	current := Step(now, p)
	var matched int64
	found, reused := false, false
	// Every step of the window is computed and compared, matched or not, so
	// the time taken says nothing about which step matched.
	for s := current - int64(p.Skew); s <= current+int64(p.Skew); s++ {
		equal := subtle.ConstantTimeCompare([]byte(Code(secret, s, p)), []byte(want)) == 1
		switch {
		case equal && s <= lastStep:
			reused = true
		case equal && !found:
			matched, found = s, true
		}
	}
	switch {
	case found:
		return matched, nil
	case reused:
		return 0, fmt.Errorf("totp: code already used: %w", factor.ErrInvalid)
	}
	return 0, fmt.Errorf("totp: %w", factor.ErrInvalid)
}
