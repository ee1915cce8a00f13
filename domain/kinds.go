package domain

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
)

// CustomKind is a kind of identifier a data map declares besides the
// built-in ones: a loyalty number, an account handle. Its values are
// validated as strictly as the built-in kinds: trimmed, printable, at most
// 128 bytes, and matching the pattern whole.
type CustomKind struct {
	Name      IdentityKind
	Pattern   *regexp.Regexp
	Uppercase bool
}

// KindSpec is a kind as a data map declares it (identity_kinds).
type KindSpec struct {
	Name string `yaml:"name"`
	// Pattern is the regular expression a whole value must match, after
	// surrounding spaces are trimmed (and upper-cased, with Uppercase).
	Pattern     string `yaml:"pattern"`
	Uppercase   bool   `yaml:"uppercase"`
	Description string `yaml:"description"`
}

// ErrNoPattern: a kind without a pattern would accept anything.
var ErrNoPattern = errors.New("is missing: the regular expression a whole value must match, e.g. 'L[0-9]{8}'")

// Compile makes the kind that DeclareKinds takes; the error is the
// pattern's.
func (s KindSpec) Compile() (CustomKind, error) {
	if strings.TrimSpace(s.Pattern) == "" {
		return CustomKind{}, ErrNoPattern
	}
	re, err := AnchoredPattern(s.Pattern)
	if err != nil {
		return CustomKind{}, fmt.Errorf("%q is not a regular expression: %v", s.Pattern, err)
	}
	return CustomKind{Name: IdentityKind(s.Name), Pattern: re, Uppercase: s.Uppercase}, nil
}

// CompileKinds compiles and checks a map's kinds.
func CompileKinds(specs []KindSpec) ([]CustomKind, error) {
	var out []CustomKind
	for _, s := range specs {
		k, err := s.Compile()
		if err != nil {
			return nil, fmt.Errorf("identity kind %q: pattern %w", s.Name, err)
		}
		out = append(out, k)
	}
	return out, CheckKinds(out)
}

// customKinds holds the declared kinds. The engine declares them once at
// start, from the data map, before any request is read; every worker of
// one deployment loads the same map, so workflow code that validates an
// identity decides the same way on each of them.
var customKinds atomic.Pointer[[]CustomKind]

var kindName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// DeclareKinds replaces the custom kinds.
func DeclareKinds(kinds []CustomKind) error {
	if err := CheckKinds(kinds); err != nil {
		return err
	}
	list := slices.Clone(kinds)
	customKinds.Store(&list)
	return nil
}

// CheckKinds says whether kinds could be declared, without declaring them.
func CheckKinds(kinds []CustomKind) error {
	for i, k := range kinds {
		switch {
		case !kindName.MatchString(string(k.Name)):
			return fmt.Errorf("identity kind %q must be 1-32 lower-case letters, digits or '_', starting with a letter", k.Name)
		case slices.Contains(IdentityKinds, k.Name):
			return fmt.Errorf("identity kind %q is built in", k.Name)
		case slices.ContainsFunc(kinds[:i], func(o CustomKind) bool { return o.Name == k.Name }):
			return fmt.Errorf("identity kind %q is declared twice", k.Name)
		case k.Pattern == nil:
			return fmt.Errorf("identity kind %q needs a pattern", k.Name)
		}
	}
	return nil
}

// KnownKinds lists the built-in kinds, then the declared ones.
func KnownKinds() []IdentityKind {
	out := slices.Clone(IdentityKinds)
	if p := customKinds.Load(); p != nil {
		for _, k := range *p {
			out = append(out, k.Name)
		}
	}
	return out
}

func customKind(kind IdentityKind) (CustomKind, bool) {
	if p := customKinds.Load(); p != nil {
		for _, k := range *p {
			if k.Name == kind {
				return k, true
			}
		}
	}
	return CustomKind{}, false
}

func (k CustomKind) normalize(raw string) (string, error) {
	v := strings.TrimSpace(raw)
	if k.Uppercase {
		v = strings.ToUpper(v)
	}
	if v == "" {
		return "", fmt.Errorf("is empty")
	}
	if len(v) > 128 {
		return "", fmt.Errorf("is longer than 128 bytes")
	}
	if err := printableOnly(v); err != nil {
		return "", err
	}
	if !k.Pattern.MatchString(v) {
		return "", fmt.Errorf("does not have the form the data map declares for %s", k.Name)
	}
	return v, nil
}

// AnchoredPattern compiles a kind's pattern so that it must match the
// whole value: "L[0-9]{8}" must not accept "xL12345678y".
func AnchoredPattern(pattern string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + pattern + `)$`)
}
