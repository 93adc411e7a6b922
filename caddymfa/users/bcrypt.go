package users

import (
	"crypto/rand"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

const (
	minBcryptCost = 10
	// maxBcryptCost: cost 20 already takes about a minute per sign-in;
	// beyond is a typo, and a denial of service.
	maxBcryptCost = 20
	// bcryptMaxPassword: bcrypt reads at most 72 bytes of a password.
	bcryptMaxPassword = 72
	bcryptLen         = 60
	bcryptAlphabet    = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

type bcryptHash struct {
	hash []byte
	cost int
}

func (h *bcryptHash) Fingerprint() []byte { return fingerprint([]byte("bcrypt"), h.hash) }

// parseBcrypt reads "$2a$10$" followed by 53 characters of salt and key.
func parseBcrypt(s string) (*bcryptHash, error) {
	if len(s) != bcryptLen || s[6] != '$' || strings.Trim(s[7:], bcryptAlphabet) != "" {
		return nil, fmt.Errorf("%w: malformed bcrypt hash", ErrUnsupportedHash)
	}
	cost, err := bcrypt.Cost([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("%w: malformed bcrypt hash", ErrUnsupportedHash)
	}
	if cost < minBcryptCost || cost > maxBcryptCost {
		return nil, fmt.Errorf("%w: bcrypt cost %d is outside %d to %d", ErrUnsupportedHash, cost, minBcryptCost, maxBcryptCost)
	}
	return &bcryptHash{hash: []byte(s), cost: cost}, nil
}

// Verify refuses passwords over 72 bytes outright: bcrypt would ignore the
// excess, so a longer password would match on its first 72 bytes alone.
func (h *bcryptHash) Verify(password string) bool {
	if len(password) > bcryptMaxPassword {
		return false
	}
	return bcrypt.CompareHashAndPassword(h.hash, []byte(password)) == nil
}

func (h *bcryptHash) Algorithm() string { return "bcrypt" }

// dummy returns a well-formed hash of the same cost that no password
// matches; verifying against it costs what a real verification costs.
func (h *bcryptHash) dummy() Hash {
	tail := make([]byte, bcryptLen-7)
	rand.Read(tail) // never fails: crypto/rand aborts the program instead
	for i, b := range tail {
		tail[i] = bcryptAlphabet[int(b)%len(bcryptAlphabet)]
	}
	return &bcryptHash{hash: fmt.Appendf(nil, "$2a$%02d$%s", h.cost, tail), cost: h.cost}
}
