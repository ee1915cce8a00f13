package activities

import (
	"context"
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
)

// CorrectInput applies (or, DryRun, checks) one correction in one system.
type CorrectInput struct {
	RequestID  string            `json:"request_id"`
	System     string            `json:"system"`
	Identities []domain.Identity `json:"identities"`
	Field      string            `json:"field"`
	Value      string            `json:"value"`
	DryRun     bool              `json:"dry_run,omitempty"`
}

// Correct writes one correction in one system. Like an erasure it keeps,
// at its first attempt, a baseline of the subject's records whose field
// differs, so that a retry after a crash still counts what the attempts
// before it corrected: the baseline less what it finds still differing.
// A dry run only counts what differs: the verification pass.
func (a *Activities) Correct(ctx context.Context, in CorrectInput) (connectors.Result, error) {
	c, err := a.corrector(in.System)
	if err != nil {
		return connectors.Result{}, err
	}
	defer keepAlive(ctx, "correcting "+in.Field+" in "+in.System)()
	left, err := c.Correct(ctx, in.Identities, in.Field, in.Value, connectors.EraseOptions{DryRun: true})
	if err != nil {
		return connectors.Result{}, connectorError("correct "+in.Field+" in "+in.System, err)
	}
	left.System = in.System
	if in.DryRun {
		return left, nil
	}
	differs := map[string]int64{}
	for _, r := range left.Records {
		differs[r.Location] += r.Count
	}
	baseline, err := a.Store.ErasureBaseline(ctx, in.RequestID+"/correct/"+in.Field, in.System, differs)
	if err != nil {
		return connectors.Result{}, err
	}
	res, err := c.Correct(ctx, in.Identities, in.Field, in.Value, connectors.EraseOptions{})
	if err != nil {
		return connectors.Result{}, connectorError("correct "+in.Field+" in "+in.System, err)
	}
	res = withEarlierWork(res, baseline, differs)
	res.System = in.System
	return res, nil
}

func (a *Activities) corrector(system string) (connectors.Corrector, error) {
	return connectorAs[connectors.Corrector](a, system, "cannot correct records: its connector has no correctable fields")
}

// connectorAs is a system's connector as one that can do what a right
// asks (correct, restrict); a connector that cannot is the data map's
// mistake, which no retry fixes.
func connectorAs[T any](a *Activities, system, cannot string) (T, error) {
	var none T
	sys, err := a.system(system)
	if err != nil {
		return none, err
	}
	c, ok := sys.Connector.(T)
	if !ok {
		err := fmt.Errorf("system %s %s", system, cannot)
		return none, temporal.NewNonRetryableApplicationError(err.Error(), "BadConfig", err)
	}
	return c, nil
}

// RestrictInput sets or lifts a restriction in one system.
type RestrictInput struct {
	RequestID  string            `json:"request_id"`
	System     string            `json:"system"`
	Identities []domain.Identity `json:"identities"`
	Purposes   []string          `json:"purposes"`
	Restricted bool              `json:"restricted"`
}

// Restrict records the subject's restriction (or its lifting) in one
// system; setting a flag to what it holds changes nothing.
func (a *Activities) Restrict(ctx context.Context, in RestrictInput) (connectors.Result, error) {
	r, err := connectorAs[connectors.Restricter](a, in.System, "cannot record a restriction")
	if err != nil {
		return connectors.Result{}, err
	}
	defer keepAlive(ctx, "restricting in "+in.System)()
	res, err := r.Restrict(ctx, in.Identities, in.Purposes, in.Restricted)
	if err != nil {
		return connectors.Result{}, connectorError("restrict in "+in.System, err)
	}
	res.System = in.System
	return res, nil
}

// suppressMarketing is the store's suppression scope for marketing.
const suppressMarketing = "marketing"

// SuppressMarketing puts the subject's identities on the suppression list
// for marketing (an objection to direct marketing): they are not marketed
// to again, though nothing was erased and a re-import is not blocked.
func (a *Activities) SuppressMarketing(ctx context.Context, in SuppressInput) error {
	for _, id := range in.Identities {
		if err := a.Store.SuppressFor(ctx, suppressMarketing, string(id.Kind), a.Keys.Hash(string(id.Kind), id.Value), "objected to direct marketing", in.RequestID); err != nil {
			return err
		}
	}
	return a.Store.AppendAudit(ctx, records.AuditEntry{RequestID: in.RequestID, Actor: "engine", Action: "subject.suppressed",
		Detail: map[string]any{"identities": len(in.Identities), "scope": suppressMarketing}})
}

// CorrectAllInput applies (or, DryRun, checks) a request's corrections in
// one system.
type CorrectAllInput struct {
	RequestID   string              `json:"request_id"`
	System      string              `json:"system"`
	Identities  []domain.Identity   `json:"identities"`
	Corrections []domain.Correction `json:"corrections"`
	DryRun      bool                `json:"dry_run,omitempty"`
}

// CorrectAll applies each correction in turn (see Correct); each one is
// idempotent, so a retry of the whole list is too. A field that holds an
// identity (the e-mail address the records are found by) goes last, so
// the others still find the records, before and after a crash. The check
// (DryRun) also looks the subject up by the corrected identities, so it
// finds the records the correction moved to them; it only counts, so a
// record of someone else found that way can only fail the check, never
// be changed.
func (a *Activities) CorrectAll(ctx context.Context, in CorrectAllInput) (connectors.Result, error) {
	c, err := a.corrector(in.System)
	if err != nil {
		return connectors.Result{}, err
	}
	list := slices.Clone(in.Corrections)
	slices.SortStableFunc(list, func(x, y domain.Correction) int {
		_, xi := c.IdentityOf(x.Field)
		_, yi := c.IdentityOf(y.Field)
		switch {
		case xi == yi:
			return 0
		case xi:
			return 1
		}
		return -1
	})
	ids := in.Identities
	if in.DryRun {
		ids = slices.Clone(ids)
		for _, x := range list {
			if kind, ok := c.IdentityOf(x.Field); ok {
				if id, err := domain.NewIdentity(kind, x.Value); err == nil && !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
	}
	out := connectors.Result{System: in.System}
	for _, c := range list {
		res, err := a.Correct(ctx, CorrectInput{RequestID: in.RequestID, System: in.System, Identities: ids,
			Field: c.Field, Value: c.Value, DryRun: in.DryRun})
		if err != nil {
			return out, err
		}
		for _, r := range res.Records {
			r.Location += "." + c.Field
			out.Records = append(out.Records, r)
		}
	}
	return out, nil
}

// WithdrawInput withdraws purposes in one system.
type WithdrawInput struct {
	RequestID  string            `json:"request_id"`
	System     string            `json:"system"`
	Identities []domain.Identity `json:"identities"`
	Purposes   []string          `json:"purposes"`
}

// WithdrawPurposes sets the subject's consent to each purpose to
// withdrawn in one system: an opt-out, a limit, an objection to direct
// marketing. Setting what is set changes nothing, so retries are safe.
func (a *Activities) WithdrawPurposes(ctx context.Context, in WithdrawInput) (connectors.Result, error) {
	out := connectors.Result{System: in.System}
	for _, p := range in.Purposes {
		res, err := a.ApplyConsent(ctx, ConsentApply{RequestID: in.RequestID, System: in.System, Identities: in.Identities, Purpose: p})
		if err != nil {
			return out, err
		}
		for _, r := range res.Records {
			r.Action += " (" + p + ")"
			out.Records = append(out.Records, r)
		}
	}
	return out, nil
}
