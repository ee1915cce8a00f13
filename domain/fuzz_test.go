package domain

import (
	"strings"
	"testing"
)

// FuzzNewIdentity: any value of any kind either is refused with an error
// that does not repeat it, or normalises to a value that normalises to
// itself (so two spellings of one identity always meet).
func FuzzNewIdentity(f *testing.F) {
	for _, seed := range []struct{ kind, raw string }{
		{"email", "Jane@Example.com"}, {"email", "jane@localhost"}, {"email", "a\u200b@b.co"}, {"email", `"x y"@example.com`},
		{"phone", "+44 20 7946 0958"}, {"phone", "0044 (20) 7946-0958"}, {"phone", "020 7946 0958"}, {"phone", "+0"},
		{"customer_id", " C-1001 "}, {"customer_id", "C1\u202e"}, {"ssn", "123"}, {"email", strings.Repeat("a", 300) + "@x.io"},
	} {
		f.Add(seed.kind, seed.raw)
	}
	f.Fuzz(func(t *testing.T, kind, raw string) {
		id, err := NewIdentity(IdentityKind(kind), raw)
		if !ValidIdentityKind(IdentityKind(kind)) {
			if err == nil {
				t.Fatalf("kind %q accepted", kind)
			}
			return
		}
		if err != nil {
			if len(raw) >= 8 && strings.Contains(err.Error(), raw) {
				t.Fatalf("the error repeats the value: %v", err)
			}
			return
		}
		again, err := NewIdentity(id.Kind, id.Value)
		if err != nil || again != id {
			t.Fatalf("%q normalised to %q, which normalises to %q (%v)", raw, id.Value, again.Value, err)
		}
		if id.String() != kind+":(redacted)" {
			t.Fatalf("String() is %q", id.String())
		}
	})
}
