package domain

import (
	"strings"
	"testing"
	"time"
)

// The CCPA's opt-out and limit are due in 15 business days; every other
// right keeps its regulation's calendar deadline and extensions.
func TestDueForRights(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		typ      RequestType
		reg      Regulation
		received time.Time
		want     string
	}{
		{"opt-out over Thanksgiving", OptOut, CCPA, time.Date(2026, 11, 23, 9, 0, 0, 0, la), "2026-12-15"},
		{"limit over Christmas and New Year", LimitSensitive, CCPA, time.Date(2026, 12, 18, 16, 0, 0, 0, la), "2027-01-12"},
		{"opt-out received on a Saturday", OptOut, CCPA, time.Date(2026, 6, 27, 10, 0, 0, 0, la), "2026-07-20"},
		{"CPRA correction 45 days", Rectification, CCPA, time.Date(2026, 1, 1, 10, 0, 0, 0, la), "2026-02-15"},
		{"GDPR rectification one month", Rectification, GDPR, date("2026-01-31 12:00"), "2026-02-28"},
		{"GDPR restriction one month", Restriction, GDPR, date("2026-03-10 09:00"), "2026-04-10"},
		{"LGPD objection 15 days", Objection, LGPD, date("2026-06-20 10:00"), "2026-07-05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DueFor(tt.typ, tt.reg, tt.received)
			if d := got.Format(time.DateOnly); d != tt.want {
				t.Fatalf("DueFor = %s, want %s", d, tt.want)
			}
			if h, m, _ := got.Clock(); h != 23 || m != 59 || got.Location() != tt.received.Location() {
				t.Fatalf("deadline %s should end its day in the receipt's zone", got)
			}
		})
	}

	// A correction may be extended once by 45 days; an opt-out not at all.
	jan1 := time.Date(2026, 1, 1, 10, 0, 0, 0, la)
	due, err := ExtendedDueFor(Rectification, CCPA, jan1, nil, Period{Days: 45})
	if err != nil || due.Format(time.DateOnly) != "2026-04-01" {
		t.Fatalf("correction extended: %s, %v", due, err)
	}
	if _, err := ExtendedDueFor(OptOut, CCPA, jan1, nil, Period{Days: 5}); err == nil || !strings.Contains(err.Error(), "15 business days") {
		t.Fatalf("opt-out extension: %v", err)
	}
}

func TestRightsInputIsChecked(t *testing.T) {
	at := date("2026-03-10 09:00")
	base := func(typ RequestType, reg Regulation) Request {
		return Request{RequestID: "R-1", Type: typ, Regulation: reg, Identities: []Identity{{Kind: Email, Value: "jane@example.com"}},
			ReceivedAt: at, DueAt: DueFor(typ, reg, at), RequestedBy: "cli:test"}
	}
	secret := "jane.new@example.com"
	tests := []struct {
		name string
		req  func() Request
		want string // "" means valid
	}{
		{"correction", func() Request {
			r := base(Rectification, GDPR)
			r.Corrections = []Correction{{Field: "email", Value: secret, Evidence: "mail from the new address"}}
			return r
		}, ""},
		{"correction without any", func() Request { return base(Rectification, GDPR) }, "corrections: a rectification names at least one field"},
		{"correction of a field twice", func() Request {
			r := base(Rectification, CCPA)
			r.DueAt = DueFor(Rectification, CCPA, at)
			r.Corrections = []Correction{{Field: "email", Value: secret}, {Field: "email", Value: "x@example.com"}}
			return r
		}, `corrections[1].field "email": is corrected twice`},
		{"correction with a control character, not echoed", func() Request {
			r := base(Rectification, GDPR)
			r.Corrections = []Correction{{Field: "name", Value: "Jane\u202eDoe"}}
			return r
		}, "corrections[0].value: holds a control or invisible formatting character"},
		{"correction of a bad field name", func() Request {
			r := base(Rectification, GDPR)
			r.Corrections = []Correction{{Field: "E-Mail", Value: secret}}
			return r
		}, `corrections[0].field "E-Mail"`},
		{"corrections on an access", func() Request {
			r := base(Access, GDPR)
			r.Corrections = []Correction{{Field: "email", Value: secret}}
			return r
		}, "corrections: only a rectification"},
		{"restriction", func() Request {
			r := base(Restriction, GDPR)
			r.Scope = &Scope{Purposes: []string{"newsletter"}, Grounds: "accuracy contested"}
			return r
		}, ""},
		{"restriction lifted", func() Request {
			r := base(Restriction, GDPR)
			r.Scope = &Scope{Purposes: []string{"all"}, Lift: true}
			return r
		}, ""},
		{"restriction without grounds", func() Request {
			r := base(Restriction, GDPR)
			r.Scope = &Scope{Purposes: []string{"newsletter"}}
			return r
		}, "scope.grounds: a restriction says why"},
		{"restriction of all and more", func() Request {
			r := base(Restriction, GDPR)
			r.Scope = &Scope{Purposes: []string{"all", "newsletter"}, Grounds: "unlawful"}
			return r
		}, `scope.purposes "all"`},
		{"restriction under the CCPA", func() Request {
			r := base(Restriction, CCPA)
			r.Scope = &Scope{Purposes: []string{"newsletter"}, Grounds: "x"}
			return r
		}, "the CCPA grants no restriction"},
		{"objection to direct marketing", func() Request {
			r := base(Objection, UKGDPR)
			r.DueAt = DueFor(Objection, UKGDPR, at)
			r.Scope = &Scope{DirectMarketing: true}
			return r
		}, ""},
		{"objection with no purposes or marketing", func() Request {
			r := base(Objection, GDPR)
			r.Scope = &Scope{Grounds: "I am a public figure"}
			return r
		}, "scope.purposes: an objection on other grounds names the purposes"},
		{"objection without grounds", func() Request {
			r := base(Objection, GDPR)
			r.Scope = &Scope{Purposes: []string{"site-analytics"}}
			return r
		}, "scope.grounds: an objection on other grounds gives"},
		{"lift on an objection", func() Request {
			r := base(Objection, GDPR)
			r.Scope = &Scope{DirectMarketing: true, Lift: true}
			return r
		}, "scope.lift: only a restriction"},
		{"opt-out", func() Request {
			r := base(OptOut, CCPA)
			r.Scope = &Scope{Channel: "Global Privacy Control"}
			return r
		}, ""},
		{"opt-out with the calendar deadline", func() Request {
			r := base(OptOut, CCPA)
			r.DueAt = DueAt(CCPA, at)
			r.Scope = &Scope{Channel: "web form"}
			return r
		}, "due_at"},
		{"opt-out without a channel", func() Request {
			r := base(OptOut, CCPA)
			r.Scope = &Scope{}
			return r
		}, "scope.channel: is required"},
		{"opt-out naming purposes", func() Request {
			r := base(LimitSensitive, CCPA)
			r.Scope = &Scope{Channel: "web form", Purposes: []string{"ads"}}
			return r
		}, "scope.purposes: the data map's purpose kinds"},
		{"opt-out under the GDPR", func() Request {
			r := base(OptOut, GDPR)
			r.Scope = &Scope{Channel: "web form"}
			return r
		}, "is a right under the CCPA, not gdpr"},
		{"opt-out without scope", func() Request { return base(OptOut, CCPA) }, "scope: an opt-out names the channel"},
		{"scope on an erasure", func() Request {
			r := base(Erasure, GDPR)
			r.Scope = &Scope{Channel: "web form"}
			return r
		}, "scope: only a restriction"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req().Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "jane"):
				t.Fatalf("the error repeats personal data: %v", err)
			}
		})
	}
}

func TestParseNewRequestTypes(t *testing.T) {
	for in, want := range map[string]RequestType{"correction": Rectification, "Rectification": Rectification, "restrict": Restriction,
		"objection": Objection, "opt-out": OptOut, "do-not-sell-or-share": OptOut, "limit-sensitive": LimitSensitive, "blocking": Restriction} {
		if got, err := ParseRequestType(in); err != nil || got != want {
			t.Errorf("ParseRequestType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
