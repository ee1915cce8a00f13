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

// Erasure is what happens after an erasure completes:
//
//	erasure: {evidence_hold: 30d}
type Erasure struct {
	// EvidenceHold is how long the engine keeps what it holds of an erased
	// subject (readable, for an auditor or a dispute) before destroying
	// the subject's data key; absent means no hold.
	EvidenceHold string `yaml:"evidence_hold"`
}

// EvidenceHold is the hold the map sets, or none.
func (f *File) EvidenceHold() (time.Duration, error) {
	if f.Erasure == nil || f.Erasure.EvidenceHold == "" {
		return 0, nil
	}
	fail := func(msg string) error {
		return &Error{File: f.path, Line: f.lineOf("erasure.evidence_hold", 0), Field: "erasure.evidence_hold", Msg: msg}
	}
	d, err := parseDuration(f.Erasure.EvidenceHold)
	if err != nil {
		return 0, fail(err.Error())
	}
	if d > maxEvidenceHold {
		return 0, fail(fmt.Sprintf("%q is longer than 6 years: erased people's data is not kept for ever", f.Erasure.EvidenceHold))
	}
	return d, nil
}

const maxEvidenceHold = 6 * 366 * 24 * time.Hour
