package activities

import (
	"context"
	"time"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/store"
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
func (a *Activities) RecordConsent(ctx context.Context, in ConsentRecord) error {
	r, err := a.Store.GetRequest(ctx, in.RequestID)
	if err != nil {
		return err
	}
	return a.Store.AppendConsent(ctx, store.ConsentEvent{SubjectID: r.SubjectID, Purpose: in.Purpose, State: in.State,
		Channel: in.Channel, WordingVersion: in.WordingVersion, RequestID: in.RequestID, At: in.At})
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
	res, err := sys.Connector.ApplyConsent(ctx, in.Identities, in.Purpose, in.Granted)
	if err != nil {
		return connectors.Result{}, connectorError("apply consent in "+in.System, err)
	}
	res.System = in.System
	return res, nil
}
