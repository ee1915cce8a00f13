package domain

import (
	"fmt"
	"strings"
	"time"
)

// Regulation is the law under which a request is answered.
type Regulation string

const (
	GDPR   Regulation = "gdpr"
	UKGDPR Regulation = "uk_gdpr"
	CCPA   Regulation = "ccpa" // CCPA as amended by the CPRA
	LGPD   Regulation = "lgpd"
)

var Regulations = []Regulation{GDPR, UKGDPR, CCPA, LGPD}

// ParseRegulation accepts canonical names and common spellings ("UK-GDPR", "CPRA").
func ParseRegulation(s string) (Regulation, error) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	switch norm {
	case "cpra", "ccpa/cpra", "ccpa_cpra":
		norm = string(CCPA)
	case "ukgdpr", "uk":
		norm = string(UKGDPR)
	}
	for _, r := range Regulations {
		if string(r) == norm {
			return r, nil
		}
	}
	return "", &FieldError{Field: "regulation", Value: s, Reason: "must be one of " + JoinNames(Regulations)}
}

// Period is a legal time span. Months are calendar months, never 30 days.
// Business days are US business days (see AddBusinessDays); a period is
// counted in them or in calendar terms, never both.
type Period struct {
	Months       int `json:"months,omitempty"`
	Days         int `json:"days,omitempty"`
	BusinessDays int `json:"business_days,omitempty"`
}

func (p Period) String() string {
	switch {
	case p.BusinessDays == 1:
		return "1 business day"
	case p.BusinessDays != 0:
		return fmt.Sprintf("%d business days", p.BusinessDays)
	case p.Months != 0 && p.Days != 0:
		return fmt.Sprintf("%d months %d days", p.Months, p.Days)
	case p.Months == 1:
		return "1 month"
	case p.Months != 0:
		return fmt.Sprintf("%d months", p.Months)
	case p.Days == 1:
		return "1 day"
	default:
		return fmt.Sprintf("%d days", p.Days)
	}
}

func (p Period) add(q Period) Period {
	return Period{p.Months + q.Months, p.Days + q.Days, p.BusinessDays + q.BusinessDays}
}

// Rules are a regulation's response deadline and how far it may be extended.
type Rules struct {
	Response Period
	// MaxExtension is the most that all extensions together may add.
	MaxExtension Period
	// MaxExtensions is how many separate extensions are allowed.
	MaxExtensions int
}

// Rules gives the deadline rules: GDPR Art. 12(3) and UK GDPR one month,
// extendable by two further months; CCPA §1798.130(a)(2) 45 days, extendable
// once by 45; LGPD Art. 19(II) 15 days, no extension.
func (r Regulation) Rules() Rules {
	switch r {
	case GDPR, UKGDPR:
		return Rules{Response: Period{Months: 1}, MaxExtension: Period{Months: 2}, MaxExtensions: 2}
	case CCPA:
		return Rules{Response: Period{Days: 45}, MaxExtension: Period{Days: 45}, MaxExtensions: 1}
	case LGPD:
		return Rules{Response: Period{Days: 15}}
	}
	panic(fmt.Sprintf("domain: unknown regulation %q", string(r)))
}

// addPeriod adds calendar months and then days. A month added to a day that
// the target month lacks lands on that month's last day (31 January plus one
// month is 28 or 29 February), as in Regulation (EEC, Euratom) No 1182/71.
func addPeriod(t time.Time, p Period) time.Time {
	if p.BusinessDays != 0 {
		return AddBusinessDays(t, p.BusinessDays)
	}
	y, m, d := t.Date()
	target := time.Date(y, m+time.Month(p.Months), 1, 0, 0, 0, 0, t.Location())
	if last := daysIn(target.Year(), target.Month()); d > last {
		d = last
	}
	return time.Date(target.Year(), target.Month(), d, 0, 0, 0, 0, t.Location()).AddDate(0, 0, p.Days)
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// endOfDay is the last instant of t's calendar day: a deadline expires at
// the end of its last day, not at the hour the request arrived.
func endOfDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 23, 59, 59, 0, t.Location())
}

// RulesFor gives the deadline rules of one kind of request: the
// regulation's, except where a right has its own. The CCPA regulations
// give 15 business days, with no extension, to honour an opt-out of sale
// or sharing (§7026(f)) and a limit of sensitive data (§7027(g)).
func RulesFor(t RequestType, reg Regulation) Rules {
	if reg == CCPA && t.WithoutVerification() {
		return Rules{Response: Period{BusinessDays: 15}}
	}
	return reg.Rules()
}

// DueAt is the response deadline under a regulation's general rule for a
// request received at received, counted in received's time zone.
func DueAt(reg Regulation, received time.Time) time.Time {
	return endOfDay(addPeriod(received, reg.Rules().Response))
}

// DueFor is the response deadline of a request of kind t (see RulesFor).
func DueFor(t RequestType, reg Regulation, received time.Time) time.Time {
	return endOfDay(addPeriod(received, RulesFor(t, reg).Response))
}

// Extension is one extension already granted.
type Extension struct {
	By     Period `json:"by"`
	Reason string `json:"reason"`
}

// ExtendedDueAt checks that adding `by` to the extensions already granted
// stays within the regulation and returns the new deadline. The total is
// counted from receipt (one month plus two is three months from receipt), so
// the clamping at month ends never shortens the subject's or the company's time.
func ExtendedDueAt(reg Regulation, received time.Time, granted []Extension, by Period) (time.Time, error) {
	return ExtendedDueFor(Access, reg, received, granted, by)
}

// ExtendedDueFor is ExtendedDueAt for a request of kind t (see RulesFor).
func ExtendedDueFor(t RequestType, reg Regulation, received time.Time, granted []Extension, by Period) (time.Time, error) {
	rules := RulesFor(t, reg)
	if rules.MaxExtensions == 0 {
		if rules.Response.BusinessDays != 0 {
			return time.Time{}, &FieldError{Field: "extension", Reason: fmt.Sprintf("%s does not allow extending the deadline of %s (%s)", reg, t, rules.Response)}
		}
		return time.Time{}, &FieldError{Field: "extension", Reason: fmt.Sprintf("%s does not allow extending the deadline", reg)}
	}
	if by.Months < 0 || by.Days < 0 || by.BusinessDays != 0 || by == (Period{}) {
		return time.Time{}, &FieldError{Field: "extension", Value: by.String(), Reason: "must be a positive period"}
	}
	if (by.Months != 0 && rules.MaxExtension.Months == 0) || (by.Days != 0 && rules.MaxExtension.Days == 0) {
		return time.Time{}, &FieldError{Field: "extension", Value: by.String(), Reason: fmt.Sprintf("%s extensions are counted in %s", reg, unitOf(rules.MaxExtension))}
	}
	if len(granted) >= rules.MaxExtensions {
		return time.Time{}, &FieldError{Field: "extension", Reason: fmt.Sprintf("%s allows %d extension(s) and %d already granted", reg, rules.MaxExtensions, len(granted))}
	}
	total := by
	for _, e := range granted {
		total = total.add(e.By)
	}
	if total.Months > rules.MaxExtension.Months || total.Days > rules.MaxExtension.Days {
		return time.Time{}, &FieldError{Field: "extension", Value: by.String(), Reason: fmt.Sprintf("would extend by %s in total; %s allows at most %s", total, reg, rules.MaxExtension)}
	}
	return endOfDay(addPeriod(received, rules.Response.add(total))), nil
}

func unitOf(p Period) string {
	if p.Months != 0 {
		return "months"
	}
	return "days"
}

// DaysLeft counts calendar days from now's date to due's date, in due's time
// zone: 0 on the last day, negative once overdue.
func DaysLeft(due, now time.Time) int {
	now = now.In(due.Location())
	a := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	b := time.Date(due.Year(), due.Month(), due.Day(), 0, 0, 0, 0, time.UTC)
	return int(b.Sub(a).Hours() / 24)
}

// Law names the regulation as a subject reads it.
func (r Regulation) Law() string {
	switch r {
	case GDPR:
		return "the GDPR"
	case UKGDPR:
		return "the UK GDPR"
	case CCPA:
		return "the CCPA (as amended by the CPRA)"
	case LGPD:
		return "the LGPD"
	}
	return string(r)
}

// Authority says where a subject may complain under the regulation.
func (r Regulation) Authority() string {
	switch r {
	case UKGDPR:
		return "the Information Commissioner's Office (ico.org.uk)"
	case CCPA:
		return "the California Privacy Protection Agency (cppa.ca.gov) or the California Attorney General (oag.ca.gov/privacy)"
	case LGPD:
		return "the Autoridade Nacional de Proteção de Dados (ANPD, gov.br/anpd)"
	}
	return "the data protection supervisory authority of the EU country where you live, work or where you think your rights were infringed (Art. 77 GDPR)"
}
