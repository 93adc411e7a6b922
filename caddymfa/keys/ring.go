package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Errors callers branch on.
var (
	// ErrShortSecret: a secret is shorter than 32 bytes.
	ErrShortSecret = errors.New("keys: secret shorter than 32 bytes")
	// ErrNoKey: sealed data names a key that is not in the ring.
	ErrNoKey = errors.New("keys: key not in the ring")
	// ErrOpen: sealed data is malformed or fails authentication.
	ErrOpen = errors.New("keys: cannot open sealed data")
)

const (
	minSecretLen = 32
	keyLen       = 32
	// hkdfSalt versions every derivation, so a future scheme can derive
	// unrelated keys from the same secrets.
	hkdfSalt    = "caddy-mfa/v1"
	purposeSeal = "seal"
)

// Ring holds the keys derived from one or more master secrets; the first is
// current, the others are still accepted (rotation). A Ring is immutable and
// safe for concurrent use.
type Ring struct {
	keys []ringKey // current first
}

type ringKey struct {
	id      string
	secret  []byte
	seal    cipher.AEAD
	subkeys *subkeys
}

// subkeys keeps a key's derived subkeys by purpose, so that a keyed hash
// (one per sign-in attempt, per recovery code) costs one HMAC rather than
// an HKDF as well. Purposes are the callers' constants, a handful; past
// maxCachedPurposes a subkey is derived on each call and not kept.
type subkeys struct {
	mu sync.Mutex // serialises writers; readers only Load
	m  atomic.Pointer[map[string][]byte]
}

const maxCachedPurposes = 32

// get returns the subkey of secret for purpose. The slice is shared: the
// caller must not write to it.
func (c *subkeys) get(secret []byte, purpose string) []byte {
	if m := c.m.Load(); m != nil {
		if k, ok := (*m)[purpose]; ok {
			return k
		}
	}
	key := derive(secret, purpose)
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old == nil {
		old = &map[string][]byte{}
	}
	if k, ok := (*old)[purpose]; ok {
		return k
	}
	if len(*old) >= maxCachedPurposes {
		return key
	}
	next := make(map[string][]byte, len(*old)+1)
	for p, k := range *old {
		next[p] = k
	}
	next[purpose] = key
	c.m.Store(&next)
	return key
}

// NewRing builds a ring from secrets, the current one first. It refuses no
// secret, secrets shorter than 32 bytes and duplicates; errors name a secret
// by its position (#1 is the first), never by its value.
func NewRing(secrets ...string) (*Ring, error) {
	if len(secrets) == 0 {
		return nil, errors.New("keys: no secret given")
	}
	r := &Ring{keys: make([]ringKey, 0, len(secrets))}
	for i, s := range secrets {
		if len(s) < minSecretLen {
			return nil, fmt.Errorf("keys: secret #%d: %w", i+1, ErrShortSecret)
		}
		k := ringKey{id: keyID([]byte(s)), secret: []byte(s), subkeys: &subkeys{}}
		for j, other := range r.keys {
			switch {
			case string(other.secret) == s:
				return nil, fmt.Errorf("keys: secrets #%d and #%d are the same", j+1, i+1)
			case other.id == k.id:
				// A chance of 2^-32, but the ID alone selects the key.
				return nil, fmt.Errorf("keys: secrets #%d and #%d share key ID %s; replace one", j+1, i+1, k.id)
			}
		}
		block, err := aes.NewCipher(derive(k.secret, purposeSeal))
		if err != nil {
			return nil, fmt.Errorf("keys: secret #%d: %w", i+1, err)
		}
		if k.seal, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("keys: secret #%d: %w", i+1, err)
		}
		r.keys = append(r.keys, k)
	}
	return r, nil
}

// keyID is 8 hex characters of HMAC-SHA256(secret, "kid"): stable, short
// enough for a token header, and not a way back to the secret.
func keyID(secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("kid"))
	return hex.EncodeToString(mac.Sum(nil)[:4])
}

// derive returns the 32-byte HKDF-SHA256 subkey of secret for purpose.
func derive(secret []byte, purpose string) []byte {
	key, err := hkdf.Key(sha256.New, secret, []byte(hkdfSalt), purpose, keyLen)
	if err != nil {
		// Unreachable: HKDF-SHA256 yields up to 8160 bytes.
		panic("keys: hkdf: " + err.Error())
	}
	return key
}

func (r *Ring) find(kid string) (ringKey, bool) {
	for _, k := range r.keys {
		if k.id == kid {
			return k, true
		}
	}
	return ringKey{}, false
}

// KeyIDs returns the IDs of the ring's keys, current first.
func (r *Ring) KeyIDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return ids
}

// Current returns the ID of the current key.
func (r *Ring) Current() string { return r.keys[0].id }

// Derive returns the 32-byte key for purpose (HKDF-SHA256, salt
// "caddy-mfa/v1", info purpose) from the key with ID kid, or false if kid is
// not in the ring. Each purpose gets an unrelated key; the purpose "seal" is
// the one Seal uses and must not be used for anything else.
func (r *Ring) Derive(kid, purpose string) ([]byte, bool) {
	k, ok := r.find(kid)
	if !ok {
		return nil, false
	}
	return bytes.Clone(k.subkeys.get(k.secret, purpose)), true
}
