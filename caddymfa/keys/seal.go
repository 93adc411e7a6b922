package keys

import (
	"crypto/rand"
	"fmt"
)

const (
	sealVersion = 1
	nonceLen    = 12
)

// Seal encrypts plaintext with AES-256-GCM under the current key's "seal"
// subkey. The output is
//
//	version byte 1 || kid length byte || kid || 12-byte random nonce || ciphertext
//
// and aad (the user ID, for factor secrets) is bound to it: Open with any
// other aad fails. The header is authenticated as well.
func (r *Ring) Seal(plaintext, aad []byte) ([]byte, error) {
	k := r.keys[0]
	out := make([]byte, 0, 2+len(k.id)+nonceLen+len(plaintext)+k.seal.Overhead())
	out = append(out, sealVersion, byte(len(k.id)))
	out = append(out, k.id...)
	header := len(out)
	out = out[:header+nonceLen]
	if _, err := rand.Read(out[header:]); err != nil {
		return nil, fmt.Errorf("keys: seal: %w", err)
	}
	return k.seal.Seal(out, out[header:], plaintext, additionalData(out[:header], aad)), nil
}

// Open decrypts what Seal made under any key of the ring, chosen by the kid
// inside. It fails with ErrNoKey when that key is not in the ring and with
// ErrOpen for anything malformed, tampered with or sealed for another aad.
func (r *Ring) Open(sealed, aad []byte) ([]byte, error) {
	kid, header, ok := parseHeader(sealed)
	if !ok {
		return nil, fmt.Errorf("keys: open: malformed header: %w", ErrOpen)
	}
	k, ok := r.find(kid)
	if !ok {
		return nil, fmt.Errorf("keys: open: sealed under key %q: %w", kid, ErrNoKey)
	}
	body := sealed[header:]
	if len(body) < nonceLen+k.seal.Overhead() {
		return nil, fmt.Errorf("keys: open: too short: %w", ErrOpen)
	}
	plaintext, err := k.seal.Open(nil, body[:nonceLen], body[nonceLen:], additionalData(sealed[:header], aad))
	if err != nil {
		return nil, fmt.Errorf("keys: open: %w", ErrOpen)
	}
	return plaintext, nil
}

// NeedsReseal reports whether sealed names a key other than the current one,
// so it should be opened and sealed again during rotation. Malformed input
// needs no reseal: Open could not read it either.
func (r *Ring) NeedsReseal(sealed []byte) bool {
	kid, _, ok := parseHeader(sealed)
	return ok && kid != r.Current()
}

// parseHeader returns the kid of sealed data and the length of its header.
func parseHeader(sealed []byte) (kid string, header int, ok bool) {
	if len(sealed) < 2 || sealed[0] != sealVersion {
		return "", 0, false
	}
	header = 2 + int(sealed[1])
	if sealed[1] == 0 || len(sealed) < header {
		return "", 0, false
	}
	return string(sealed[2:header]), header, true
}

// additionalData authenticates the header along with the caller's aad; the
// header has its own length byte, so the concatenation is unambiguous.
func additionalData(header, aad []byte) []byte {
	ad := make([]byte, 0, len(header)+len(aad))
	return append(append(ad, header...), aad...)
}
