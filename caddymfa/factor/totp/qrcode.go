package totp

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/boombuler/barcode/qr"
)

// quietZone is the white margin, in modules, that ISO/IEC 18004 requires
// around a QR code; without it phones on a dark page fail to find the code.
const quietZone = 4

// maxQRSize keeps a caller's mistake from allocating a huge image.
const maxQRSize = 4096

var errQRSize = errors.New("totp: qr code size out of range")

// QRCodePNG returns a size×size PNG of uri as a QR code (error correction
// level M), black on white with a quiet zone. size must leave at least one
// pixel per module.
func QRCodePNG(uri string, size int) ([]byte, error) {
	if size <= 0 || size > maxQRSize {
		return nil, fmt.Errorf("%w: %d", errQRSize, size)
	}
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("totp: qr code: %w", err)
	}
	modules := code.Bounds().Dx()
	scale := size / (modules + 2*quietZone)
	if scale < 1 {
		return nil, fmt.Errorf("%w: %d is under %d pixels", errQRSize, size, modules+2*quietZone)
	}
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	offset := (size - modules*scale) / 2
	for y := range modules {
		for x := range modules {
			if !isDark(code.At(x, y)) {
				continue
			}
			for dy := range scale {
				for dx := range scale {
					img.SetColorIndex(offset+x*scale+dx, offset+y*scale+dy, 1)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: qr code png: %w", err)
	}
	return buf.Bytes(), nil
}

func isDark(c color.Color) bool {
	return color.GrayModel.Convert(c).(color.Gray).Y < 128
}
