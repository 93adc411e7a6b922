package redisstore

import (
	"bytes"
	"compress/flate"
	"io"
	"net/netip"
	"sync"
)

// Session records carry a client IP, a user agent and amr values; spelled
// out they are most of a session's bytes. These encodings shrink them to
// a few bytes each, which keeps a session near 250 bytes of Redis memory.

// Known amr values (RFC 8176, as the gateway writes them) are one byte;
// others are spelled out after a zero byte. Codes never change meaning.
var amrCodes = []string{1: "pwd", "otp", "mfa", "hwk", "swk", "sms", "tel", "pin", "face", "fpt", "user", "pop", "sc", "kba", "mca", "geo", "rba", "retina", "iris", "vbm", "wia"}

func (e *encoder) amr(values []string) {
	e.b = append(e.b, byte(len(values)))
	for _, v := range values {
		code := 0
		for i, known := range amrCodes {
			if i > 0 && known == v {
				code = i
				break
			}
		}
		e.b = append(e.b, byte(code))
		if code == 0 {
			e.str(v)
		}
	}
}

func (d *decoder) amr() []string {
	n := int(d.byte())
	if d.err != nil || n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		code := int(d.byte())
		switch {
		case code == 0:
			out[i] = d.str()
		case code < len(amrCodes):
			out[i] = amrCodes[code]
		default:
			d.err = errCorrupt
		}
	}
	return out
}

// ip writes an address in its binary form (mode 4 or 16) when that reads
// back as the same text, else the text (mode 0).
func (e *encoder) ip(s string) {
	if a, err := netip.ParseAddr(s); err == nil && a.String() == s {
		raw := a.AsSlice()
		e.b = append(e.b, byte(len(raw)))
		e.b = append(e.b, raw...)
		return
	}
	e.b = append(e.b, 0)
	e.str(s)
}

func (d *decoder) ip() string {
	switch mode := d.byte(); {
	case d.err != nil:
		return ""
	case mode == 0:
		return d.str()
	case mode == 4 || mode == 16:
		if len(d.b) < int(mode) {
			d.err = errCorrupt
			return ""
		}
		a, _ := netip.AddrFromSlice(d.b[:mode])
		d.b = d.b[mode:]
		return a.String()
	default:
		d.err = errCorrupt
		return ""
	}
}

// uaDict primes the compressor with the shapes of common user agents, so
// a typical one compresses from about 110 bytes to about 12. Records
// written with it can only be read with it: never change it; add a new
// mode with a new dictionary instead.
const uaDict = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1" +
	"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.0.0 Mobile/15E148 Safari/604.1" +
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36" +
	"Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0" +
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15" +
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:127.0) Gecko/20100101 Firefox/127.0" +
	"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0" +
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0" +
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36" +
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"

// Modes of a user agent field.
const (
	uaPlain    = 0
	uaDeflated = 1 // raw DEFLATE primed with uaDict
)

// Compressors are large; sessions reuse them.
var uaWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriterDict(io.Discard, flate.BestCompression, []byte(uaDict))
	return w
}}

func (e *encoder) userAgent(s string) {
	if len(s) >= 24 { // shorter ones do not shrink
		var buf bytes.Buffer
		w := uaWriters.Get().(*flate.Writer)
		w.Reset(&buf)
		_, err := io.WriteString(w, s)
		if err == nil {
			err = w.Close()
		}
		uaWriters.Put(w)
		if err == nil && buf.Len() < len(s) {
			e.b = append(e.b, uaDeflated)
			e.bytes(buf.Bytes())
			return
		}
	}
	e.b = append(e.b, uaPlain)
	e.str(s)
}

func (d *decoder) userAgent() string {
	switch mode := d.byte(); {
	case d.err != nil:
		return ""
	case mode == uaPlain:
		return d.str()
	case mode == uaDeflated:
		packed := d.bytes()
		if d.err != nil {
			return ""
		}
		// A user agent is at most a few hundred bytes; the limit keeps a
		// corrupt record from inflating without end.
		r := flate.NewReaderDict(bytes.NewReader(packed), []byte(uaDict))
		out, err := io.ReadAll(io.LimitReader(r, 4096))
		if err != nil {
			d.err = errCorrupt
			return ""
		}
		return string(out)
	default:
		d.err = errCorrupt
		return ""
	}
}
