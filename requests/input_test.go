package requests

import (
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/domain"
)

// TestNewInput: the one path from a front end's input to a request, with
// each front end's own field names in its errors.
func TestNewInput(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	cli := Names{Fields: map[string]string{"type": "--type", "received": "--received", "time_zone": "--tz", "identities": "--email or --phone", "id": "--id"},
		Identity: func(_ int, kind string) string { return "--" + kind }}
	api := Names{Fields: map[string]string{"received": "received_at"}, Identity: func(i int, kind string) string { return "identities[" + string(rune('0'+i)) + "]: " + kind }}
	valid := func() Form {
		return Form{Type: "erasure", Regulation: "gdpr", RequestedBy: "cli:test",
			Identities: []FormIdentity{{Kind: "email", Value: " Jane@Example.com "}, {Kind: "phone", Value: "+49 30 1234567"}}}
	}
	for _, tc := range []struct {
		name  string
		names Names
		edit  func(*Form)
		want  string
	}{
		{"no type", cli, func(f *Form) { f.Type = "" }, "--type: is required (access, portability, erasure, opt_in, withdrawal, rectification, restriction, objection, opt_out, limit_sensitive)"},
		{"bad type", api, func(f *Form) { f.Type = "delete" }, `type "delete": must be one of`},
		{"bad regulation", cli, func(f *Form) { f.Regulation = "hipaa" }, `regulation "hipaa": must be one of gdpr`},
		{"no identity", cli, func(f *Form) { f.Identities = nil }, "--email or --phone: at least one is required"},
		{"bad e-mail", api, func(f *Form) { f.Identities[1] = FormIdentity{Kind: "email", Value: "jane@localhost"} }, "identities[1]: email: domain must be a dotted host name"},
		{"unknown kind", api, func(f *Form) { f.Identities[0].Kind = "passport" }, `identities[0]: kind "passport": must be one of email, phone, customer_id`},
		{"hostile phone", cli, func(f *Form) { f.Identities[1].Value = "+49 30\u200b1234567" }, "--phone: may contain only digits"},
		{"bad zone", cli, func(f *Form) { f.TimeZone = "Mars/Olympus" }, `--tz "Mars/Olympus": unknown time zone`},
		{"bad receipt", api, func(f *Form) { f.Received = "31/01/2026" }, `received_at "31/01/2026": use YYYY-MM-DD or RFC 3339`},
		{"future receipt", cli, func(f *Form) { f.Received = "2026-03-11" }, `--received "2026-03-11": is in the future`},
		{"bad id", cli, func(f *Form) { f.ID = "a b" }, `--id "a b": must be 1-64 characters`},
		{"consent on erasure", api, func(f *Form) {
			f.Consent = &domain.ConsentChange{Purpose: "newsletter", Channel: "web", WordingVersion: "v1"}
		}, "consent: only opt-in and withdrawal"},
		{"no actor", api, func(f *Form) { f.RequestedBy = "" }, "requested_by: is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := valid()
			tc.edit(&f)
			_, err := NewInput(f, tc.names, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "jane") || strings.Contains(err.Error(), "1234567") {
				t.Fatalf("the error echoes an identity: %v", err)
			}
		})
	}

	// A letter that arrived on 31 January, counted in Berlin time.
	f := valid()
	f.Received, f.TimeZone, f.ID = "2026-01-31", "Europe/Berlin", "TICKET-1"
	in, err := NewInput(f, cli, now)
	if err != nil {
		t.Fatal(err)
	}
	if in.RequestID != "TICKET-1" || in.ReceivedAt.Format(time.RFC3339) != "2026-01-31T00:00:00+01:00" || in.DueAt.Format(time.RFC3339) != "2026-02-28T23:59:59+01:00" ||
		in.Identities[0].Value != "jane@example.com" || in.Identities[1].Kind != domain.Phone {
		t.Fatalf("input = %+v", in)
	}
	// Without a receipt or an id: now, and a generated id.
	in, err = NewInput(valid(), api, now)
	if err != nil || !in.ReceivedAt.Equal(now) || !strings.HasPrefix(in.RequestID, "REQ-20260310-") {
		t.Fatalf("defaults = %+v, %v", in, err)
	}
	// A controller's clock may run a little ahead.
	f = valid()
	f.Received = now.Add(30 * time.Second).Format(time.RFC3339)
	if _, err := NewInput(f, api, now); err != nil {
		t.Fatalf("30 s ahead: %v", err)
	}
}
