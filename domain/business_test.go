package domain

import (
	"testing"
	"time"
	_ "time/tzdata" // the zone below, on a machine without the system's tz database
)

// TestUSFederalHolidays pins the observed holidays of 2026 and 2027 to
// their literal dates, weekend moves included (Independence Day 2026 and
// Christmas 2027 on a Saturday, observed the Friday before; New Year's Day
// 2028 on a Saturday, observed on 31 December 2027).
func TestUSFederalHolidays(t *testing.T) {
	want := map[string]string{
		"2026-01-01": "New Year's Day", "2026-01-19": "Birthday of Martin Luther King, Jr.", "2026-02-16": "Washington's Birthday",
		"2026-05-25": "Memorial Day", "2026-06-19": "Juneteenth National Independence Day", "2026-07-03": "Independence Day",
		"2026-09-07": "Labor Day", "2026-10-12": "Columbus Day", "2026-11-11": "Veterans Day", "2026-11-26": "Thanksgiving Day",
		"2026-12-25": "Christmas Day",
		"2027-01-01": "New Year's Day", "2027-01-18": "Birthday of Martin Luther King, Jr.", "2027-02-15": "Washington's Birthday",
		"2027-05-31": "Memorial Day", "2027-06-18": "Juneteenth National Independence Day", "2027-07-05": "Independence Day",
		"2027-09-06": "Labor Day", "2027-10-11": "Columbus Day", "2027-11-11": "Veterans Day", "2027-11-25": "Thanksgiving Day",
		"2027-12-24": "Christmas Day", "2027-12-31": "New Year's Day",
	}
	for d := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2028; d = d.AddDate(0, 0, 1) {
		name, ok := USFederalHoliday(d)
		if w := want[d.Format(time.DateOnly)]; name != w || ok != (w != "") {
			t.Errorf("%s: %q, want %q", d.Format(time.DateOnly), name, w)
		}
	}
	// The weekend days themselves are no holidays of their own.
	for _, d := range []string{"2026-07-04", "2027-12-25", "2028-01-01", "2027-06-19"} {
		if name, ok := USFederalHoliday(mustDate(t, d)); ok {
			t.Errorf("%s is a weekend day, observed elsewhere, not %q", d, name)
		}
	}
}

func mustDate(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestAddBusinessDays: 15 business days, skipping weekends and observed
// holidays, pinned to literal dates, in the time zone of receipt.
func TestAddBusinessDays(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		received time.Time
		n        int
		want     string
	}{
		// Christmas and New Year's Day, both Fridays.
		{time.Date(2026, 12, 18, 16, 30, 0, 0, la), 15, "2027-01-12"},
		// Independence Day 2026 observed on Friday 3 July.
		{time.Date(2026, 7, 1, 9, 0, 0, 0, la), 15, "2026-07-23"},
		// Thanksgiving.
		{time.Date(2026, 11, 23, 23, 59, 0, 0, la), 15, "2026-12-15"},
		// Received on a Saturday: counting starts on Monday.
		{time.Date(2026, 3, 7, 10, 0, 0, 0, la), 1, "2026-03-09"},
		// Across the change to daylight-saving time (8 March 2026).
		{time.Date(2026, 3, 6, 10, 0, 0, 0, la), 5, "2026-03-13"},
		{time.Date(2026, 3, 6, 10, 0, 0, 0, la), 0, "2026-03-06"},
	} {
		got := AddBusinessDays(tt.received, tt.n)
		if got.Format(time.DateOnly) != tt.want || got.Location() != la || got.Hour() != 23 || got.Minute() != 59 {
			t.Errorf("%s + %d business days = %s, want the end of %s", tt.received, tt.n, got, tt.want)
		}
	}
}
