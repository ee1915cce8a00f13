package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dsrengine/dsr/domain"
)

// CustomKinds compiles the map's own identity kinds for
// domain.DeclareKinds: names that are not built in, patterns that compile.
func (f *File) CustomKinds() ([]domain.CustomKind, error) {
	var out []domain.CustomKind
	for i, k := range f.IdentityKinds {
		field := fmt.Sprintf("identity_kinds[%d]", i)
		fail := func(sub, format string, args ...any) error {
			return &Error{File: f.path, Line: f.lineOf(field+sub, 0), Field: field + sub, Msg: fmt.Sprintf(format, args...)}
		}
		ck, err := k.Compile()
		if err != nil {
			return nil, fail(".pattern", "%v", err)
		}
		out = append(out, ck)
		if err := domain.CheckKinds(out); err != nil {
			return nil, fail(".name", "%v", err)
		}
	}
	return out, nil
}

// knownKind says whether kind is built in or declared by the map.
func (f *File) knownKind(kind string) bool {
	return slices.Contains(domain.IdentityKinds, domain.IdentityKind(kind)) ||
		slices.ContainsFunc(f.IdentityKinds, func(k domain.KindSpec) bool { return k.Name == kind })
}

// kinds lists the built-in kinds, then the map's.
func (f *File) kinds() []string {
	var out []string
	for _, k := range domain.IdentityKinds {
		out = append(out, string(k))
	}
	for _, k := range f.IdentityKinds {
		out = append(out, k.Name)
	}
	return out
}

func (f *File) kindNames() string { return strings.Join(f.kinds(), ", ") }
