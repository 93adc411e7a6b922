package totp

import (
	"bytes"
	"errors"
	"image/png"
	"strings"
	"testing"

	"github.com/boombuler/barcode/qr"
)

func TestQRCodePNG(t *testing.T) {
	uri := URI("Example", "alice@example.com", []byte("12345678901234567890"), DefaultParams())
	for _, size := range []int{200, 256, 333} {
		data, err := QRCodePNG(uri, size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("size %d: png.Decode: %v", size, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Fatalf("size %d: image is %v", size, b)
		}

		// Sample the centre of every module: the picture must be exactly the
		// QR code of uri, surrounded by a white quiet zone.
		code, err := qr.Encode(uri, qr.M, qr.Auto)
		if err != nil {
			t.Fatal(err)
		}
		modules := code.Bounds().Dx()
		scale := size / (modules + 2*quietZone)
		offset := (size - modules*scale) / 2
		if offset < quietZone*scale {
			t.Fatalf("size %d: margin %d px is under the %d-module quiet zone", size, offset, quietZone)
		}
		for y := -quietZone; y < modules+quietZone; y++ {
			for x := -quietZone; x < modules+quietZone; x++ {
				want := false
				if x >= 0 && y >= 0 && x < modules && y < modules {
					want = isDark(code.At(x, y))
				}
				px, py := offset+x*scale+scale/2, offset+y*scale+scale/2
				if got := isDark(img.At(px, py)); got != want {
					t.Fatalf("size %d: module (%d,%d) dark=%v, want %v", size, x, y, got, want)
				}
			}
		}
	}
}

func TestQRCodePNGSize(t *testing.T) {
	uri := URI("Example", "alice", []byte("12345678901234567890"), DefaultParams())
	for _, size := range []int{-1, 0, 10, maxQRSize + 1} {
		if _, err := QRCodePNG(uri, size); !errors.Is(err, errQRSize) {
			t.Errorf("size %d: %v, want errQRSize", size, err)
		}
	}
}

func TestQRCodePNGTooLong(t *testing.T) {
	if _, err := QRCodePNG(strings.Repeat("x", 8000), 1024); err == nil {
		t.Fatal("content beyond QR capacity encoded without error")
	}
}
