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
//	erasure: {evidence_hold: 30d, resurrection_checks: [7d, 30d]}
type Erasure struct {
	// EvidenceHold is how long the engine keeps what it holds of an erased
	// subject (readable, for an auditor, a dispute or the checks) before
	// destroying the subject's data key; "0" means none.
	EvidenceHold string `yaml:"evidence_hold"`
	// ResurrectionChecks are when discovery runs again on the erased
	// systems, within the hold; [] means never.
	ResurrectionChecks *[]string `yaml:"resurrection_checks"`
}

// Aftercare is what the map sets after an erasure; absent, the default
// (a 30-day hold, checks at 7 and 30 days).
func (f *File) Aftercare() (domain.Aftercare, error) {
	p := domain.DefaultAftercare()
	if f.Erasure == nil {
		return p, nil
	}
	fail := func(field, msg string) error {
		return &Error{File: f.path, Line: f.lineOf("erasure."+field, 0), Field: "erasure." + field, Msg: msg}
	}
	if h := f.Erasure.EvidenceHold; h != "" {
		d, err := time.Duration(0), error(nil)
		if h != "0" {
			d, err = parseDuration(h)
		}
		if err != nil {
			return p, fail("evidence_hold", err.Error())
		}
		if d > maxEvidenceHold {
			return p, fail("evidence_hold", fmt.Sprintf("%q is longer than 6 years: erased people's data is not kept for ever", h))
		}
		p.Hold = d
	}
	if f.Erasure.ResurrectionChecks != nil {
		p.Checks = nil
		for i, c := range *f.Erasure.ResurrectionChecks {
			field := fmt.Sprintf("resurrection_checks[%d]", i)
			d, err := parseDuration(c)
			if err != nil {
				return p, fail(field, err.Error())
			}
			if len(p.Checks) > 0 && d <= p.Checks[len(p.Checks)-1] {
				return p, fail(field, fmt.Sprintf("%q must come after the check before it", c))
			}
			p.Checks = append(p.Checks, d)
		}
	}
	if n := len(p.Checks); n > 0 && p.Checks[n-1] > p.Hold {
		return p, fail("resurrection_checks", fmt.Sprintf("the last check (%s after the erasure) is after the evidence hold (%s): checks run while the subject's key is kept", days(p.Checks[n-1]), days(p.Hold)))
	}
	return p, nil
}

const maxEvidenceHold = 6 * 366 * 24 * time.Hour

// days writes a duration as the map does: "30d", or "36h0m0s" when not whole days.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
