package totp

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
)

// secretSize is 160 bits, the HMAC-SHA1 block-friendly size RFC 4226 §4
// recommends.
const secretSize = 20

var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a fresh 160-bit secret from crypto/rand.
func NewSecret() ([]byte, error) {
	secret := make([]byte, secretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("totp: new secret: %w", err)
	}
	return secret, nil
}

// EncodeSecret returns secret in base32 without padding, as authenticator
// apps show it and accept it when typed in by hand.
func EncodeSecret(secret []byte) string {
	return base32NoPad.EncodeToString(secret)
}
