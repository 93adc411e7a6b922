package factor

import "errors"

// Type names of second factors, as stored and as shown in the API.
const (
	TypeTOTP         = "totp"
	TypeRecoveryCode = "recovery_code"
)

// Errors a code check ends with. Callers answer ErrMalformed with 400 and
// ErrInvalid with 401; both count as a failed attempt.
var (
	ErrMalformed = errors.New("factor: malformed code")
	ErrInvalid   = errors.New("factor: invalid code")
)

// AMR returns the RFC 8176 amr value of a factor type, or "" for an unknown
// type. A recovery code is a one-time password issued in advance, and RFC 8176
// has no closer value than "otp" for it.
func AMR(factorType string) string {
	switch factorType {
	case TypeTOTP, TypeRecoveryCode:
		return "otp"
	}
	return ""
}
