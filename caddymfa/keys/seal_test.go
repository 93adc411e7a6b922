package keys

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealRoundTrip(t *testing.T) {
	r := mustRing(t, secretA)
	for _, plaintext := range [][]byte{nil, {0}, []byte("12345678901234567890"), bytes.Repeat([]byte{0xa5}, 4096)} {
		sealed, err := r.Seal(plaintext, []byte("alice"))
		if err != nil {
			t.Fatal(err)
		}
		kid := r.Current()
		if sealed[0] != 1 || int(sealed[1]) != len(kid) || string(sealed[2:2+len(kid)]) != kid {
			t.Fatalf("header %x does not carry version 1 and kid %s", sealed[:2+len(kid)], kid)
		}
		if want := 2 + len(kid) + 12 + len(plaintext) + 16; len(sealed) != want {
			t.Fatalf("sealed %d bytes into %d, want %d", len(plaintext), len(sealed), want)
		}
		if len(plaintext) > 8 && bytes.Contains(sealed, plaintext) {
			t.Fatal("sealed data contains the plaintext")
		}
		got, err := r.Open(sealed, []byte("alice"))
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("Open = %x, %v; want %x", got, err, plaintext)
		}
	}
}

func TestSealFreshNonce(t *testing.T) {
	r := mustRing(t, secretA)
	a, _ := r.Seal([]byte("same"), []byte("alice"))
	b, _ := r.Seal([]byte("same"), []byte("alice"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

func TestOpenRefusesOtherAAD(t *testing.T) {
	r := mustRing(t, secretA)
	sealed, err := r.Seal([]byte("totp secret"), []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	for _, aad := range [][]byte{[]byte("bob"), []byte("alicE"), []byte("alice "), nil} {
		if _, err := r.Open(sealed, aad); !errors.Is(err, ErrOpen) {
			t.Errorf("Open with aad %q: %v, want ErrOpen", aad, err)
		}
	}
}

func TestOpenRefusesTampering(t *testing.T) {
	r := mustRing(t, secretA)
	sealed, err := r.Seal([]byte("totp secret"), []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, flip := range []byte{0x01, 0x80} {
			tampered := bytes.Clone(sealed)
			tampered[i] ^= flip
			got, err := r.Open(tampered, []byte("alice"))
			if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrNoKey) {
				t.Fatalf("byte %d ^ %#x: Open = %q, %v; want an error", i, flip, got, err)
			}
		}
	}
}

func TestOpenRefusesTruncatedAndGarbage(t *testing.T) {
	r := mustRing(t, secretA)
	sealed, err := r.Seal([]byte("totp secret"), []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(sealed) {
		if _, err := r.Open(sealed[:n], []byte("alice")); err == nil {
			t.Fatalf("Open of the first %d bytes succeeded", n)
		}
	}
	extended := append(bytes.Clone(sealed), 0)
	garbage := [][]byte{
		extended,
		{1, 255},
		{1, 0},
		{0},
		{2, 8, 'x'},
		bytes.Repeat([]byte{1}, 300),
		append([]byte{1, 8}, r.Current()...),
	}
	for _, g := range garbage {
		if _, err := r.Open(g, []byte("alice")); err == nil {
			t.Fatalf("Open(%x) succeeded", g)
		}
	}
}

func TestRotation(t *testing.T) {
	old := mustRing(t, secretA)
	sealed, err := old.Seal([]byte("totp secret"), []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustRing(t, secretB, secretA)
	got, err := rotated.Open(sealed, []byte("alice"))
	if err != nil || string(got) != "totp secret" {
		t.Fatalf("after rotation Open = %q, %v", got, err)
	}
	if !rotated.NeedsReseal(sealed) {
		t.Fatal("data sealed under the old key does not need a reseal")
	}
	resealed, err := rotated.Seal(got, []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if rotated.NeedsReseal(resealed) {
		t.Fatal("data sealed under the current key needs a reseal")
	}

	retired := mustRing(t, secretB)
	if _, err := retired.Open(sealed, []byte("alice")); !errors.Is(err, ErrNoKey) {
		t.Fatalf("with the old secret retired, Open = %v, want ErrNoKey", err)
	}
	if got, err := retired.Open(resealed, []byte("alice")); err != nil || string(got) != "totp secret" {
		t.Fatalf("resealed data: Open = %q, %v", got, err)
	}
	if old.NeedsReseal([]byte("garbage")) {
		t.Fatal("garbage needs a reseal")
	}
}

func FuzzOpen(f *testing.F) {
	r, err := NewRing(secretA, secretB)
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := r.Seal([]byte("seed"), []byte("alice"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, []byte("alice"))
	f.Add(sealed[:len(sealed)-1], []byte("alice"))
	f.Add([]byte{1, 255}, []byte(nil))
	f.Add([]byte{}, []byte("x"))
	f.Fuzz(func(t *testing.T, data, aad []byte) {
		got, err := r.Open(data, aad)
		if err != nil {
			if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrNoKey) {
				t.Fatalf("error %v is neither ErrOpen nor ErrNoKey", err)
			}
			return
		}
		// Only a genuine seal opens: the fuzzer cannot forge GCM tags, and
		// "seed" for "alice" is all these keys ever sealed (in any process).
		if string(aad) != "alice" || string(got) != "seed" {
			t.Fatalf("Open(%x, %q) = %q: forged", data, aad, got)
		}
		r.NeedsReseal(data)
	})
}
