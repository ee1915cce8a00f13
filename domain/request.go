// Package domain holds the engine's vocabulary: request kinds, regulations
// with their legal deadlines, statuses and subject identities. It does no I/O
// and reads no clock, so workflows may use all of it.
//
// The deadlines (DueAt, ExtendedDueAt, DaysLeft), the reminder policy
// (NextAlert) and the validation of requests and identities run inside the
// request workflows, and are replayed with every recorded history. A change
// that alters what they return for an existing request changes the
// workflow's decisions: guard it with workflow.GetVersion in the workflow
// that calls it, keep the old behaviour behind the default version, and
// record a history for the replay test (see README, "Changing workflow
// code").
package domain

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// RequestType is what the data subject asks for.
type RequestType string

const (
	Access      RequestType = "access"
	Portability RequestType = "portability"
	Erasure     RequestType = "erasure"
	OptIn       RequestType = "opt_in"
	Withdrawal  RequestType = "withdrawal"
	// Rectification corrects inaccurate data (GDPR Art. 16, CCPA
	// §1798.106, LGPD Art. 18(III)).
	Rectification RequestType = "rectification"
	// Restriction marks the data as not to be processed for some purposes
	// until lifted (GDPR Art. 18, LGPD Art. 18(IV) blocking).
	Restriction RequestType = "restriction"
	// Objection objects to processing: to direct marketing absolutely, to
	// other processing on grounds the departments weigh (GDPR Art. 21).
	Objection RequestType = "objection"
	// OptOut opts out of the sale and sharing of personal information
	// (CCPA §1798.120), as the Global Privacy Control signal does.
	OptOut RequestType = "opt_out"
	// LimitSensitive limits the use of sensitive personal information
	// (CCPA §1798.121).
	LimitSensitive RequestType = "limit_sensitive"
)

// RequestTypes lists every kind in a fixed order, for help texts and validation.
var RequestTypes = []RequestType{Access, Portability, Erasure, OptIn, Withdrawal, Rectification, Restriction, Objection, OptOut, LimitSensitive}

// ParseRequestType accepts the canonical names and the spellings people type
// ("opt-in", "consent-withdrawal").
func ParseRequestType(s string) (RequestType, error) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	switch norm {
	case "opt_in_consent", "consent":
		norm = string(OptIn)
	case "consent_withdrawal", "withdraw":
		norm = string(Withdrawal)
	case "correction", "correct", "rectify":
		norm = string(Rectification)
	case "restrict", "blocking", "block":
		norm = string(Restriction)
	case "object":
		norm = string(Objection)
	case "do_not_sell", "do_not_sell_or_share", "optout":
		norm = string(OptOut)
	case "limit", "limit_sensitive_use", "limit_use":
		norm = string(LimitSensitive)
	}
	for _, t := range RequestTypes {
		if string(t) == norm {
			return t, nil
		}
	}
	return "", &FieldError{Field: "type", Value: s, Reason: "must be one of " + JoinNames(RequestTypes)}
}

// Status is where a request stands. Terminal statuses end the workflow.
type Status string

const (
	StatusReceived        Status = "received"
	StatusVerifying       Status = "verifying"
	StatusDiscovery       Status = "discovery"
	StatusAwaitingSignOff Status = "awaiting_signoff"
	StatusFulfilling      Status = "fulfilling"
	StatusAnswering       Status = "answering"
	StatusNeedsAttention  Status = "needs_attention"
	StatusCompleted       Status = "completed"
	StatusDenied          Status = "denied"
	StatusCancelled       Status = "cancelled"
)

// Statuses lists every status, in the order a request goes through them.
var Statuses = []Status{StatusReceived, StatusVerifying, StatusDiscovery, StatusAwaitingSignOff, StatusFulfilling, StatusAnswering,
	StatusNeedsAttention, StatusCompleted, StatusDenied, StatusCancelled}

// ValidStatus reports whether s is a status.
func ValidStatus(s Status) bool { return slices.Contains(Statuses, s) }

// Terminal reports whether no further work happens on a request in this status.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusDenied || s == StatusCancelled
}

// requestIDPattern keeps request ids free of personal data: no '@', no spaces,
// nothing a phone number or e-mail address could hide in unnoticed.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateRequestID checks an id supplied by a caller (for example a ticket
// number). Ids end up in workflow IDs, which are never encrypted.
func ValidateRequestID(id string) error {
	if !requestIDPattern.MatchString(id) {
		return &FieldError{Field: "request id", Value: id, Reason: "must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"}
	}
	return nil
}

// WorkflowID is the Temporal workflow id of a request: derived from the
// request id only, never from the identity.
func WorkflowID(requestID string) string { return "dsr-" + requestID }

// RequestIDOf is the request id of a request workflow's id.
func RequestIDOf(workflowID string) (string, bool) {
	id, ok := strings.CutPrefix(workflowID, "dsr-")
	return id, ok && ValidateRequestID(id) == nil
}

// departmentName is what a department may be called: it appears in
// search attributes and queries, so it is plain.
var departmentName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9 _-]{0,63}$`)

// ValidDepartmentName reports whether name can name a department.
func ValidDepartmentName(name string) bool { return departmentName.MatchString(name) }

// Request is a data-subject request as it is started. The identities are
// personal data: they only ever travel in encrypted payloads.
type Request struct {
	RequestID   string      `json:"request_id"`
	Type        RequestType `json:"type"`
	Regulation  Regulation  `json:"regulation"`
	Identities  []Identity  `json:"identities"`
	ReceivedAt  time.Time   `json:"received_at"`
	DueAt       time.Time   `json:"due_at"`
	RequestedBy string      `json:"requested_by"`
	// IdentityVerified is set when compliance verified the subject before
	// starting; otherwise the request waits for a verification.
	IdentityVerified bool `json:"identity_verified,omitempty"`
	// Reminders says when to remind and escalate; zero means DefaultReminders.
	Reminders ReminderPolicy `json:"reminders,omitzero"`
	// Consent is the change an opt-in or withdrawal asks for, with its evidence.
	Consent *ConsentChange `json:"consent,omitempty"`
	// Corrections are what a rectification asks to change.
	Corrections []Correction `json:"corrections,omitempty"`
	// Scope is what a restriction, objection, opt-out or limit applies to.
	Scope *Scope `json:"scope,omitempty"`
	// Carried is the state a request's workflow hands to its next run when
	// its history grows long (continue-as-new). Only the workflow sets it:
	// a start that carries it is refused, and so is a run that was not
	// continued from an earlier one.
	Carried json.RawMessage `json:"carried,omitempty"`
}

// ConsentChange is one explicit consent decision of a subject for one
// purpose, with the evidence a regulator asks for.
type ConsentChange struct {
	Purpose string `json:"purpose"`
	// Channel is where the subject gave or withdrew it: web form, e-mail…
	Channel string `json:"channel"`
	// WordingVersion names the text the subject saw, e.g. "newsletter-v3".
	WordingVersion string `json:"wording_version"`
	// DoubleOptIn asks the subject to confirm before consent counts.
	DoubleOptIn bool `json:"double_opt_in,omitempty"`
	// ConfirmWithin is how long a double opt-in may wait; default 7 days.
	ConfirmWithin time.Duration `json:"confirm_within,omitempty"`
}

// Validate checks a request before it is started, naming the bad field.
func (r Request) Validate() error {
	if err := ValidateRequestID(r.RequestID); err != nil {
		return err
	}
	if !slices.Contains(RequestTypes, r.Type) {
		return &FieldError{Field: "type", Value: string(r.Type), Reason: "must be one of " + JoinNames(RequestTypes)}
	}
	if !slices.Contains(Regulations, r.Regulation) {
		return &FieldError{Field: "regulation", Value: string(r.Regulation), Reason: "must be one of " + JoinNames(Regulations)}
	}
	if len(r.Identities) == 0 {
		return &FieldError{Field: "identity", Reason: "at least one of email, phone or customer id is required"}
	}
	for _, id := range r.Identities {
		n, err := NewIdentity(id.Kind, id.Value)
		if err != nil {
			return err
		}
		// Lookups hash the normalized value; an unnormalized one would miss.
		if n.Value != id.Value {
			return &FieldError{Field: string(id.Kind), Reason: "is not normalized (use domain.NewIdentity)"}
		}
	}
	if r.ReceivedAt.IsZero() {
		return &FieldError{Field: "received_at", Reason: "is required"}
	}
	// Compared as calendar dates in the receipt's zone: a serialized time keeps
	// its offset but not its zone rules, so instants may differ by a DST hour.
	want := DueFor(r.Type, r.Regulation, r.ReceivedAt).Format(time.DateOnly)
	if got := r.DueAt.In(r.ReceivedAt.Location()).Format(time.DateOnly); got != want {
		return &FieldError{Field: "due_at", Value: got, Reason: fmt.Sprintf("does not match %s for a request received %s (want %s)", r.Regulation, r.ReceivedAt.Format(time.DateOnly), want)}
	}
	if r.RequestedBy == "" {
		return &FieldError{Field: "requested_by", Reason: "is required: every request names who started it"}
	}
	if r.Reminders.EscalateEvery != 0 {
		if err := r.Reminders.Validate(); err != nil {
			return err
		}
	}
	if err := r.validateRight(); err != nil {
		return err
	}
	switch {
	case (r.Type == OptIn || r.Type == Withdrawal) && r.Consent == nil:
		return &FieldError{Field: "consent", Reason: "an opt-in or withdrawal names the purpose, the channel and the wording version"}
	case r.Type != OptIn && r.Type != Withdrawal && r.Consent != nil:
		return &FieldError{Field: "consent", Reason: "only opt-in and withdrawal requests carry a consent change"}
	case r.Consent != nil:
		return r.Consent.validate(r.Type)
	}
	return nil
}

var purposePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

func (c ConsentChange) validate(t RequestType) error {
	if !purposePattern.MatchString(c.Purpose) {
		return &FieldError{Field: "consent.purpose", Value: c.Purpose, Reason: "must be a purpose name of lower-case letters, digits, '_' or '-' (as in the data map)"}
	}
	if strings.TrimSpace(c.Channel) == "" {
		return &FieldError{Field: "consent.channel", Reason: "is required: where the subject gave or withdrew consent is evidence"}
	}
	if strings.TrimSpace(c.WordingVersion) == "" {
		return &FieldError{Field: "consent.wording_version", Reason: "is required: which text the subject saw is evidence"}
	}
	if c.DoubleOptIn && t != OptIn {
		return &FieldError{Field: "consent.double_opt_in", Reason: "applies to opt-in only; withdrawal takes effect at once"}
	}
	if c.ConfirmWithin < 0 {
		return &FieldError{Field: "consent.confirm_within", Value: c.ConfirmWithin.String(), Reason: "must not be negative"}
	}
	return nil
}

// ReminderPolicy is the request's policy, or the default when none was given.
func (r Request) ReminderPolicy() ReminderPolicy {
	if r.Reminders.EscalateEvery == 0 {
		return DefaultReminders()
	}
	return r.Reminders
}

// FieldError names the input field that is wrong and why.
type FieldError struct {
	Field  string
	Value  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason)
}

// JoinNames lists names for a message: "access, portability, erasure".
func JoinNames[T ~string](items []T) string {
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = string(it)
	}
	return strings.Join(names, ", ")
}

// PackagePolicy says how long an access package stays downloadable, and
// how many times: after that the link is refused and the package, with
// the exports it was made from, is deleted.
type PackagePolicy struct {
	ExpireAfter time.Duration `json:"expire_after"`
	Downloads   int           `json:"downloads"`
}

// DefaultPackages keeps a package 30 days for 5 downloads.
func DefaultPackages() PackagePolicy {
	return PackagePolicy{ExpireAfter: 30 * 24 * time.Hour, Downloads: 5}
}

// Aftercare is what follows a completed erasure: discovery runs again on
// the erased systems at each check (counted from the completion), to find
// data that came back from a backup restore or an import; then, once the
// evidence hold has passed, the subject's data key is destroyed.
type Aftercare struct {
	Hold   time.Duration   `json:"hold"`
	Checks []time.Duration `json:"checks,omitempty"`
}

// DefaultAftercare holds the evidence 30 days and checks 7 and 30 days
// after the erasure.
func DefaultAftercare() Aftercare {
	return Aftercare{Hold: 30 * 24 * time.Hour, Checks: []time.Duration{7 * 24 * time.Hour, 30 * 24 * time.Hour}}
}
