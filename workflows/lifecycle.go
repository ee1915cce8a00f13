package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
)

// Updates a request accepts. Each is validated before it is written to
// history, so a refused one leaves no trace but the caller's error, and an
// accepted one is recorded with its actor.
const (
	UpdateVerifyIdentity = "verify-identity"
	UpdateExtend         = "extend"
	UpdateCancel         = "cancel"
	UpdateDeny           = "deny"
	// UpdateAdmission waits until the request is admitted or found to
	// duplicate an open one; the client sends it right after the start.
	UpdateAdmission = "admission"
)

// Admission says whether a new request goes ahead. A second request of the
// same kind for the same subject while one is open is closed as its
// duplicate, and the open one answers the subject.
type Admission struct {
	DuplicateOf string `json:"duplicate_of,omitempty"`
}

// Verification records how compliance verified the subject's identity.
type Verification struct {
	Actor  string `json:"actor"`
	Method string `json:"method"` // e.g. "matched account login", "ID document checked"
}

// ExtensionRequest asks to move the deadline.
type ExtensionRequest struct {
	Actor  string        `json:"actor"`
	By     domain.Period `json:"by"`
	Reason string        `json:"reason"`
}

// Closure ends a request early: cancelled by compliance or denied.
type Closure struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

// Recipients of alerts, by role; the notifier maps them to channels.
const (
	ToSubject        = "subject"
	ToCompliance     = "compliance"
	ToComplianceLead = "compliance-lead"
)

// lifecycle is one request's run. Its fields are the workflow's state; the
// update handlers only change them, and run acts on them.
type lifecycle struct {
	in RequestInput
	st *RequestState
	// ids are the subject's identities: those given, and those found in
	// their records during discovery.
	ids     []domain.Identity
	policy  domain.ReminderPolicy
	closure *Closure
	closeAs domain.Status
	// lastAlert is the time of the last alert sent (or receipt): the next
	// one is the policy's first point after it.
	lastAlert time.Time
	// dueChanged wakes the deadline loop when an extension moved the deadline.
	dueChanged bool
	// pendingNotices are notices handlers asked for; run sends them, since
	// an update handler should return promptly.
	pendingNotices []activities.Notice
	// legacy marks a request started before the lifecycle existed: it
	// accepts no changes.
	legacy bool
	// recorded is set once the store has the request; handlers that write
	// to the store wait for it, since an update may arrive first.
	recorded bool
	// admission is set once the duplicate check ran.
	admission *Admission
	// systems is the data map's systems as discovery saw them.
	systems []activities.SystemRef
	// approvers per department, snapshot when sign-off begins.
	approvers map[string][]string
	// signOffOpen is true while decisions are accepted.
	signOffOpen bool
	// decided maps a department to its decision, from the moment its
	// handler starts; claimed marks manual tasks the same way.
	decided map[string]string
	claimed map[string]bool
	// awaitingConfirmation is true while a double opt-in waits; confirmedVia
	// is how the subject confirmed.
	awaitingConfirmation bool
	confirmedVia         string
	// retryRequested is set by an operator's retry; retriedBy is who.
	retryRequested bool
	retriedBy      string
}

func newLifecycle(st *RequestState, in RequestInput) *lifecycle {
	st.OriginalDueAt = in.DueAt
	st.IdentityVerified = in.IdentityVerified
	return &lifecycle{in: in, st: st, ids: slices.Clone(in.Identities), policy: in.ReminderPolicy(), lastAlert: in.ReceivedAt,
		decided: map[string]string{}, claimed: map[string]bool{}}
}

func (l *lifecycle) register(ctx workflow.Context) error {
	for _, h := range []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdateVerifyIdentity, l.verify, l.validateVerify},
		{UpdateExtend, l.extend, l.validateExtend},
		{UpdateCancel, func(ctx workflow.Context, c Closure) error { return l.close(c, domain.StatusCancelled) }, l.validateClosure},
		{UpdateDeny, func(ctx workflow.Context, c Closure) error { return l.close(c, domain.StatusDenied) }, l.validateClosure},
		{UpdateDecide, l.decide, l.validateDecide},
		{UpdateRetry, l.retry, l.validateRetry},
		{UpdateConfirmConsent, l.confirm, l.validateConfirm},
		{UpdateCompleteTask, l.completeTask, l.validateCompleteTask},
	} {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.handler, workflow.UpdateHandlerOptions{Validator: h.validator}); err != nil {
			return err
		}
	}
	if err := workflow.SetQueryHandler(ctx, QueryTask, l.taskView); err != nil {
		return err
	}
	return workflow.SetUpdateHandler(ctx, UpdateAdmission, func(ctx workflow.Context) (Admission, error) {
		if err := workflow.Await(ctx, func() bool { return l.admission != nil || l.legacy }); err != nil {
			return Admission{}, err
		}
		if l.legacy {
			return Admission{}, nil
		}
		return *l.admission, nil
	})
}

func (l *lifecycle) run(ctx workflow.Context) (RequestState, error) {
	var a *activities.Activities
	var dup string
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.FindOpenDuplicate, l.in.RequestID).Get(ctx, &dup); err != nil {
		return *l.st, fmt.Errorf("duplicate check: %w", err)
	}
	l.admission = &Admission{DuplicateOf: dup}
	if dup != "" {
		l.closure, l.closeAs = &Closure{Actor: "engine", Reason: "duplicate of open request " + dup + ", which answers the subject"}, domain.StatusCancelled
		return l.finish(ctx)
	}
	if l.in.Reminders.EscalateEvery == 0 {
		// No policy in the request: the data map's, as it is now.
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.ReminderPolicy).Get(ctx, &l.policy); err != nil {
			return *l.st, fmt.Errorf("reminder policy: %w", err)
		}
	}
	l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: ToSubject, Kind: "receipt",
		Text: fmt.Sprintf("We received your %s request under %s on %s and will answer by %s.",
			l.in.Type, l.in.Regulation, day(l.in.ReceivedAt), day(l.in.DueAt))})

	if !l.st.IdentityVerified {
		if err := advance(ctx, l.st, domain.StatusVerifying, "engine", "waiting for identity verification"); err != nil {
			return *l.st, err
		}
		if err := l.await(ctx, "identity verification", func() []string { return []string{ToCompliance} }, func() bool { return l.st.IdentityVerified }); err != nil {
			return *l.st, err
		}
		if l.closure != nil {
			return l.finish(ctx)
		}
	}

	if err := l.discover(ctx); err != nil {
		return *l.st, err
	}
	if err := l.signOff(ctx); err != nil {
		return *l.st, err
	}
	if l.closure != nil {
		return l.finish(ctx)
	}

	if err := l.fulfil(ctx); err != nil {
		return *l.st, err
	}
	if l.closure != nil {
		return l.finish(ctx)
	}

	if err := advance(ctx, l.st, domain.StatusAnswering, "engine", ""); err != nil {
		return *l.st, err
	}
	answer := fmt.Sprintf("Your %s request is answered.", l.in.Type)
	switch {
	case l.in.Consent != nil && l.st.Consent == "expired":
		answer = fmt.Sprintf("Your consent to %s was not confirmed in time, so we did not record it.", l.in.Consent.Purpose)
	case l.in.Consent != nil:
		answer = fmt.Sprintf("Your consent to %s is now %s in every system that uses it.", l.in.Consent.Purpose, l.st.Consent)
	case l.st.Package != "":
		answer = "Your data and what we do with it are ready for you to download."
	}
	var kept []string
	for _, p := range l.st.Systems {
		if p.Exempt {
			kept = append(kept, fmt.Sprintf("%s (%s)", p.System, p.Basis))
		}
	}
	if len(kept) > 0 {
		answer += " We keep data we are legally required to keep: " + strings.Join(kept, "; ") + "."
	}
	l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: ToSubject, Kind: "answer", Text: answer})
	l.flushNotices(ctx)
	if err := advance(ctx, l.st, domain.StatusCompleted, "engine", "answer sent"); err != nil {
		return *l.st, err
	}
	return l.done(ctx)
}

// await blocks until cond holds or the request is closed, sending the
// policy's reminders to whoever owes the work and escalating to the
// compliance lead once overdue, as often as the policy says, until then.
func (l *lifecycle) await(ctx workflow.Context, what string, owers func() []string, cond func() bool) error {
	l.st.WaitingFor = what
	defer func() { l.st.WaitingFor = "" }()
	for {
		l.flushNotices(ctx)
		if cond() || l.closure != nil {
			return nil
		}
		now := workflow.Now(ctx)
		at, kind := l.policy.NextAlert(l.in.ReceivedAt, l.st.DueAt, l.lastAlert)
		l.dueChanged = false
		wake, err := workflow.AwaitWithTimeout(ctx, max(at.Sub(now), 0), func() bool {
			return cond() || l.closure != nil || l.dueChanged || len(l.pendingNotices) > 0
		})
		if err != nil {
			return err
		}
		if wake {
			continue
		}
		l.lastAlert = at
		to := owers()
		if kind == domain.Escalation {
			to = append([]string{ToComplianceLead}, to...)
		}
		l.st.Alerts = append(l.st.Alerts, Alert{Kind: kind, At: workflow.Now(ctx).UTC(), To: to})
		text := l.alertText(ctx, kind, what)
		for _, recipient := range to {
			l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: recipient, Kind: string(kind), Text: text, Facts: l.facts()})
		}
	}
}

func (l *lifecycle) alertText(ctx workflow.Context, kind domain.AlertKind, what string) string {
	left := domain.DaysLeft(l.st.DueAt, workflow.Now(ctx))
	head := fmt.Sprintf("Request %s (%s under %s) is due %s", l.in.RequestID, l.in.Type, l.in.Regulation, day(l.st.DueAt))
	if kind == domain.Escalation {
		if left < 0 {
			return fmt.Sprintf("OVERDUE: %s, %d days ago; still waiting for %s.", head, -left, what)
		}
		return fmt.Sprintf("OVERDUE: %s, today; still waiting for %s.", head, what)
	}
	return fmt.Sprintf("Reminder: %s, %d days left; waiting for %s.", head, left, what)
}

// notify sends a notice. A notice that cannot be delivered after its
// retries does not stop the request: it is recorded in the timeline so the
// failure is visible, and the deadline machinery keeps escalating.
func (l *lifecycle) notify(ctx workflow.Context, n activities.Notice) {
	var a *activities.Activities
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, noticeActivity), a.Notify, n).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("notice not delivered", "to", n.To, "kind", n.Kind, "error", err)
		l.note(ctx, fmt.Sprintf("%s notice to %s not delivered: %v", n.Kind, n.To, err))
	}
}

func (l *lifecycle) flushNotices(ctx workflow.Context) {
	for len(l.pendingNotices) > 0 {
		n := l.pendingNotices[0]
		l.pendingNotices = l.pendingNotices[1:]
		l.notify(ctx, n)
	}
}

// finish ends a request that was cancelled or denied.
func (l *lifecycle) finish(ctx workflow.Context) (RequestState, error) {
	c := l.closure
	if l.closeAs == domain.StatusDenied {
		l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: ToSubject, Kind: "denial",
			Text: fmt.Sprintf("We cannot act on your %s request: %s.", l.in.Type, c.Reason)})
	}
	l.flushNotices(ctx)
	if err := advance(ctx, l.st, l.closeAs, c.Actor, c.Reason); err != nil {
		return *l.st, err
	}
	return l.done(ctx)
}

// done waits for running update handlers, so none is cut off by the end.
func (l *lifecycle) done(ctx workflow.Context) (RequestState, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return *l.st, err
	}
	return *l.st, nil
}

func (l *lifecycle) open() error {
	if l.legacy {
		return fmt.Errorf("request %s runs the first, receipt-only workflow and accepts no changes", l.in.RequestID)
	}
	if l.st.Status.Terminal() || l.closure != nil {
		return fmt.Errorf("request %s is already %s", l.in.RequestID, l.finalStatus())
	}
	return nil
}

func (l *lifecycle) finalStatus() domain.Status {
	if l.closure != nil {
		return l.closeAs
	}
	return l.st.Status
}

func (l *lifecycle) validateVerify(ctx workflow.Context, v Verification) error {
	if err := l.open(); err != nil {
		return err
	}
	if l.st.IdentityVerified {
		return fmt.Errorf("identity of request %s is already verified", l.in.RequestID)
	}
	if strings.TrimSpace(v.Actor) == "" || strings.TrimSpace(v.Method) == "" {
		return errors.New("verify-identity needs an actor and the method used (e.g. \"matched account login\")")
	}
	return nil
}

func (l *lifecycle) verify(ctx workflow.Context, v Verification) error {
	l.st.IdentityVerified = true
	l.st.Timeline = append(l.st.Timeline, StatusChange{Status: l.st.Status, At: workflow.Now(ctx).UTC(), Actor: v.Actor, Note: "identity verified: " + v.Method})
	return nil
}

func (l *lifecycle) validateExtend(ctx workflow.Context, e ExtensionRequest) error {
	if err := l.open(); err != nil {
		return err
	}
	if strings.TrimSpace(e.Actor) == "" || strings.TrimSpace(e.Reason) == "" {
		return errors.New("extend needs an actor and a reason, which the subject is told")
	}
	// The subject must be told of an extension within the original period.
	if now := workflow.Now(ctx); now.After(l.st.OriginalDueAt) {
		return fmt.Errorf("the original deadline %s has passed: an extension must be decided and told to the subject before it", day(l.st.OriginalDueAt))
	}
	_, err := domain.ExtendedDueAt(l.in.Regulation, l.in.ReceivedAt, l.st.Extensions, e.By)
	return err
}

// extend moves the deadline. The store write and the notice to the subject
// run inside the handler so the caller learns the new deadline only once
// it is recorded.
func (l *lifecycle) extend(ctx workflow.Context, e ExtensionRequest) (time.Time, error) {
	if err := workflow.Await(ctx, func() bool { return l.recorded }); err != nil {
		return time.Time{}, err
	}
	due, err := domain.ExtendedDueAt(l.in.Regulation, l.in.ReceivedAt, l.st.Extensions, e.By)
	if err != nil {
		return time.Time{}, err
	}
	var a *activities.Activities
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.RecordExtension, activities.ExtensionInput{
		RequestID: l.in.RequestID, DueAt: due, Actor: e.Actor, Reason: e.Reason,
	}).Get(ctx, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("record extension: %w", err)
	}
	l.st.Extensions = append(l.st.Extensions, domain.Extension{By: e.By, Reason: e.Reason})
	l.st.DueAt = due
	l.dueChanged = true
	l.st.Timeline = append(l.st.Timeline, StatusChange{Status: l.st.Status, At: workflow.Now(ctx).UTC(), Actor: e.Actor,
		Note: fmt.Sprintf("deadline extended by %s to %s: %s", e.By, day(due), e.Reason)})
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrDueAt.ValueSet(due.UTC())); err != nil {
		return time.Time{}, err
	}
	l.pendingNotices = append(l.pendingNotices, activities.Notice{RequestID: l.in.RequestID, To: ToSubject, Kind: "extension",
		Text: fmt.Sprintf("We need more time to answer your %s request: we will answer by %s. Reason: %s", l.in.Type, day(due), e.Reason)})
	return due, nil
}

func (l *lifecycle) validateClosure(ctx workflow.Context, c Closure) error {
	if err := l.open(); err != nil {
		return err
	}
	if strings.TrimSpace(c.Actor) == "" || strings.TrimSpace(c.Reason) == "" {
		return errors.New("closing a request needs an actor and a reason, which are recorded")
	}
	return nil
}

func (l *lifecycle) close(c Closure, as domain.Status) error {
	l.closure, l.closeAs = &c, as
	return nil
}

func day(t time.Time) string { return t.Format("2 January 2006") }
