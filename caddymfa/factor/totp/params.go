package totp

import (
	"time"

	"github.com/pquerna/otp"
)

// Params are the TOTP settings shared by the server and the authenticator
// app; changing them after enrollment invalidates every enrolled app. A zero
// Digits or Period means the default; callers validate configured values.
type Params struct {
	// Digits of a code; authenticator apps support 6 and 8.
	Digits int
	// Period of one time step, in whole seconds.
	Period time.Duration
	// Skew is how many steps before and after the current one are accepted,
	// to absorb clock drift and typing time. 0 accepts the current step only.
	Skew int
	// Algorithm of the HMAC; SHA-1 is what every authenticator app supports.
	Algorithm otp.Algorithm
}

// DefaultParams returns the settings of RFC 6238 and every common
// authenticator app: 6 digits, 30 s, ±1 step, SHA-1.
func DefaultParams() Params {
	return Params{Digits: 6, Period: 30 * time.Second, Skew: 1, Algorithm: otp.AlgorithmSHA1}
}

// withDefaults fills fields whose zero value has no meaning, so a zero
// Params never divides by zero or yields empty codes.
func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.Digits <= 0 {
		p.Digits = d.Digits
	}
	if p.Period < time.Second {
		p.Period = d.Period
	}
	if p.Skew < 0 {
		p.Skew = 0
	}
	return p
}

func (p Params) periodSeconds() int64 {
	return int64(p.withDefaults().Period / time.Second)
}

// Step returns the RFC 6238 time step of t: whole periods since the Unix
// epoch, rounded down.
func Step(t time.Time, p Params) int64 {
	secs, per := t.Unix(), p.periodSeconds()
	step := secs / per
	if secs%per != 0 && secs < 0 {
		step--
	}
	return step
}
