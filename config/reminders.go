package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dsrengine/dsr/domain"
)

// Reminders is the data map's reminder policy, with durations written as
// "7d", "36h" or "90m".
type Reminders struct {
	Halfway       bool     `yaml:"halfway"`
	Before        []string `yaml:"before"`
	EscalateEvery string   `yaml:"escalate_every"`
	// CloseUnverifiedAfter is how long after its receipt a request whose
	// subject was not verified is closed (default 30d).
	CloseUnverifiedAfter string `yaml:"close_unverified_after"`
}

func (f *File) validateReminders() error {
	_, err := f.ReminderPolicy()
	return err
}

// ReminderPolicy is the policy the map sets, or the default.
func (f *File) ReminderPolicy() (domain.ReminderPolicy, error) {
	if f.Reminders == nil {
		return domain.DefaultReminders(), nil
	}
	fail := func(field string, err error) error {
		return &Error{File: f.path, Field: "reminders." + field, Msg: err.Error()}
	}
	p := domain.ReminderPolicy{Halfway: f.Reminders.Halfway}
	for i, b := range f.Reminders.Before {
		d, err := parseDuration(b)
		if err != nil {
			return p, fail(fmt.Sprintf("before[%d]", i), err)
		}
		p.Before = append(p.Before, d)
	}
	every, err := parseDuration(f.Reminders.EscalateEvery)
	if err != nil {
		return p, fail("escalate_every", err)
	}
	p.EscalateEvery = every
	if f.Reminders.CloseUnverifiedAfter != "" {
		if p.CloseUnverifiedAfter, err = parseDuration(f.Reminders.CloseUnverifiedAfter); err != nil {
			return p, fail("close_unverified_after", err)
		}
	}
	if err := p.Validate(); err != nil {
		var fe *domain.FieldError
		if errors.As(err, &fe) {
			return p, &Error{File: f.path, Field: fe.Field, Msg: fe.Reason}
		}
		return p, err
	}
	return p, nil
}

// ParseDuration reads "7d" as seven days, and anything else as a Go
// duration ("36h", "90m"), as the data map writes durations.
func ParseDuration(s string) (time.Duration, error) { return parseDuration(s) }

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("is missing; write a duration such as 7d, 36h or 90m")
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a whole number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 7d, 36h or 90m", s)
	}
	return d, nil
}
