package store

import (
	"fmt"
	"unicode/utf8"
)

// MaxKeyLen bounds every user name, ID and key handed to a store. Callers
// hash user input into keys; the bound keeps a bug from filling the backend.
const MaxKeyLen = 512

// CheckKey refuses, with ErrInvalid, a key that is empty, longer than
// MaxKeyLen bytes or not UTF-8 (records are JSON, which cannot carry raw
// bytes; encode binary digests as hex or base64). what names the argument
// in the message; the key itself is never quoted, as it may derive from a
// secret.
func CheckKey(what, key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrInvalid, what, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalid, what)
	}
	return nil
}
