package config

import (
	"strings"
	"testing"
)

// rightsBase is a map whose systems the rights act on; each case below
// changes one line of it.
const rightsBase = `departments:
  - {name: Marketing, approvers: [m@acme.example]}
purpose_kinds:
  marketing: [newsletter]
  sharing: [ad-audiences]
systems:
  - name: mailing
    department: Marketing
    connector: sql
    sql: {driver: postgres, dsn_env: MAILING_DSN}
    purposes: [newsletter, ad-audiences]
    legal_basis: consent
    sold_or_shared: true
    retention: until withdrawn
    tables:
      - name: subscribers
        primary_key: id
        identity: {email: email}
        erase: delete
        consent: {newsletter: newsletter_ok, ad-audiences: share_ok}
        correct: {email: email}
        restriction: {all: restricted}
`

func TestPurposeKindsAndRights(t *testing.T) {
	f, err := Parse("acme.yaml", []byte(rightsBase))
	if err != nil {
		t.Fatal(err)
	}
	if k := f.KindsOf([]string{"newsletter", "ad-audiences", "other"}); strings.Join(k["newsletter"], ",") != "marketing" || strings.Join(k["ad-audiences"], ",") != "sharing" || len(k["other"]) != 0 {
		t.Fatalf("kinds: %v", k)
	}
	tests := []struct {
		name, from, to, want string
	}{
		{"unknown kind", "  sharing: [ad-audiences]", "  sharing: [ad-audiences]\n  profiling: [newsletter]", `acme.yaml:6: purpose_kinds.profiling: "profiling" must be one of marketing, sale, sharing, sensitive`},
		{"unknown purpose", "marketing: [newsletter]", "marketing: [newsleter]", `acme.yaml:4: purpose_kinds.marketing: "newsleter" is not a purpose of any system`},
		{"sells without a sale purpose", "  sharing: [ad-audiences]\n", "", `acme.yaml:12: systems[0].sold_or_shared: a system that sells or shares data lists the purpose`},
		{"a sharing purpose, not sold or shared", "sold_or_shared: true", "sold_or_shared: false", `acme.yaml:13: systems[0].sold_or_shared: purpose "ad-audiences" is sharing, so this system sells or shares data`},
		{"a kind without consent", "consent: {newsletter: newsletter_ok, ad-audiences: share_ok}", "consent: {ad-audiences: share_ok}", `systems[0].purposes: purpose "newsletter" is marketing, so a right withdraws it, but no table or object of this system records consent to it`},
		{"restriction of an unknown purpose", "restriction: {all: restricted}", "restriction: {billing: restricted}", `systems[0].tables[0].restriction.billing: purpose "billing" is not among the system's purposes (or all)`},
		{"correct a key column", "correct: {email: email}", "correct: {id: id}", `systems[0].tables[0].correct.id: "id" is a key or link column`},
		{"correct a hostile column", "correct: {email: email}", `correct: {email: "email; DROP TABLE x"}`, `systems[0].tables[0].correct.email: "email; DROP TABLE x" is not a plain column name`},
		{"correct a bad field name", "correct: {email: email}", "correct: {E-Mail: email}", `systems[0].tables[0].correct.E-Mail: "E-Mail" must be a field name`},
		{"signoff for opt-out", "retention: until withdrawn", "retention: until withdrawn\n    signoff_for: [opt_out]", `systems[0].signoff_for[0]: "opt_out" must be one of access, portability, opt_in, withdrawal, restriction`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(rightsBase, tt.from, tt.to, 1)
			if y == rightsBase {
				t.Fatalf("%q is not in the base map", tt.from)
			}
			_, err := Parse("acme.yaml", []byte(y))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}
