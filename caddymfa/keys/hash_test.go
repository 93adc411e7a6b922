package keys

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

func TestKeyedHashes(t *testing.T) {
	r := mustRing(t, secretC, secretB, secretA)
	data := []byte("k7qm2xvb9tfr")
	sums := r.KeyedHashes("recovery", data)
	if len(sums) != 3 {
		t.Fatalf("%d hashes for 3 keys", len(sums))
	}
	for i, kid := range r.KeyIDs() {
		key, _ := r.Derive(kid, "recovery")
		mac := hmac.New(sha256.New, key)
		mac.Write(data)
		if !bytes.Equal(sums[i], mac.Sum(nil)) {
			t.Fatalf("hash #%d is not HMAC-SHA256 under key %s", i+1, kid)
		}
	}
	if !bytes.Equal(r.KeyedHash("recovery", data), sums[0]) {
		t.Fatal("KeyedHash is not the current key's hash")
	}
	// Each key's hash is the same whatever its position, so a hash stored
	// before a rotation is found among the candidates after it.
	if before := mustRing(t, secretA).KeyedHash("recovery", data); !bytes.Equal(before, sums[2]) {
		t.Fatal("the old key's hash changed with the ring")
	}
	if bytes.Equal(r.KeyedHash("device", data), sums[0]) {
		t.Fatal("two purposes give the same hash")
	}
	if bytes.Equal(r.KeyedHash("recovery", []byte("k7qm2xvb9tfs")), sums[0]) {
		t.Fatal("two values give the same hash")
	}
}
