package keys

import (
	"crypto/hmac"
	"crypto/sha256"
)

// KeyedHashes returns HMAC-SHA256(Derive(kid, purpose), data) under every key
// of the ring, current first. A store keeps only the current hash of a value
// and matches any of these, so values hashed before a rotation still match.
func (r *Ring) KeyedHashes(purpose string, data []byte) [][]byte {
	sums := make([][]byte, len(r.keys))
	for i, k := range r.keys {
		sums[i] = keyedHash(k, purpose, data)
	}
	return sums
}

// KeyedHash returns HMAC-SHA256(Derive(Current(), purpose), data).
func (r *Ring) KeyedHash(purpose string, data []byte) []byte {
	return keyedHash(r.keys[0], purpose, data)
}

func keyedHash(k ringKey, purpose string, data []byte) []byte {
	mac := hmac.New(sha256.New, k.subkeys.get(k.secret, purpose))
	mac.Write(data)
	return mac.Sum(nil)
}
