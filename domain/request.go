// Package domain holds the engine's vocabulary: request kinds, regulations
// with their legal deadlines, statuses and subject identities. It does no I/O
// and reads no clock, so workflows may use all of it.
package domain

import (
	"fmt"
	"regexp"
	"strings"
)

// RequestType is what the data subject asks for.
type RequestType string

const (
	Access      RequestType = "access"
	Portability RequestType = "portability"
	Erasure     RequestType = "erasure"
	OptIn       RequestType = "opt_in"
	Withdrawal  RequestType = "withdrawal"
)

// RequestTypes lists every kind in a fixed order, for help texts and validation.
var RequestTypes = []RequestType{Access, Portability, Erasure, OptIn, Withdrawal}

// ParseRequestType accepts the canonical names and the spellings people type
// ("opt-in", "consent-withdrawal").
func ParseRequestType(s string) (RequestType, error) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	switch norm {
	case "opt_in_consent", "consent":
		norm = string(OptIn)
	case "consent_withdrawal", "withdraw":
		norm = string(Withdrawal)
	}
	for _, t := range RequestTypes {
		if string(t) == norm {
			return t, nil
		}
	}
	return "", &FieldError{Field: "type", Value: s, Reason: "must be one of " + joinNames(RequestTypes)}
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

func joinNames[T ~string](items []T) string {
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = string(it)
	}
	return strings.Join(names, ", ")
}
