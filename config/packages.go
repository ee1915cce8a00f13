package config

import (
	"fmt"
	"time"

	"github.com/dsrengine/dsr/domain"
)

// Packages says how long a subject's access package may be downloaded,
// and how many times:
//
//	packages: {expire_after: 30d, downloads: 5}
type Packages struct {
	ExpireAfter string `yaml:"expire_after"`
	Downloads   int    `yaml:"downloads"`
}

// maxPackageLife bounds expire_after: a package is personal data at rest,
// kept only for the subject to fetch it.
const maxPackageLife = 365 * 24 * time.Hour

// PackagePolicy is the policy the map sets, or the default.
func (f *File) PackagePolicy() (domain.PackagePolicy, error) {
	p := domain.DefaultPackages()
	if f.Packages == nil {
		return p, nil
	}
	fail := func(field, msg string) error {
		return &Error{File: f.path, Line: f.lineOf("packages."+field, 0), Field: "packages." + field, Msg: msg}
	}
	if f.Packages.ExpireAfter != "" {
		d, err := parseDuration(f.Packages.ExpireAfter)
		if err != nil {
			return p, fail("expire_after", err.Error())
		}
		if d < time.Hour || d > maxPackageLife {
			return p, fail("expire_after", fmt.Sprintf("%q must be between 1h and 365d", f.Packages.ExpireAfter))
		}
		p.ExpireAfter = d
	}
	switch {
	case f.Packages.Downloads < 0 || f.Packages.Downloads > 100:
		return p, fail("downloads", fmt.Sprintf("%d must be between 1 and 100", f.Packages.Downloads))
	case f.Packages.Downloads > 0:
		p.Downloads = f.Packages.Downloads
	}
	return p, nil
}
