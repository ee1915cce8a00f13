package config

import (
	"errors"
	"testing"
)

// FuzzParse: any bytes are a data map or a clear error naming the file;
// nothing panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodSystems))
	f.Add([]byte("departments: [{name: Sales, approvers: [a@b.co]}]\nsystems: []\n"))
	f.Add([]byte("systems:\n  - name: x\n    tables: [{name: t, via: [\"a.b -> c.d\"], erase_fields: {c: {set: ~}}}]\n"))
	f.Add([]byte("identity_kinds: [{name: k, pattern: '('}]"))
	f.Add([]byte("\t- : :\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse("fuzz.yaml", b)
		if err == nil {
			if m == nil {
				t.Fatal("no map and no error")
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.File != "fuzz.yaml" {
			t.Fatalf("an error that does not name the file: %T %v", err, err)
		}
	})
}
