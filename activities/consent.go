package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
)

// ConsentRecord is one consent ledger entry to append.
type ConsentRecord struct {
	RequestID      string    `json:"request_id"`
	Purpose        string    `json:"purpose"`
	State          string    `json:"state"` // pending, granted, withdrawn, expired
	Channel        string    `json:"channel"`
	WordingVersion string    `json:"wording_version"`
	At             time.Time `json:"at"`
}

// RecordConsent appends to the subject's consent ledger. The entry is
// keyed by request, purpose and state, so a retry does not append twice.
// An opt-in from a person erased before (one of their identities is on
// the suppression list) is allowed, since a person may come back, but it
// is marked as a new consent after erasure and compliance is told.
func (a *Activities) RecordConsent(ctx context.Context, in ConsentRecord) error {
	r, err := a.Store.GetRequest(ctx, in.RequestID)
	if err != nil {
		return err
	}
	e := records.ConsentEvent{SubjectID: r.SubjectID, Purpose: in.Purpose, State: in.State,
		Channel: in.Channel, WordingVersion: in.WordingVersion, RequestID: in.RequestID, At: in.At}
	if in.State == "pending" || in.State == "granted" {
		if e.AfterErasure, err = a.erasedBefore(ctx, r.SubjectID); err != nil {
			return err
		}
	}
	if err := a.Store.AppendConsent(ctx, e); err != nil {
		return err
	}
	if !e.AfterErasure || in.State != "granted" {
		return nil
	}
	// One notice per request and purpose, whatever the retries.
	return a.Notify(ctx, Notice{RequestID: in.RequestID, To: "compliance", Kind: "consent-after-erasure", Key: "consent-after-erasure/" + in.RequestID + "/" + in.Purpose,
		Text: fmt.Sprintf("Request %s: an opt-in to %s from a person whose data was erased before (an identity of theirs is on the suppression list). "+
			"It is recorded as a new consent after erasure; make sure it is theirs before their data is used again.", in.RequestID, in.Purpose)})
}

// erasedBefore tells whether any identity of the subject is on the
// suppression list.
func (a *Activities) erasedBefore(ctx context.Context, subjectID string) (bool, error) {
	ids, err := a.Store.SubjectIdentities(ctx, a.Keys, subjectID)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		ok, err := a.Store.Suppressed(ctx, string(id.Kind), a.Keys.Hash(string(id.Kind), id.Value))
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// ConsentApply propagates a consent state to one system.
type ConsentApply struct {
	RequestID  string            `json:"request_id"`
	System     string            `json:"system"`
	Identities []domain.Identity `json:"identities"`
	Purpose    string            `json:"purpose"`
	Granted    bool              `json:"granted"`
}

// ApplyConsent sets the consent state in one system; setting the same
// state again changes nothing, so retries are safe.
func (a *Activities) ApplyConsent(ctx context.Context, in ConsentApply) (connectors.Result, error) {
	sys, err := a.system(in.System)
	if err != nil {
		return connectors.Result{}, err
	}
	defer keepAlive(ctx, "applying consent in "+in.System)()
	res, err := sys.Connector.ApplyConsent(ctx, in.Identities, in.Purpose, in.Granted)
	if err != nil {
		return connectors.Result{}, connectorError("apply consent in "+in.System, err)
	}
	res.System = in.System
	return res, nil
}

// ConsentQuery names a subject by its identities.
type ConsentQuery struct {
	Identities []domain.Identity `json:"identities"`
	Actor      string            `json:"actor"`
}

// ConsentState is the latest ledger entry of one purpose.
type ConsentState struct {
	Purpose        string    `json:"purpose"`
	State          string    `json:"state"`
	Channel        string    `json:"channel"`
	WordingVersion string    `json:"wording_version"`
	At             time.Time `json:"at"`
	RequestID      string    `json:"request_id,omitempty"`
}

// CurrentConsents finds the subject by the keyed hash of any identity and
// returns the current state of every purpose in its ledger. The lookup is
// audited with its actor; an unknown subject has no consents.
func (a *Activities) CurrentConsents(ctx context.Context, q ConsentQuery) ([]ConsentState, error) {
	subject, err := a.Store.FindSubject(ctx, a.Keys, q.Identities)
	if errors.Is(err, records.ErrNotFound) {
		return nil, a.Store.AppendAudit(ctx, records.AuditEntry{Actor: q.Actor, Action: "consent.lookup", Detail: map[string]any{"found": false}})
	}
	if err != nil {
		return nil, err
	}
	hist, err := a.Store.ConsentHistory(ctx, subject)
	if err != nil {
		return nil, err
	}
	latest := map[string]ConsentState{}
	var order []string
	for _, e := range hist {
		if _, seen := latest[e.Purpose]; !seen {
			order = append(order, e.Purpose)
		}
		latest[e.Purpose] = ConsentState{Purpose: e.Purpose, State: e.State, Channel: e.Channel, WordingVersion: e.WordingVersion, At: e.At, RequestID: e.RequestID}
	}
	slices.Sort(order)
	out := make([]ConsentState, len(order))
	for i, p := range order {
		out[i] = latest[p]
	}
	return out, a.Store.AppendAudit(ctx, records.AuditEntry{Actor: q.Actor, Action: "consent.lookup", Detail: map[string]any{"found": true, "purposes": len(out)}})
}
