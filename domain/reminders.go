package domain

import (
	"fmt"
	"time"
)

// ReminderPolicy says when the people who still owe work on a request are
// reminded, and how often compliance is escalated to once it is overdue.
type ReminderPolicy struct {
	// Halfway reminds when half the time to the deadline has passed.
	Halfway bool `json:"halfway"`
	// Before lists reminders as durations before the deadline.
	Before []time.Duration `json:"before"`
	// EscalateEvery repeats the escalation after the deadline until the request ends.
	EscalateEvery time.Duration `json:"escalate_every"`
	// CloseUnverifiedAfter closes a request whose subject was not verified
	// this long after its receipt, and tells the subject why (zero: 30
	// days, DefaultCloseUnverified).
	CloseUnverifiedAfter time.Duration `json:"close_unverified_after,omitempty"`
}

// DefaultCloseUnverified is how long a request waits for its subject's
// verification unless the policy says otherwise.
const DefaultCloseUnverified = 30 * 24 * time.Hour

// UnverifiedAfter is how long a request waits for verification.
func (p ReminderPolicy) UnverifiedAfter() time.Duration {
	if p.CloseUnverifiedAfter <= 0 {
		return DefaultCloseUnverified
	}
	return p.CloseUnverifiedAfter
}

// DefaultReminders: halfway, one week before, one day before; daily
// escalation once overdue.
func DefaultReminders() ReminderPolicy {
	return ReminderPolicy{Halfway: true, Before: []time.Duration{7 * 24 * time.Hour, 24 * time.Hour}, EscalateEvery: 24 * time.Hour}
}

// Validate refuses a policy that could never escalate or that reminds after the deadline.
func (p ReminderPolicy) Validate() error {
	if p.CloseUnverifiedAfter != 0 && p.CloseUnverifiedAfter < 24*time.Hour {
		return &FieldError{Field: "reminders.close_unverified_after", Value: p.CloseUnverifiedAfter.String(), Reason: "must be at least 1d: a subject needs time to answer"}
	}
	if p.EscalateEvery < time.Hour {
		return &FieldError{Field: "reminders.escalate_every", Value: p.EscalateEvery.String(), Reason: "must be at least 1h: an overdue request is escalated until it ends"}
	}
	for i, b := range p.Before {
		if b <= 0 {
			return &FieldError{Field: fmt.Sprintf("reminders.before[%d]", i), Value: b.String(), Reason: "must be a positive duration before the deadline"}
		}
	}
	return nil
}

// AlertKind distinguishes reminders before the deadline from escalations after it.
type AlertKind string

const (
	Reminder   AlertKind = "reminder"
	Escalation AlertKind = "escalation"
)

// NextAlert is the first reminder or escalation strictly after `after`, for
// a request received at received and due at due. Escalations never end, so
// there is always a next alert. Pure: workflows call it with workflow time.
func (p ReminderPolicy) NextAlert(received, due, after time.Time) (time.Time, AlertKind) {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(after) && t.After(received) && t.Before(due) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if p.Halfway {
		consider(received.Add(due.Sub(received) / 2))
	}
	for _, b := range p.Before {
		consider(due.Add(-b))
	}
	if !next.IsZero() {
		return next, Reminder
	}
	if !after.Before(due) {
		k := after.Sub(due)/p.EscalateEvery + 1
		return due.Add(k * p.EscalateEvery), Escalation
	}
	return due, Escalation
}
