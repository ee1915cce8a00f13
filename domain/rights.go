package domain

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Correction is one change a rectification asks for: a field as the data
// map names it among a table's correctable fields ("email", "name"), its
// new value, and a reference to what the subject gave to show it (a
// document's number, "bank statement of 3 May"). The value is personal
// data: it travels only in encrypted payloads and is never echoed in an
// error.
type Correction struct {
	Field    string `json:"field"`
	Value    string `json:"value"`
	Evidence string `json:"evidence,omitempty"`
}

// Scope is what a restriction, an objection, an opt-out or a limit of
// sensitive data applies to, with the evidence a regulator asks for.
type Scope struct {
	// Purposes are the processing purposes, as the data map names them,
	// that a restriction or an objection on other grounds covers. "all"
	// restricts every purpose. An opt-out or a limit names none: the data
	// map's purpose kinds (sale, sharing, sensitive) say which.
	Purposes []string `json:"purposes,omitempty"`
	// DirectMarketing makes an objection the absolute one to direct
	// marketing (GDPR Art. 21(2)): every marketing purpose is withdrawn and
	// the subject is suppressed for marketing, with no decision to take.
	DirectMarketing bool `json:"direct_marketing,omitempty"`
	// Grounds are the subject's reasons: for a restriction, which case of
	// Art. 18(1) applies (accuracy contested, unlawful processing, needed
	// for a legal claim, objection pending); for an objection on other
	// grounds, their particular situation, which the departments weigh.
	Grounds string `json:"grounds,omitempty"`
	// Lift ends the subject's restriction of the purposes named.
	Lift bool `json:"lift,omitempty"`
	// Channel is where the subject asked: "web form", "Global Privacy
	// Control", "phone". Required for an opt-out or a limit, which are
	// recorded in the consent ledger like a withdrawal.
	Channel string `json:"channel,omitempty"`
}

// AllPurposes in a restriction's purposes restricts every purpose.
const AllPurposes = "all"

// MaxCorrections bounds one rectification; a longer list is several requests.
const MaxCorrections = 32

// Scoped says whether a request of this kind carries a Scope.
func (t RequestType) Scoped() bool {
	return t == Restriction || t == Objection || t == OptOut || t == LimitSensitive
}

// WithoutVerification says whether the law forbids asking the subject to
// prove who they are: the CCPA's opt-out and limit (regulations §7026(d),
// §7027(e)), which are also the rights it gives 15 business days.
func (t RequestType) WithoutVerification() bool { return t == OptOut || t == LimitSensitive }

// Allowed says whether a regulation grants the right: the CCPA has no
// restriction or objection (its equivalents are opt_out and
// limit_sensitive), and only the CCPA has those two.
func (t RequestType) Allowed(reg Regulation) error {
	switch {
	case (t == Restriction || t == Objection) && reg == CCPA:
		return &FieldError{Field: "type", Value: string(t), Reason: "the CCPA grants no " + string(t) + "; use opt_out (sale and sharing) or limit_sensitive"}
	case t.WithoutVerification() && reg != CCPA:
		return &FieldError{Field: "type", Value: string(t), Reason: fmt.Sprintf("is a right under the CCPA, not %s; use objection (direct marketing) or restriction", reg)}
	}
	return nil
}

// validateRight checks the payload of the request types that carry
// corrections or a scope: each carries its own, and no other type does.
func (r Request) validateRight() error {
	if err := r.Type.Allowed(r.Regulation); err != nil {
		return err
	}
	switch {
	case r.Type == Rectification:
		if r.Scope != nil {
			return &FieldError{Field: "scope", Reason: "a rectification carries corrections, not a scope"}
		}
		return validateCorrections(r.Corrections)
	case len(r.Corrections) > 0:
		return &FieldError{Field: "corrections", Reason: "only a rectification carries corrections"}
	case r.Type.Scoped():
		if r.Scope == nil {
			return &FieldError{Field: "scope", Reason: scopeNeeds[r.Type]}
		}
		return r.Scope.validate(r.Type)
	case r.Scope != nil:
		return &FieldError{Field: "scope", Reason: "only a restriction, objection, opt-out or limit carries a scope"}
	}
	return nil
}

var scopeNeeds = map[RequestType]string{
	Restriction:    "a restriction names the purposes it covers and the grounds (or lift)",
	Objection:      "an objection is to direct marketing, or names the purposes and the subject's grounds",
	OptOut:         "an opt-out names the channel it came through (web form, Global Privacy Control, …)",
	LimitSensitive: "a limit names the channel it came through (web form, phone, …)",
}

func validateCorrections(cs []Correction) error {
	if len(cs) == 0 {
		return &FieldError{Field: "corrections", Reason: "a rectification names at least one field and its new value"}
	}
	if len(cs) > MaxCorrections {
		return &FieldError{Field: "corrections", Reason: fmt.Sprintf("at most %d in one request", MaxCorrections)}
	}
	for i, c := range cs {
		field := fmt.Sprintf("corrections[%d]", i)
		if !purposePattern.MatchString(c.Field) {
			return &FieldError{Field: field + ".field", Value: c.Field, Reason: "must be a field name as the data map's correctable fields name it (lower-case letters, digits, '_' or '-')"}
		}
		if slices.ContainsFunc(cs[:i], func(o Correction) bool { return o.Field == c.Field }) {
			return &FieldError{Field: field + ".field", Value: c.Field, Reason: "is corrected twice in one request"}
		}
		if err := plainText(field+".value", c.Value, 1024, true); err != nil {
			return err
		}
		if err := plainText(field+".evidence", c.Evidence, 2048, false); err != nil {
			return err
		}
	}
	return nil
}

// plainText checks a value a person typed, without repeating it: trimmed,
// valid UTF-8, no control characters, at most max bytes.
func plainText(field, v string, max int, required bool) error {
	switch {
	case strings.TrimSpace(v) == "" && required:
		return &FieldError{Field: field, Reason: "is required"}
	case strings.TrimSpace(v) != v:
		return &FieldError{Field: field, Reason: "has spaces around it"}
	case !utf8.ValidString(v):
		return &FieldError{Field: field, Reason: "is not valid UTF-8"}
	case len(v) > max:
		return &FieldError{Field: field, Reason: fmt.Sprintf("is longer than %d bytes", max)}
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		return &FieldError{Field: field, Reason: "holds a control or invisible formatting character"}
	}
	return nil
}

func (s Scope) validate(t RequestType) error {
	for i, p := range s.Purposes {
		if !purposePattern.MatchString(p) {
			return &FieldError{Field: fmt.Sprintf("scope.purposes[%d]", i), Value: p, Reason: "must be a purpose name as in the data map (lower-case letters, digits, '_' or '-')"}
		}
		if slices.Contains(s.Purposes[:i], p) {
			return &FieldError{Field: fmt.Sprintf("scope.purposes[%d]", i), Value: p, Reason: "is named twice"}
		}
	}
	if err := plainText("scope.grounds", s.Grounds, 4096, false); err != nil {
		return err
	}
	if err := plainText("scope.channel", s.Channel, 128, false); err != nil {
		return err
	}
	if s.Lift && t != Restriction {
		return &FieldError{Field: "scope.lift", Reason: "only a restriction is lifted"}
	}
	if s.DirectMarketing && t != Objection {
		return &FieldError{Field: "scope.direct_marketing", Reason: "applies to an objection only"}
	}
	if slices.Contains(s.Purposes, AllPurposes) && (t != Restriction || len(s.Purposes) > 1) {
		return &FieldError{Field: "scope.purposes", Value: AllPurposes, Reason: "restricts every purpose: only a restriction names it, and alone"}
	}
	switch t {
	case Restriction:
		if len(s.Purposes) == 0 {
			return &FieldError{Field: "scope.purposes", Reason: "a restriction names the purposes it covers (or all)"}
		}
		if !s.Lift && s.Grounds == "" {
			return &FieldError{Field: "scope.grounds", Reason: "a restriction says why (GDPR Art. 18(1): accuracy contested, unlawful processing, needed for a legal claim, objection pending)"}
		}
	case Objection:
		switch {
		case s.DirectMarketing && len(s.Purposes) > 0:
			return &FieldError{Field: "scope.purposes", Reason: "an objection to direct marketing covers every marketing purpose; object to other purposes in a request of its own"}
		case !s.DirectMarketing && len(s.Purposes) == 0:
			return &FieldError{Field: "scope.purposes", Reason: "an objection on other grounds names the purposes it objects to (or is to direct marketing)"}
		case !s.DirectMarketing && s.Grounds == "":
			return &FieldError{Field: "scope.grounds", Reason: "an objection on other grounds gives the subject's particular situation, which the departments weigh"}
		}
	case OptOut, LimitSensitive:
		if len(s.Purposes) > 0 {
			return &FieldError{Field: "scope.purposes", Reason: "the data map's purpose kinds (sale, sharing, sensitive) say what an opt-out or limit covers"}
		}
		if s.Channel == "" {
			return &FieldError{Field: "scope.channel", Reason: "is required: where the subject opted out is evidence, as for a withdrawal of consent"}
		}
	}
	return nil
}
