package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Records are stored in a compact binary form rather than JSON: a session
// or a factor costs half the bytes, which is most of a user's footprint.
// Each record starts with a version byte. Fields a Lua script must read
// (expiries, the last TOTP step) sit in a short text header before it.

const recordVersion = 1

var errCorrupt = errors.New("corrupt record")

type encoder struct{ b []byte }

func newEncoder(size int) *encoder {
	e := &encoder{b: make([]byte, 0, size)}
	e.b = append(e.b, recordVersion)
	return e
}

func (e *encoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) bytes(b []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(b)))
	e.b = append(e.b, b...)
}

func (e *encoder) time(t time.Time) { e.b = binary.AppendVarint(e.b, ms(t)) }

// timeAfter writes t as milliseconds after base: a session's expiry is a
// few bytes this way.
func (e *encoder) timeAfter(base, t time.Time) { e.b = binary.AppendVarint(e.b, ms(t)-ms(base)) }

// decoder reads what encoder wrote; the first failure sticks, so callers
// check err once at the end.
type decoder struct {
	b   []byte
	err error
}

func newDecoder(b []byte) *decoder {
	d := &decoder{b: b}
	if len(b) == 0 || b[0] != recordVersion {
		d.err = fmt.Errorf("%w: unknown version", errCorrupt)
		return d
	}
	d.b = b[1:]
	return d
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return time.Time{}
	}
	d.b = d.b[n:]
	return fromMS(v)
}

func (d *decoder) timeAfter(base time.Time) time.Time {
	if d.err != nil {
		return time.Time{}
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return time.Time{}
	}
	d.b = d.b[n:]
	return fromMS(ms(base) + v)
}

// splitHeader cuts n comma-terminated decimal fields off the front of v
// and returns them with the rest.
func splitHeader(v string, n int) ([]int64, string, error) {
	out := make([]int64, n)
	for i := range out {
		field, rest, ok := strings.Cut(v, ",")
		if !ok {
			return nil, "", errCorrupt
		}
		x, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return nil, "", errCorrupt
		}
		out[i], v = x, rest
	}
	return out, v, nil
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
