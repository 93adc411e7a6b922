package challengepage

import "reflect"

// samples are the views New renders each page with before accepting it.
// Parsing finds only syntax errors, and the zero view skips every {{if}},
// {{with}} and {{range}} body, so a misspelt field inside one (an operator's
// {{if .Error}}{{.Eror}}{{end}}) would first fail in front of a user. The
// filled views run those bodies: every string set, slices of two, optional
// pointers set, once with bools true and counters above 0 and once with
// bools false and counters at 0 for the {{else}} branches.
func samples(zero View) []View {
	return []View{zero, filled(zero, true, 2), filled(zero, false, 0)}
}

// filled is v with every field set by fill.
func filled(v View, on bool, count int) View {
	p := reflect.New(reflect.TypeOf(v))
	fill(p.Elem(), on, count)
	return p.Elem().Interface().(View)
}

func fill(v reflect.Value, on bool, count int) {
	switch v.Kind() {
	case reflect.String:
		// A same-site path fits the URL fields as well as any text.
		v.SetString("/sample")
	case reflect.Bool:
		v.SetBool(on)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(count))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(count))
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				fill(f, on, count)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range s.Len() {
			fill(s.Index(i), on, count)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), on, count)
		v.Set(p)
	}
}
