// Package requests is the client side of the request workflows: turning a
// front end's input into a request, starting it idempotently, steering it
// with its Updates and reading where it stands and its evidence. starter,
// the HTTP API, the console and OpenDSR all go through it.
package requests

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/workflows"
)

// ErrIDTaken is returned when a request id is already used by a request
// with other content.
var ErrIDTaken = errors.New("request id already used")

// ErrNotFound is returned for an unknown request id.
var ErrNotFound = errors.New("no such request")

// Started says what Start did.
type Started struct {
	View
	// Existing is true when the request id was already started with the same
	// content; nothing new was started.
	Existing bool `json:"existing"`
}

// Start starts a request workflow and returns as soon as Temporal holds
// it, so that a burst of starts is not held up by the work behind them.
// Whether the request goes ahead or closes as the duplicate of an open
// one is the workflow's first decision, which Show tells.
//
// Starting the same request id again does not start a second workflow,
// whether the first is running or finished: with the same type and
// regulation it returns the existing request, so a start whose answer was
// lost may be sent again; with another type or regulation it fails with
// ErrIDTaken.
func Start(ctx context.Context, c client.Client, in workflows.RequestInput) (Started, error) {
	if err := in.Validate(); err != nil {
		return Started{}, err
	}
	if len(in.Carried) > 0 {
		return Started{}, &domain.FieldError{Field: "carried", Reason: "is set only by a request's own workflow when it continues as new"}
	}
	wid := domain.WorkflowID(in.RequestID)
	// The SDK gives each call at most 10 s, however long ctx allows. Under a
	// burst the server may take longer and still start the workflow; the
	// call is then sent again with the same request id, which the server
	// recognises as the start it already made.
	ctx = connect.WithStartID(ctx, uuid.NewString())
	if _, ok := ctx.Deadline(); !ok {
		// A caller with no deadline of its own (a CLI, an HTTP handler) is
		// answered within a minute, started or not, while the server is
		// overloaded or away.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	var run client.WorkflowRun
	var err error
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                       wid,
			TaskQueue:                workflows.TaskQueue,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			// Without this the SDK silently returns a running workflow of the same
			// id, and Start could not tell "started" from "already there".
			WorkflowExecutionErrorWhenAlreadyStarted: true,
			TypedSearchAttributes:                    workflows.StartAttributes(in),
		}, workflows.Request, in)
		if !timedOut(err) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return existing(ctx, c, in)
	}
	if err != nil {
		return Started{}, fmt.Errorf("start request %s: %w", in.RequestID, err)
	}
	v := View{ID: in.RequestID, WorkflowID: wid, RunID: run.GetRunID(), Workflow: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING.String(),
		RequestState: workflows.RequestState{RequestID: in.RequestID, Type: in.Type, Regulation: in.Regulation, Status: domain.StatusReceived,
			ReceivedAt: in.ReceivedAt, DueAt: in.DueAt, OriginalDueAt: in.DueAt, IdentityVerified: in.IdentityVerified}}
	v.DaysLeft = domain.DaysLeft(v.DueAt, time.Now())
	return Started{View: v}, nil
}

// timedOut tells a call that ran out of the SDK's own per-call time.
func timedOut(err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &deadline) || status.Code(err) == codes.DeadlineExceeded
}

// existing answers a start of a request id Temporal already has, from
// what the server records of it (no worker needed): the same request, or
// ErrIDTaken. The receipt time is not compared: a retried command without
// --received stamps a new "now", and the first start stays authoritative.
func existing(ctx context.Context, c client.Client, in workflows.RequestInput) (Started, error) {
	v, err := Show(ctx, c, in.RequestID, summaryOnly())
	if err != nil {
		return Started{}, err
	}
	if v.Type != in.Type || v.Regulation != in.Regulation {
		return Started{}, fmt.Errorf("%w: %s belongs to a request of type %s under %s", ErrIDTaken, in.RequestID, v.Type, v.Regulation)
	}
	return Started{View: v, Existing: true}, nil
}

// View is a request as compliance sees it: the workflow's own state plus
// where to find it and how many days are left. It holds no personal data.
type View struct {
	workflows.RequestState
	ID         string `json:"id"`
	DaysLeft   int    `json:"days_left"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Workflow   string `json:"workflow_status"`
	Problem    string `json:"problem,omitempty"`
	// Retrying are the steps that failed and wait to run again: a request
	// that says only "fulfilling" while a system refuses hides the cause.
	Retrying []Retrying `json:"retrying,omitempty"`
}

// Retrying is one step that failed at least once and will run again.
type Retrying struct {
	Activity string `json:"activity"`
	// Attempt is the attempt running or next; MaxAttempts 0 means until
	// the step's deadline.
	Attempt     int32     `json:"attempt"`
	MaxAttempts int32     `json:"max_attempts"`
	LastError   string    `json:"last_error"`
	NextAt      time.Time `json:"next_at,omitzero"`
}

func (r Retrying) String() string {
	of := "no fixed limit"
	if r.MaxAttempts > 0 {
		of = fmt.Sprint(r.MaxAttempts)
	}
	s := fmt.Sprintf("%s: attempt %d of %s; last error: %s", r.Activity, r.Attempt, of, r.LastError)
	if !r.NextAt.IsZero() {
		s += "; next attempt " + r.NextAt.UTC().Format(time.RFC3339)
	}
	return s
}

// Option tunes Show.
type Option func(*showOptions)

type showOptions struct {
	failures converter.FailureConverter
	summary  bool
}

// summaryOnly makes Show answer from what the server records (search
// attributes), without asking a worker for the workflow's state.
func summaryOnly() Option { return func(o *showOptions) { o.summary = true } }

// WithFailures lets Show read the last error of a retrying step, which
// the engine's failure converter keeps encrypted in the history.
func WithFailures(fc converter.FailureConverter) Option {
	return func(o *showOptions) { o.failures = fc }
}

// Show reads a request from its workflow: the search attributes for the
// summary, and the workflow's own state (query while running, result once
// completed) for the timeline.
func Show(ctx context.Context, c client.Client, requestID string, opts ...Option) (View, error) {
	var o showOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := domain.ValidateRequestID(requestID); err != nil {
		return View{}, err
	}
	wid := domain.WorkflowID(requestID)
	d, err := c.DescribeWorkflow(ctx, wid, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return View{}, fmt.Errorf("%w: %s", ErrNotFound, requestID)
	}
	if err != nil {
		return View{}, fmt.Errorf("show request %s: %w", requestID, err)
	}
	// The search attributes give the summary even when the workflow's state
	// cannot be read; the state, when it can, replaces it.
	sa := d.TypedSearchAttributes
	v := View{ID: requestID, WorkflowID: wid, RunID: d.WorkflowExecution.RunID, Workflow: d.Status.String()}
	typ, _ := sa.GetKeyword(workflows.AttrType)
	reg, _ := sa.GetKeyword(workflows.AttrRegulation)
	status, _ := sa.GetKeyword(workflows.AttrStatus)
	v.RequestID, v.Type, v.Regulation, v.Status = requestID, domain.RequestType(typ), domain.Regulation(reg), domain.Status(status)
	v.ReceivedAt, _ = sa.GetTime(workflows.AttrReceivedAt)
	v.DueAt, _ = sa.GetTime(workflows.AttrDueAt)

	var st workflows.RequestState
	switch {
	case o.summary:
	case d.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		q, err := c.QueryWorkflow(ctx, wid, "", workflows.QueryStatus)
		if err == nil {
			err = q.Get(&st)
		}
		if err != nil {
			v.Problem = "timeline unavailable (is a worker running?): " + err.Error()
		}
		v.Retrying = retrying(ctx, c, wid, o.failures)
	case d.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		if err := c.GetWorkflow(ctx, wid, d.WorkflowExecution.RunID).Get(ctx, &st); err != nil {
			v.Problem = "timeline unavailable: " + err.Error()
		}
	default:
		err := c.GetWorkflow(ctx, wid, d.WorkflowExecution.RunID).Get(ctx, nil)
		v.Problem = fmt.Sprintf("workflow %s: %v", d.Status, err)
		if v.Status == "" || !v.Status.Terminal() {
			v.Status = domain.StatusNeedsAttention
		}
	}
	if st.RequestID != "" {
		// The workflow's own times keep the receipt's UTC offset, so the due
		// date reads as the calendar day the law counts.
		if st.Status == "" { // not yet recorded: the start attributes say received
			st.Status = v.Status
		}
		v.RequestState = st
	}
	v.DaysLeft = domain.DaysLeft(v.DueAt, time.Now())
	return v, nil
}

// retrying lists the workflow's pending steps that have failed before.
// Without a failure converter the last error is only its kind: the
// message itself stays encrypted.
func retrying(ctx context.Context, c client.Client, wid string, fc converter.FailureConverter) []Retrying {
	d, err := c.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return nil
	}
	var out []Retrying
	for _, pa := range d.GetPendingActivities() {
		f := pa.GetLastFailure()
		if f == nil {
			continue
		}
		r := Retrying{Activity: pa.GetActivityType().GetName(), Attempt: pa.GetAttempt(), MaxAttempts: pa.GetMaximumAttempts()}
		if t := pa.GetNextAttemptScheduleTime(); t != nil {
			r.NextAt = t.AsTime()
		}
		switch {
		case fc != nil:
			r.LastError = fc.FailureToError(f).Error()
		case f.GetApplicationFailureInfo().GetType() != "":
			r.LastError = f.GetApplicationFailureInfo().GetType() + " (the message is encrypted)"
		default:
			r.LastError = "(the message is encrypted)"
		}
		out = append(out, r)
	}
	return out
}
