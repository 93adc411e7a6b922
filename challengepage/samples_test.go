package challengepage

import (
	"reflect"
	"testing"
)

// TestSamplesFillEveryField: a field the filled sample leaves at its zero
// value (a kind fill does not know) would hide the branches that use it.
func TestSamplesFillEveryField(t *testing.T) {
	for _, zero := range pageViews {
		v := filled(zero, true, 2)
		var check func(path string, f reflect.Value)
		check = func(path string, f reflect.Value) {
			switch f.Kind() {
			case reflect.Struct:
				for i := range f.NumField() {
					if f.Type().Field(i).IsExported() {
						check(path+"."+f.Type().Field(i).Name, f.Field(i))
					}
				}
			case reflect.Slice:
				if f.Len() != 2 {
					t.Errorf("%s has %d items, want 2", path, f.Len())
				}
				for i := range f.Len() {
					check(path+"[]", f.Index(i))
				}
			default:
				if f.IsZero() {
					t.Errorf("%s left empty", path)
				}
			}
		}
		check(reflect.TypeOf(v).Name(), reflect.ValueOf(v))
	}
}
