package requests

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/workflows"
)

// ErrEnded is returned (with ErrRefused) for a change to a request that
// has already ended.
var ErrEnded = errors.New("ended")

// endedError refuses a change to a request that has ended; it is both
// ErrRefused and ErrEnded.
type endedError struct {
	op, id string
	status domain.Status
}

func (e *endedError) Error() string {
	return fmt.Sprintf("%s %s: %v: request %s is already %s", e.op, e.id, ErrRefused, e.id, e.status)
}

func (e *endedError) Is(target error) bool { return target == ErrRefused || target == ErrEnded }

// ErrRefused is returned when the request refused a change: the validator
// said why (already closed, beyond what the law allows, missing reason…).
var ErrRefused = errors.New("refused")

// VerifyIdentity records that compliance verified the subject.
func VerifyIdentity(ctx context.Context, c client.Client, requestID string, v workflows.Verification) error {
	return update(ctx, c, requestID, workflows.UpdateVerifyIdentity, v, nil)
}

// Extend moves the deadline and returns the new one.
func Extend(ctx context.Context, c client.Client, requestID string, e workflows.ExtensionRequest) (time.Time, error) {
	var due time.Time
	err := update(ctx, c, requestID, workflows.UpdateExtend, e, &due)
	return due, err
}

// Cancel ends a request on compliance's decision.
func Cancel(ctx context.Context, c client.Client, requestID string, cl workflows.Closure) error {
	return update(ctx, c, requestID, workflows.UpdateCancel, cl, nil)
}

// Deny refuses a request, e.g. identity not verified or manifestly unfounded;
// the subject is told the reason.
func Deny(ctx context.Context, c client.Client, requestID string, cl workflows.Closure) error {
	return update(ctx, c, requestID, workflows.UpdateDeny, cl, nil)
}

// Decide records a department's sign-off decision.
func Decide(ctx context.Context, c client.Client, requestID string, d workflows.Decision) error {
	return update(ctx, c, requestID, workflows.UpdateDecide, d, nil)
}

// CompleteTask records a department's confirmation of a manual task.
func CompleteTask(ctx context.Context, c client.Client, requestID string, t workflows.TaskCompletion) error {
	return update(ctx, c, requestID, workflows.UpdateCompleteTask, t, nil)
}

// Task returns one manual task of a running request, with the subject's
// identities that the department needs to find the data. The read is
// audited as the actor in ctx.
func Task(ctx context.Context, c client.Client, requestID, system string) (workflows.TaskView, error) {
	var v workflows.TaskView
	err := update(ctx, c, requestID, workflows.UpdateReadTask, workflows.TaskRead{System: system}, &v)
	return v, err
}

// Retry resumes a request in needs_attention after the failing system was fixed.
func Retry(ctx context.Context, c client.Client, requestID string, r workflows.Retry) error {
	return update(ctx, c, requestID, workflows.UpdateRetry, r, nil)
}

// EraseAgain erases again the systems where a completed erasure's
// resurrection check found the subject's data again.
func EraseAgain(ctx context.Context, c client.Client, requestID string, r workflows.EraseAgain) error {
	return update(ctx, c, requestID, workflows.UpdateEraseAgain, r, nil)
}

// Consents returns a subject's current consent per purpose, from the
// ledger, through a short audited workflow.
func Consents(ctx context.Context, c client.Client, in workflows.ConsentLookupInput) ([]activities.ConsentState, error) {
	return lookup[[]activities.ConsentState](ctx, c, "consent-lookup-", workflows.ConsentLookup, in)
}

// ConfirmIdentities is compliance's answer to the linked identities a
// request proposes: those numbered are the subject's; the others are not
// used.
func ConfirmIdentities(ctx context.Context, c client.Client, requestID string, ic workflows.IdentityConfirmation) error {
	return update(ctx, c, requestID, workflows.UpdateConfirmIdentities, ic, nil)
}

// ConfirmConsent records the subject's confirmation of a double opt-in.
func ConfirmConsent(ctx context.Context, c client.Client, requestID string, cf workflows.Confirmation) error {
	return update(ctx, c, requestID, workflows.UpdateConfirmConsent, cf, nil)
}

// Admitted waits until the request's workflow has recorded it and taken
// its duplicate check, and says whether it duplicates an open request.
func Admitted(ctx context.Context, c client.Client, requestID string) (workflows.Admission, error) {
	var a workflows.Admission
	err := update(ctx, c, requestID, workflows.UpdateAdmission, nil, &a)
	return a, err
}

func update(ctx context.Context, c client.Client, requestID, name string, arg, result any) error {
	if err := domain.ValidateRequestID(requestID); err != nil {
		return err
	}
	var args []any
	if arg != nil {
		args = []any{arg}
	}
	var err error
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		var h client.WorkflowUpdateHandle
		h, err = c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: domain.WorkflowID(requestID), UpdateName: name, Args: args,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, result)
		}
		// Refused while the request moves to its next run: the same change,
		// signed anew, goes to that run.
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != workflows.TypeHandingOver {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: %w", name, requestID, ctx.Err())
		case <-time.After(wait):
		}
	}
	var nf *serviceerror.NotFound
	var app *temporal.ApplicationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		// An ended request still exists: say so, rather than "no such".
		if v, serr := Show(ctx, c, requestID); serr == nil && v.Status.Terminal() {
			return &endedError{op: name, id: requestID, status: v.Status}
		}
		return fmt.Errorf("%w: %s (or it has ended)", ErrNotFound, requestID)
	case errors.As(err, &app):
		return fmt.Errorf("%s %s: %w: %s", name, requestID, ErrRefused, app.Message())
	}
	return fmt.Errorf("%s %s: %w", name, requestID, err)
}
