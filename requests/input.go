package requests

import (
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/workflows"
)

// Form is a new request as a front end received it (starter's flags, the
// API's JSON, an OpenDSR request), before anything is checked.
type Form struct {
	// ID is the request id; empty generates one.
	ID         string
	Type       string
	Regulation string
	Identities []FormIdentity
	// Received is when the request arrived, if earlier than now: a date
	// (YYYY-MM-DD, midnight in TimeZone) or an RFC 3339 time.
	Received string
	// TimeZone is the IANA zone in which the deadline is counted; empty is UTC.
	TimeZone         string
	RequestedBy      string
	IdentityVerified bool
	Consent          *domain.ConsentChange
	// Corrections are a rectification's; Scope is what a restriction,
	// objection, opt-out or limit covers.
	Corrections []domain.Correction
	Scope       *domain.Scope
}

// FormIdentity is one identity as given, with the kind it was given as.
type FormIdentity struct {
	Kind  string
	Value string
}

// Names are a front end's own names for the form's fields, so that its
// errors speak its language: "--tz" on the command line, "time_zone" in
// the API. Fields maps the form's names (id, type, regulation, identities,
// received, time_zone, requested_by, consent, consent.purpose, …) to the
// front end's; Identity names the i-th identity, or its kind when the
// kind is what is wrong.
type Names struct {
	Fields   map[string]string
	Identity func(i int, kind string) string
}

// clockSkew is how far in the future a receipt time may be: a controller's
// clock may run a little ahead of ours.
const clockSkew = time.Minute

// NewInput checks a new request and makes it the workflow's input. It is
// the one path from a front end to a request: starter, the API, the
// privacy center and OpenDSR all use it. Errors are *domain.FieldError
// naming the field by the front end's name, and never echo an identity.
func NewInput(f Form, names Names, now time.Time) (workflows.RequestInput, error) {
	in, err := newInput(f, names, now)
	if err != nil {
		return workflows.RequestInput{}, names.rename(err)
	}
	return in, nil
}

func newInput(f Form, names Names, now time.Time) (workflows.RequestInput, error) {
	if f.Type == "" {
		return workflows.RequestInput{}, &domain.FieldError{Field: "type", Reason: "is required (" + domain.JoinNames(domain.RequestTypes) + ")"}
	}
	if f.Regulation == "" {
		return workflows.RequestInput{}, &domain.FieldError{Field: "regulation", Reason: "is required (" + domain.JoinNames(domain.Regulations) + ")"}
	}
	t, err := domain.ParseRequestType(f.Type)
	if err != nil {
		return workflows.RequestInput{}, err
	}
	reg, err := domain.ParseRegulation(f.Regulation)
	if err != nil {
		return workflows.RequestInput{}, err
	}
	ids, err := identities(f.Identities, names)
	if err != nil {
		return workflows.RequestInput{}, err
	}
	loc := time.UTC
	if f.TimeZone != "" {
		if loc, err = time.LoadLocation(f.TimeZone); err != nil {
			return workflows.RequestInput{}, &domain.FieldError{Field: "time_zone", Value: f.TimeZone, Reason: "unknown time zone (use an IANA name such as Europe/Berlin)"}
		}
	}
	at := now.In(loc)
	if f.Received != "" {
		if at, err = parseReceived(f.Received, loc); err != nil {
			return workflows.RequestInput{}, err
		}
		if at.After(now.Add(clockSkew)) {
			return workflows.RequestInput{}, &domain.FieldError{Field: "received", Value: f.Received, Reason: "is in the future"}
		}
	}
	id := f.ID
	if id == "" {
		id = "REQ-" + at.Format("20060102") + "-" + strings.ToUpper(uuid.NewString()[:8])
	}
	if err := domain.ValidateRequestID(id); err != nil {
		var fe *domain.FieldError
		if errors.As(err, &fe) {
			fe.Field = "id"
		}
		return workflows.RequestInput{}, err
	}
	in := workflows.RequestInput{
		RequestID: id, Type: t, Regulation: reg, Identities: ids, ReceivedAt: at, DueAt: domain.DueFor(t, reg, at),
		RequestedBy: f.RequestedBy, IdentityVerified: f.IdentityVerified, Consent: f.Consent,
		Corrections: f.Corrections, Scope: f.Scope,
	}
	return in, in.Validate()
}

// Identities checks and normalizes identities as given, as NewInput does,
// for a front end that looks a subject up.
func Identities(given []FormIdentity, names Names) ([]domain.Identity, error) {
	ids, err := identities(given, names)
	return ids, names.rename(err)
}

func identities(given []FormIdentity, names Names) ([]domain.Identity, error) {
	var ids []domain.Identity
	for i, raw := range given {
		id, err := domain.NewIdentity(domain.IdentityKind(raw.Kind), raw.Value)
		var fe *domain.FieldError
		if errors.As(err, &fe) {
			field := names.identity(i, raw.Kind)
			if !domain.ValidIdentityKind(domain.IdentityKind(raw.Kind)) {
				field = names.identity(i, "kind")
			}
			return nil, &domain.FieldError{Field: field, Value: fe.Value, Reason: fe.Reason}
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, &domain.FieldError{Field: "identities", Reason: "at least one is required (" + domain.JoinNames(domain.KnownKinds()) + ")"}
	}
	return ids, nil
}

func parseReceived(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.In(loc), nil
	}
	return time.Time{}, &domain.FieldError{Field: "received", Value: s, Reason: "use YYYY-MM-DD or RFC 3339 (2026-01-31T09:30:00+01:00)"}
}

// rename gives a field error the front end's name for its field.
func (n Names) rename(err error) error {
	var fe *domain.FieldError
	if err == nil {
		return nil
	}
	if !errors.As(err, &fe) {
		return err
	}
	if name, ok := n.Fields[fe.Field]; ok {
		return &domain.FieldError{Field: name, Value: fe.Value, Reason: fe.Reason}
	}
	return err
}

func (n Names) identity(i int, kind string) string {
	if n.Identity == nil {
		return kind
	}
	return n.Identity(i, kind)
}
