// Package workflows holds the deterministic request workflows: no I/O, no
// wall clock, no goroutines, no map iteration for decisions. Every side
// effect is an activity in package activities.
package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
)

// TaskQueue is where request workflows and their activities run.
const TaskQueue = "dsr-requests"

// QueryStatus is the name of the query that returns a RequestState.
const QueryStatus = "status"

// RequestInput starts a request workflow; see domain.Request.
type RequestInput = domain.Request

// StatusChange is one step of a request's timeline.
type StatusChange struct {
	Status domain.Status `json:"status"`
	At     time.Time     `json:"at"`
	Actor  string        `json:"actor"`
	Note   string        `json:"note,omitempty"`
}

// RequestState is what the status query returns. It has no personal data, so
// a dashboard may show it as it is.
type RequestState struct {
	RequestID  string             `json:"request_id"`
	Type       domain.RequestType `json:"type"`
	Regulation domain.Regulation  `json:"regulation"`
	Status     domain.Status      `json:"status"`
	ReceivedAt time.Time          `json:"received_at"`
	DueAt      time.Time          `json:"due_at"`
	Timeline   []StatusChange     `json:"timeline"`

	// OriginalDueAt is the deadline before any extension.
	OriginalDueAt    time.Time          `json:"original_due_at,omitzero"`
	Extensions       []domain.Extension `json:"extensions,omitempty"`
	IdentityVerified bool               `json:"identity_verified"`
	// WaitingFor says what the request waits for now, in words.
	WaitingFor string `json:"waiting_for,omitempty"`
	// Alerts are the reminders and escalations sent so far.
	Alerts []Alert `json:"alerts,omitempty"`
	// Systems is each system's progress: found, exempted, done.
	Systems []SystemProgress `json:"systems,omitempty"`
	// PendingDepartments still owe a sign-off.
	PendingDepartments []string          `json:"pending_departments,omitempty"`
	SignOffs           []records.SignOff `json:"signoffs,omitempty"`
	// Package is where the access or portability package is, by reference.
	Package string `json:"package,omitempty"`
	// Consent is the resulting state of an opt-in or withdrawal: pending,
	// granted, withdrawn or expired.
	Consent string `json:"consent,omitempty"`
	// Tasks are the manual systems' tasks.
	Tasks []Task `json:"tasks,omitempty"`
	// ProposedIdentities are the linked identities found in the subject's
	// records, masked, for compliance to confirm.
	ProposedIdentities []ProposedIdentity `json:"proposed_identities,omitempty"`
}

// Alert is one reminder or escalation that was sent.
type Alert struct {
	Kind domain.AlertKind `json:"kind"`
	At   time.Time        `json:"at"`
	To   []string         `json:"to"`
}

// storeActivity is for quick writes to the engine's own database: retried
// with backoff for a long while, since a database restart must not fail a
// request, and never retried for errors that retrying cannot fix.
var storeActivity = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        5 * time.Minute,
		MaximumAttempts:        0, // bounded by ScheduleToCloseTimeout
		NonRetryableErrorTypes: []string{"Conflict", "InvalidStatus"},
	},
	ScheduleToCloseTimeout: 24 * time.Hour,
}

// noticeActivity delivers notices; channels such as Slack rate-limit, so
// the backoff is gentler and the attempts bounded.
var noticeActivity = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    5 * time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    10 * time.Minute,
		MaximumAttempts:    20,
	},
}

// Request carries a data-subject request from receipt to a terminal status:
// received, identity verified, discovery, sign-off, fulfilment, answered,
// completed; or denied or cancelled.
// Throughout, reminders and escalations follow the legal deadline, which an
// extension may move.
func Request(ctx workflow.Context, in RequestInput) (RequestState, error) {
	st := &RequestState{RequestID: in.RequestID, Type: in.Type, Regulation: in.Regulation, ReceivedAt: in.ReceivedAt, DueAt: in.DueAt}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (RequestState, error) { return *st, nil }); err != nil {
		return *st, err
	}
	if err := in.Validate(); err != nil {
		// A bad input must not be retried forever: fail the workflow with the reason.
		return *st, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", err)
	}
	// Handlers are registered before anything blocks, so that an update sent
	// right after the start is not refused as unknown.
	l := newLifecycle(st, in)
	if len(in.Carried) > 0 {
		// A continued run: everything up to the wait it resumes is done.
		// Its state is back before the handlers are, so that an Update
		// sent during the hand-over sees the request as it is.
		lean, err := l.restore(ctx, in.Carried)
		if err != nil {
			return *st, err
		}
		l.in.Carried = nil
		if lean {
			ctx = workflow.WithValue(ctx, leanKey{}, true)
		}
		if err := l.register(ctx); err != nil {
			return *st, err
		}
		return l.run(ctx)
	}
	if err := l.register(ctx); err != nil {
		return *st, err
	}
	var a *activities.Activities
	storeCtx := workflow.WithActivityOptions(ctx, storeActivity)

	// An unverified request may be anyone's: its identities join an
	// existing subject, and it is checked for duplicates, only once verified.
	l.provisional = !in.IdentityVerified && workflow.GetVersion(ctx, changeVerifiedMerge, workflow.DefaultVersion, 1) == 1
	if workflow.GetVersion(ctx, changeLeanSteps, workflow.DefaultVersion, 1) == 1 {
		ctx = workflow.WithValue(ctx, leanKey{}, true)
		if err := l.admitAtOnce(ctx); err != nil {
			return *st, err
		}
		return l.run(ctx)
	}
	err := workflow.ExecuteActivity(storeCtx, a.RecordReceived, activities.RecordInput{
		Request: in, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, Provisional: l.provisional,
	}).Get(ctx, nil)
	if err != nil {
		return *st, fmt.Errorf("record request: %w", err)
	}
	l.recorded = true
	if err := advance(ctx, st, domain.StatusReceived, in.RequestedBy, ""); err != nil {
		return *st, err
	}

	if workflow.GetVersion(ctx, changeLifecycle, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		l.legacy = true
		return receiptOnly(ctx, st, in)
	}
	return l.run(ctx)
}

// changeLeanSteps guards the request's fewer round trips: its first four
// store steps as one activity, status writes as local activities, and no
// search for linked identities in systems that declare none.
const changeLeanSteps = "lean-steps"

// leanKey marks, in the workflow context, a request on lean steps.
type leanKey struct{}

func lean(ctx workflow.Context) bool {
	v, _ := ctx.Value(leanKey{}).(bool)
	return v
}

// storeLocal is storeActivity for a local activity: a quick write to the
// engine's own database, done within the workflow task.
var storeLocal = workflow.LocalActivityOptions{
	StartToCloseTimeout:    10 * time.Second,
	ScheduleToCloseTimeout: storeActivity.ScheduleToCloseTimeout,
	RetryPolicy:            storeActivity.RetryPolicy,
}

// changeVerifiedMerge guards recording unverified requests provisionally,
// with the duplicate check after verification.
const changeVerifiedMerge = "verified-merge"

// changeLifecycle guards the move from the receipt-only first cut to the
// full lifecycle; histories recorded before it replay on receiptOnly.
const changeLifecycle = "lifecycle"

// receiptOnly is the first cut: acknowledge receipt and complete. Kept for
// workflows started before the lifecycle existed.
func receiptOnly(ctx workflow.Context, st *RequestState, in RequestInput) (RequestState, error) {
	var a *activities.Activities
	noticeCtx := workflow.WithActivityOptions(ctx, noticeActivity)
	err := workflow.ExecuteActivity(noticeCtx, a.Notify, activities.Notice{
		RequestID: in.RequestID, To: "subject", Kind: "receipt",
		Text: fmt.Sprintf("We received your %s request under %s on %s and will answer by %s.",
			in.Type, in.Regulation, in.ReceivedAt.Format("2 January 2006"), in.DueAt.Format("2 January 2006")),
	}).Get(ctx, nil)
	if err != nil {
		return *st, fmt.Errorf("acknowledge receipt: %w", err)
	}
	if err := advance(ctx, st, domain.StatusCompleted, "engine", "receipt acknowledged"); err != nil {
		return *st, err
	}
	return *st, nil
}

// advance records a status in the store, the timeline and the search
// attributes, in that order, so the UI never shows a status the store lacks.
func advance(ctx workflow.Context, st *RequestState, status domain.Status, actor, note string) error {
	now := workflow.Now(ctx).UTC()
	var a *activities.Activities
	in := activities.StatusInput{RequestID: st.RequestID, Status: status, Actor: actor, At: now}
	var err error
	if lean(ctx) {
		err = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, storeLocal), a.RecordStatus, in).Get(ctx, nil)
	} else {
		err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.SetStatus, in).Get(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("set status %s: %w", status, err)
	}
	st.Status = status
	st.Timeline = append(st.Timeline, StatusChange{Status: status, At: now, Actor: actor, Note: note})
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrStatus.ValueSet(string(status))); err != nil {
		return fmt.Errorf("search attribute %s: %w", AttrStatus.GetName(), err)
	}
	return nil
}

// StartAttributes are the search attributes a request starts with, so it
// is filterable from its first moment.
func StartAttributes(in RequestInput) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		AttrType.ValueSet(string(in.Type)),
		AttrRegulation.ValueSet(string(in.Regulation)),
		AttrStatus.ValueSet(string(domain.StatusReceived)),
		AttrReceivedAt.ValueSet(in.ReceivedAt.UTC()),
		AttrDueAt.ValueSet(in.DueAt.UTC()),
	)
}
