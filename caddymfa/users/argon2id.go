package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2Params are the cost settings of an argon2id hash.
type argon2Params struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

// defaultArgon2 is what `caddy hash-password --algorithm argon2id` uses
// (46 MiB, one pass, one lane), the OWASP-recommended minimum.
var defaultArgon2 = argon2Params{memory: 46 * 1024, time: 1, threads: 1}

const (
	argon2SaltLen = 16
	argon2KeyLen  = 32
	// Limits past which a hash is a typo or a denial of service: each
	// sign-in would take that much memory and time.
	maxArgon2Memory = 4 << 20 // KiB, 4 GiB
	maxArgon2Time   = 100
	minArgon2Salt   = 8
	maxArgon2Salt   = 64
	minArgon2Key    = 16
	maxArgon2Key    = 128
)

type argon2Hash struct {
	params argon2Params
	salt   []byte
	key    []byte
}

func (h *argon2Hash) Fingerprint() []byte {
	return fingerprint([]byte("argon2id"), h.salt, h.key)
}

func (h *argon2Hash) Verify(password string) bool {
	key := argon2.IDKey([]byte(password), h.salt, h.params.time, h.params.memory, h.params.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

func (h *argon2Hash) Algorithm() string { return "argon2id" }

func (h *argon2Hash) costKey() string {
	return fmt.Sprintf("argon2id/m=%d,t=%d,p=%d/%d,%d", h.params.memory, h.params.time, h.params.threads, len(h.salt), len(h.key))
}

// work estimates a verification as the KiB of memory it fills, times the
// passes over it; lanes share the same memory.
func (h *argon2Hash) work() float64 { return float64(h.params.memory) * float64(h.params.time) }

// dummy returns a hash of the same cost, salt and key length that no
// password matches.
func (h *argon2Hash) dummy() Hash {
	return randomArgon2(h.params, len(h.salt), len(h.key))
}

func randomArgon2(p argon2Params, saltLen, keyLen int) *argon2Hash {
	d := &argon2Hash{params: p, salt: make([]byte, saltLen), key: make([]byte, keyLen)}
	rand.Read(d.salt) // never fails: crypto/rand aborts the program instead
	rand.Read(d.key)
	return d
}

// parseArgon2id reads "$argon2id$v=19$m=…,t=…,p=…$salt$key", salt and key in
// unpadded standard base64, the parameters in that order.
func parseArgon2id(s string) (*argon2Hash, error) {
	bad := func(what string) error { return fmt.Errorf("%w: argon2id hash: %s", ErrUnsupportedHash, what) }
	parts := strings.Split(s, "$")
	if len(parts) != 6 {
		return nil, bad(`want "$argon2id$v=19$m=…,t=…,p=…$salt$key"`)
	}
	if parts[2] != "v=19" {
		return nil, bad("only version 19 is supported")
	}
	p, err := parseArgon2Params(parts[3])
	if err != nil {
		return nil, bad(err.Error())
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < minArgon2Salt || len(salt) > maxArgon2Salt {
		return nil, bad(fmt.Sprintf("the salt must be %d to %d bytes of unpadded base64", minArgon2Salt, maxArgon2Salt))
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < minArgon2Key || len(key) > maxArgon2Key {
		return nil, bad(fmt.Sprintf("the key must be %d to %d bytes of unpadded base64", minArgon2Key, maxArgon2Key))
	}
	return &argon2Hash{params: p, salt: salt, key: key}, nil
}

func parseArgon2Params(s string) (argon2Params, error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return argon2Params{}, errors.New("want parameters m=…,t=…,p=…")
	}
	var values [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(fields[i], name)
		v, err := strconv.ParseUint(digits, 10, 32)
		if !ok || err != nil {
			return argon2Params{}, errors.New("want parameters m=…,t=…,p=… as decimal numbers")
		}
		values[i] = v
	}
	m, t, p := values[0], values[1], values[2]
	switch {
	case p < 1 || p > 255:
		return argon2Params{}, fmt.Errorf("parallelism p=%d is outside 1 to 255", p)
	case m < 8*p || m > maxArgon2Memory:
		// argon2 needs 8 KiB per lane and would silently raise less.
		return argon2Params{}, fmt.Errorf("memory m=%d KiB is outside %d KiB to 4 GiB", m, 8*p)
	case t < 1 || t > maxArgon2Time:
		return argon2Params{}, fmt.Errorf("time t=%d is outside 1 to %d", t, maxArgon2Time)
	}
	return argon2Params{memory: uint32(m), time: uint32(t), threads: uint8(p)}, nil
}

// HashPassword makes an argon2id hash of password with Caddy's defaults, in
// the format ParseHash reads (for tests and docs).
func HashPassword(password string) (string, error) {
	return hashArgon2id(password, defaultArgon2)
}

func hashArgon2id(password string, p argon2Params) (string, error) {
	if password == "" {
		return "", errors.New("users: hash password: empty password")
	}
	salt := make([]byte, argon2SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("users: hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, argon2KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}
