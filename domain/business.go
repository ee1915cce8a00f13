package domain

import "time"

// Business days are counted for deadlines the CCPA regulations set in
// them (an opt-out of sale or sharing is honoured within 15 business days,
// §7026(f)): Monday to Friday, less the US federal holidays (5 U.S.C.
// §6103), each moved to the Friday before or the Monday after when it
// falls on a weekend, as federal offices observe them. Computed from the
// rules, so any year is known without a table to keep up to date.

// USFederalHoliday names the federal holiday observed on date's calendar
// day, if any.
func USFederalHoliday(date time.Time) (string, bool) {
	y, m, d := date.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	// New Year's Day of the next year is observed on 31 December when it
	// falls on a Saturday.
	for _, year := range []int{y, y + 1} {
		for _, h := range holidays(year) {
			if h.observed.Equal(day) {
				return h.name, true
			}
		}
	}
	return "", false
}

type holiday struct {
	name     string
	observed time.Time
}

func holidays(y int) []holiday {
	fixed := func(name string, m time.Month, d int) holiday {
		t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		switch t.Weekday() {
		case time.Saturday:
			t = t.AddDate(0, 0, -1)
		case time.Sunday:
			t = t.AddDate(0, 0, 1)
		}
		return holiday{name, t}
	}
	// nth is the n-th weekday wd of month m; n < 0 counts from the end.
	nth := func(name string, m time.Month, wd time.Weekday, n int) holiday {
		if n < 0 {
			last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC)
			return holiday{name, last.AddDate(0, 0, -((int(last.Weekday()) - int(wd) + 7) % 7))}
		}
		first := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		return holiday{name, first.AddDate(0, 0, (int(wd)-int(first.Weekday())+7)%7+7*(n-1))}
	}
	return []holiday{
		fixed("New Year's Day", time.January, 1),
		nth("Birthday of Martin Luther King, Jr.", time.January, time.Monday, 3),
		nth("Washington's Birthday", time.February, time.Monday, 3),
		nth("Memorial Day", time.May, time.Monday, -1),
		fixed("Juneteenth National Independence Day", time.June, 19),
		fixed("Independence Day", time.July, 4),
		nth("Labor Day", time.September, time.Monday, 1),
		nth("Columbus Day", time.October, time.Monday, 2),
		fixed("Veterans Day", time.November, 11),
		nth("Thanksgiving Day", time.November, time.Thursday, 4),
		fixed("Christmas Day", time.December, 25),
	}
}

// BusinessDay says whether date's calendar day is a US business day.
func BusinessDay(date time.Time) bool {
	if wd := date.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	_, holiday := USFederalHoliday(date)
	return !holiday
}

// AddBusinessDays is the end of the n-th business day after t's calendar
// day, in t's time zone: the day of receipt is not counted, as with
// calendar days.
func AddBusinessDays(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	day := time.Date(y, m, d, 12, 0, 0, 0, t.Location()) // noon: no daylight-saving edge
	for n > 0 {
		day = day.AddDate(0, 0, 1)
		if BusinessDay(day) {
			n--
		}
	}
	return endOfDay(day)
}
