package domain

import (
	"strings"
	"testing"
)

// TestCustomKinds: a declared kind is validated as strictly as the built-in
// ones, its pattern matches whole values only, and undeclaring it makes
// its values unknown again.
func TestCustomKinds(t *testing.T) {
	re, err := AnchoredPattern(`L[0-9]{8}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := DeclareKinds([]CustomKind{{Name: "loyalty_id", Pattern: re, Uppercase: true}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DeclareKinds(nil) })
	for _, tt := range []struct{ raw, want, err string }{
		{" l00000001 ", "L00000001", ""},
		{"xL00000001", "", "does not have the form"},
		{"L000000011", "", "does not have the form"},
		{"L0000\u200b0001", "", "invisible"},
		{"", "", "is empty"},
	} {
		id, err := NewIdentity("loyalty_id", tt.raw)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "0001") {
				t.Errorf("%q: %v, want %q without the value", tt.raw, err, tt.err)
			}
			continue
		}
		if err != nil || id.Value != tt.want {
			t.Errorf("%q: %v, %v", tt.raw, id, err)
		}
	}
	if !ValidIdentityKind("loyalty_id") || !strings.Contains(JoinNames(KnownKinds()), "customer_id, loyalty_id") {
		t.Fatalf("kinds: %v", KnownKinds())
	}
	for _, bad := range [][]CustomKind{{{Name: "email", Pattern: re}}, {{Name: "a", Pattern: re}, {Name: "a", Pattern: re}}, {{Name: "x"}}, {{Name: "Bad Name", Pattern: re}}} {
		if err := DeclareKinds(bad); err == nil {
			t.Errorf("declared %+v", bad)
		}
	}
	DeclareKinds(nil)
	if _, err := NewIdentity("loyalty_id", "L00000001"); err == nil {
		t.Fatal("an undeclared kind was accepted")
	}
}
