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

// bcryptCompare is bcrypt's comparison; tests replace it to see what is
// compared.
var bcryptCompare = bcrypt.CompareHashAndPassword

// Verify refuses passwords over 72 bytes: bcrypt would ignore the excess,
// so a longer password would match on its first 72 bytes alone. It still
// runs the full comparison first, so a long password costs what any other
// does and its answer says nothing about the hash.
func (h *bcryptHash) Verify(password string) bool {
	if len(password) > bcryptMaxPassword {
		bcryptCompare(h.hash, []byte(password[:bcryptMaxPassword]))
		return false
	}
	return bcryptCompare(h.hash, []byte(password)) == nil
}

func (h *bcryptHash) Algorithm() string { return "bcrypt" }

func (h *bcryptHash) costKey() string { return fmt.Sprintf("bcrypt/%d", h.cost) }

// work estimates a verification in the unit of argon2Hash.work: bcrypt
// cost 10 takes about what argon2id at 46 MiB and one pass takes.
func (h *bcryptHash) work() float64 { return float64(uint64(46) << h.cost) }

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
