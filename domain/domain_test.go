package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDueAt(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		reg      Regulation
		received time.Time
		want     string
	}{
		{"gdpr mid month", GDPR, date("2026-03-10 09:00"), "2026-04-10"},
		{"gdpr 31 jan to end of feb", GDPR, date("2026-01-31 12:00"), "2026-02-28"},
		{"gdpr 31 jan leap year", GDPR, date("2028-01-31 12:00"), "2028-02-29"},
		{"gdpr 30 jan to end of feb", GDPR, date("2026-01-30 12:00"), "2026-02-28"},
		{"gdpr 31 mar to 30 apr", GDPR, date("2026-03-31 00:00"), "2026-04-30"},
		{"gdpr over new year", GDPR, date("2026-12-15 08:00"), "2027-01-15"},
		{"uk gdpr like gdpr", UKGDPR, date("2026-01-31 12:00"), "2026-02-28"},
		{"ccpa 45 days", CCPA, date("2026-01-01 10:00"), "2026-02-15"},
		{"ccpa crosses feb", CCPA, date("2026-02-10 10:00"), "2026-03-27"},
		{"lgpd 15 days", LGPD, date("2026-06-20 10:00"), "2026-07-05"},
		{"counted in receipt zone", GDPR, time.Date(2026, 1, 31, 0, 30, 0, 0, berlin), "2026-02-28"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DueAt(tt.reg, tt.received)
			if d := got.Format("2006-01-02"); d != tt.want {
				t.Fatalf("DueAt = %s, want %s", d, tt.want)
			}
			if h, m, s := got.Clock(); h != 23 || m != 59 || s != 59 {
				t.Fatalf("deadline should end with its day, got %s", got)
			}
			if got.Location() != tt.received.Location() {
				t.Fatalf("deadline zone %s, want %s", got.Location(), tt.received.Location())
			}
		})
	}
}

func TestExtendedDueAt(t *testing.T) {
	jan31 := date("2026-01-31 12:00")
	tests := []struct {
		name    string
		reg     Regulation
		granted []Extension
		by      Period
		want    string // date, or error substring after "!"
	}{
		{"gdpr two months from receipt", GDPR, nil, Period{Months: 2}, "2026-04-30"},
		{"gdpr one then one", GDPR, []Extension{{By: Period{Months: 1}}}, Period{Months: 1}, "2026-04-30"},
		{"gdpr one month", GDPR, nil, Period{Months: 1}, "2026-03-31"},
		{"gdpr beyond two months", GDPR, nil, Period{Months: 3}, "!at most 2 months"},
		{"gdpr total beyond two", GDPR, []Extension{{By: Period{Months: 2}}}, Period{Months: 1}, "!at most 2 months"},
		{"gdpr in days refused", GDPR, nil, Period{Days: 10}, "!counted in months"},
		{"uk gdpr like gdpr", UKGDPR, nil, Period{Months: 2}, "2026-04-30"},
		{"ccpa once by 45", CCPA, nil, Period{Days: 45}, "2026-05-01"},
		{"ccpa second refused", CCPA, []Extension{{By: Period{Days: 10}}}, Period{Days: 10}, "!allows 1 extension(s)"},
		{"ccpa beyond 45", CCPA, nil, Period{Days: 46}, "!at most 45 days"},
		{"lgpd none", LGPD, nil, Period{Days: 1}, "!does not allow"},
		{"zero refused", GDPR, nil, Period{}, "!positive"},
		{"negative refused", CCPA, nil, Period{Days: -3}, "!positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExtendedDueAt(tt.reg, jan31, tt.granted, tt.by)
			if want, ok := strings.CutPrefix(tt.want, "!"); ok {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "extension" || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want extension error containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := got.Format("2006-01-02"); d != tt.want {
				t.Fatalf("extended due = %s, want %s", d, tt.want)
			}
		})
	}
}

func TestDaysLeft(t *testing.T) {
	due := DueAt(GDPR, date("2026-01-31 12:00")) // 2026-02-28 23:59:59
	tests := []struct {
		now  string
		want int
	}{
		{"2026-01-31 12:00", 28},
		{"2026-02-27 23:00", 1},
		{"2026-02-28 00:00", 0},
		{"2026-02-28 23:59", 0},
		{"2026-03-01 00:00", -1},
		{"2026-03-10 00:00", -10},
	}
	for _, tt := range tests {
		if got := DaysLeft(due, date(tt.now)); got != tt.want {
			t.Errorf("DaysLeft(now=%s) = %d, want %d", tt.now, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	types := map[string]RequestType{"access": Access, " Portability ": Portability, "erasure": Erasure, "opt-in": OptIn, "consent-withdrawal": Withdrawal, "withdrawal": Withdrawal}
	for in, want := range types {
		if got, err := ParseRequestType(in); err != nil || got != want {
			t.Errorf("ParseRequestType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	regs := map[string]Regulation{"GDPR": GDPR, "uk-gdpr": UKGDPR, "cpra": CCPA, "CCPA": CCPA, "lgpd": LGPD}
	for in, want := range regs {
		if got, err := ParseRegulation(in); err != nil || got != want {
			t.Errorf("ParseRegulation(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseRequestType("delete-everything"); err == nil || !strings.Contains(err.Error(), "type \"delete-everything\": must be one of access") {
		t.Errorf("bad type error = %v", err)
	}
	if _, err := ParseRegulation("hipaa"); err == nil || !strings.Contains(err.Error(), "regulation \"hipaa\"") {
		t.Errorf("bad regulation error = %v", err)
	}
}

func TestNewIdentity(t *testing.T) {
	tests := []struct {
		kind IdentityKind
		raw  string
		want string // normalized, or error substring after "!"
	}{
		{Email, "  Jane.Doe@Example.COM ", "jane.doe@example.com"},
		{Email, "jane+news@example.co.uk", "jane+news@example.co.uk"},
		{Email, "", "!email: is empty"},
		{Email, "jane", "!email: is not a plain address"},
		{Email, "Jane <jane@example.com>", "!email: is not a plain address"},
		{Email, "jane@localhost", "!email: domain must be a dotted host name"},
		{Email, "jane@example.com\x00' OR 1=1 --", "!email: contains an invisible or control character"},
		{Email, "ja\u200bne@example.com", "!email: contains an invisible or control character (U+200B)"},
		{Email, "jane@example.com,eve@example.com", "!email: is not a plain address"},
		{Phone, "+44 20 7946 0958", "+442079460958"},
		{Phone, "0044 (20) 7946-0958", "+442079460958"},
		{Phone, "+1.415.555.0100", "+14155550100"},
		{Phone, "020 7946 0958", "!phone: must be in international form"},
		{Phone, "+44 20 7946 0958 ext 2", "!phone: may contain only digits"},
		{Phone, "+123", "!phone: must have 8 to 15 digits"},
		{Phone, "+0123456789", "!phone: country code cannot start with 0"},
		{CustomerID, " C-1001 ", "C-1001"},
		{CustomerID, "'; DROP TABLE customers; --", "'; DROP TABLE customers; --"},
		{CustomerID, "\t", "!customer_id: is empty"},
		{CustomerID, strings.Repeat("x", 129), "!customer_id: is longer than 128 bytes"},
		{CustomerID, "C-10\u202e01", "!customer_id: contains an invisible or control character (U+202E)"},
		{"ssn", "123", "!identity kind \"ssn\": must be one of email, phone, customer_id"},
	}
	for _, tt := range tests {
		got, err := NewIdentity(tt.kind, tt.raw)
		if want, ok := strings.CutPrefix(tt.want, "!"); ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("NewIdentity(%s, %q) err = %v, want %q", tt.kind, tt.raw, err, want)
			}
			if err != nil && strings.TrimSpace(tt.raw) != "" && tt.kind != "ssn" && strings.Contains(err.Error(), strings.TrimSpace(tt.raw)) {
				t.Errorf("error %q echoes the personal value", err)
			}
			continue
		}
		if err != nil || got.Value != tt.want || got.Kind != tt.kind {
			t.Errorf("NewIdentity(%s, %q) = %+v, %v; want %q", tt.kind, tt.raw, got, err, tt.want)
		}
		if strings.Contains(got.String(), got.Value) {
			t.Errorf("Identity.String() leaks the value: %s", got)
		}
	}
}

func TestValidateRequestID(t *testing.T) {
	for _, ok := range []string{"REQ-2026-0001", "a", "ticket_42.v2"} {
		if err := ValidateRequestID(ok); err != nil {
			t.Errorf("ValidateRequestID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "jane@example.com", "has space", "-leading", strings.Repeat("x", 65), "x/../y"} {
		if err := ValidateRequestID(bad); err == nil {
			t.Errorf("ValidateRequestID(%q) accepted", bad)
		}
	}
}

func TestNextAlert(t *testing.T) {
	p := DefaultReminders()
	received := date("2026-01-01 00:00")
	due := date("2026-01-31 00:00") // 30 days
	tests := []struct {
		after string
		want  string
		kind  AlertKind
	}{
		{"2026-01-01 00:00", "2026-01-16 00:00", Reminder},   // halfway
		{"2026-01-16 00:00", "2026-01-24 00:00", Reminder},   // one week before
		{"2026-01-24 00:00", "2026-01-30 00:00", Reminder},   // one day before
		{"2026-01-30 00:00", "2026-01-31 00:00", Escalation}, // the deadline
		{"2026-01-31 00:00", "2026-02-01 00:00", Escalation}, // then daily
		{"2026-02-03 12:00", "2026-02-04 00:00", Escalation},
	}
	for _, tt := range tests {
		got, kind := p.NextAlert(received, due, date(tt.after))
		if got.Format("2006-01-02 15:04") != tt.want || kind != tt.kind {
			t.Errorf("NextAlert(after %s) = %s %s, want %s %s", tt.after, got.Format("2006-01-02 15:04"), kind, tt.want, tt.kind)
		}
	}
	// A short deadline skips reminders that would fall before receipt.
	short := date("2026-01-03 00:00")
	if got, kind := p.NextAlert(received, short, received); kind != Reminder || got != date("2026-01-02 00:00") {
		t.Errorf("short deadline: %s %s", got, kind)
	}
	if err := (ReminderPolicy{EscalateEvery: time.Minute}).Validate(); err == nil || !strings.Contains(err.Error(), "reminders.escalate_every") {
		t.Errorf("tiny escalation interval accepted: %v", err)
	}
	if err := (ReminderPolicy{EscalateEvery: time.Hour, Before: []time.Duration{-time.Hour}}).Validate(); err == nil || !strings.Contains(err.Error(), "reminders.before[0]") {
		t.Errorf("negative reminder accepted: %v", err)
	}
}
