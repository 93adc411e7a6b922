package totp

import (
	"bytes"
	"strings"
	"testing"
)

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(a)*8 < 160 {
		t.Fatalf("secret has %d bits, want at least 160", len(a)*8)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two secrets are equal")
	}
}

func TestEncodeSecret(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{[]byte("12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"},
		{[]byte{0xff}, "74"},
		{nil, ""},
	}
	for _, tt := range tests {
		got := EncodeSecret(tt.in)
		if got != tt.want {
			t.Errorf("EncodeSecret(%x) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "=") {
			t.Errorf("EncodeSecret(%x) = %q has padding", tt.in, got)
		}
		if back, err := base32NoPad.DecodeString(got); err != nil || !bytes.Equal(back, tt.in) {
			t.Errorf("decoding %q gives %x, %v", got, back, err)
		}
	}
}
