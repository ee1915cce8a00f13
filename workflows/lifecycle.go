package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
)

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
	// their records during discovery and confirmed by compliance.
	ids []domain.Identity
	// proposed are the linked identities proposed so far, in the order of
	// st.ProposedIdentities; linksOpen is true while compliance's
	// confirmation is awaited.
	proposed  []activities.ProposedLink
	linksOpen bool
	// provisional is set for a request recorded unverified: it joins its
	// subject, and is checked for duplicates, once verified.
	provisional bool
	policy      domain.ReminderPolicy
	closure     *Closure
	closeAs     domain.Status
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
	// resurrected are the erased systems where the aftercare's checks found
	// the subject's data again; eraseAgain is set by compliance's
	// erase-again, eraseAgainBy is who, passes counts the erasures again.
	resurrected  []string
	eraseAgain   bool
	eraseAgainBy string
	passes       int
	// retryRequested is set by an operator's retry; retriedBy is who.
	retryRequested bool
	retriedBy      string
	// artifacts are the exports of an access request, per system.
	artifacts map[string]records.Artifact
	// here is where the run waits now; resume is where a continued run
	// resumes, until it gets there (carry.go).
	here   place
	resume *place
	// continues is whether this run may continue as new, once asked, and
	// eventLimit the history length at which it does.
	continues  *bool
	eventLimit int
	// handingOver is set while the run waits for its handlers to finish
	// before it continues as new.
	handingOver bool
	// updates are the Updates accepted lately; runs counts earlier runs.
	updates []recentUpdate
	runs    int
}

func newLifecycle(st *RequestState, in RequestInput) *lifecycle {
	st.OriginalDueAt = in.DueAt
	st.IdentityVerified = in.IdentityVerified
	return &lifecycle{in: in, st: st, ids: slices.Clone(in.Identities), policy: in.ReminderPolicy(), lastAlert: in.ReceivedAt,
		decided: map[string]string{}, claimed: map[string]bool{}, artifacts: map[string]records.Artifact{}}
}

// admit checks a new request for duplicates, takes the reminder policy
// and acknowledges receipt; a continued run did all that already.
func (l *lifecycle) admit(ctx workflow.Context) error {
	if l.resuming() {
		return nil
	}
	var a *activities.Activities
	if lean(ctx) {
		// admitAtOnce did the rest; a duplicate gets no receipt.
		if l.closure == nil {
			l.notify(ctx, l.receipt())
		}
		return nil
	}
	if l.provisional {
		// Admitted as it stands: before verification nothing about another
		// request, not even that one exists, may reach its sender.
		l.admission = &Admission{}
	} else if dup, err := l.duplicate(ctx); err != nil || dup {
		return err
	}
	if l.in.Reminders.EscalateEvery == 0 {
		// No policy in the request: the data map's, as it is now.
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.ReminderPolicy).Get(ctx, &l.policy); err != nil {
			return fmt.Errorf("reminder policy: %w", err)
		}
	}
	l.notify(ctx, l.receipt())
	return nil
}

func (l *lifecycle) receipt() activities.Notice {
	return activities.Notice{RequestID: l.in.RequestID, To: ToSubject, Kind: "receipt",
		Text: fmt.Sprintf("We received your %s request under %s on %s and will answer by %s.",
			l.in.Type, l.in.Regulation, day(l.in.ReceivedAt), day(l.in.DueAt))}
}

// admitAtOnce records the request, its received status, its duplicate
// check (if verified) and the reminder policy (if the request has none)
// in one activity. The start's search attributes already say received.
func (l *lifecycle) admitAtOnce(ctx workflow.Context) error {
	var a *activities.Activities
	now := workflow.Now(ctx).UTC()
	var out activities.Admitted
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.Admit, activities.AdmitInput{
		Record: activities.RecordInput{Request: l.in, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, Provisional: l.provisional},
		At:     now, Duplicates: !l.provisional, Policy: l.in.Reminders.EscalateEvery == 0,
	}).Get(ctx, &out)
	if err != nil {
		return fmt.Errorf("record request: %w", err)
	}
	l.recorded = true
	l.st.Status = domain.StatusReceived
	l.st.Timeline = append(l.st.Timeline, StatusChange{Status: domain.StatusReceived, At: now, Actor: l.in.RequestedBy})
	if l.in.Reminders.EscalateEvery == 0 {
		l.policy = out.Policy
	}
	// Before verification nothing about another request, not even that
	// one exists, may reach its sender: an unverified request is admitted
	// as it stands and checked once verified.
	l.admitted(out.DuplicateOf)
	return nil
}

// admitted records the duplicate check's answer: the request goes ahead,
// or closes as the duplicate of the open one that answers the subject.
func (l *lifecycle) admitted(dup string) {
	if l.admission == nil {
		l.admission = &Admission{DuplicateOf: dup}
	}
	if dup != "" {
		l.closure, l.closeAs = &Closure{Actor: "engine", Reason: "duplicate of open request " + dup + ", which answers the subject"}, domain.StatusCancelled
	}
}

// duplicate closes the request as the duplicate of an older open one of
// the same kind for the same subject, if there is one.
func (l *lifecycle) duplicate(ctx workflow.Context) (bool, error) {
	var a *activities.Activities
	var dup string
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.FindOpenDuplicate, l.in.RequestID).Get(ctx, &dup); err != nil {
		return false, fmt.Errorf("duplicate check: %w", err)
	}
	l.admitted(dup)
	return dup != "", nil
}

// changeCloseUnverified guards the closing of a request whose subject was
// not verified in time; requests that waited before it wait on.
const changeCloseUnverified = "close-unverified"

func (l *lifecycle) run(ctx workflow.Context) (RequestState, error) {
	if err := l.admit(ctx); err != nil || l.closure != nil {
		if err != nil {
			return *l.st, err
		}
		return l.finish(ctx)
	}
	if !l.st.IdentityVerified && !l.resuming() && l.in.Type.WithoutVerification() {
		// The CCPA regulations forbid asking for verification of an
		// opt-out or a limit (§7026(d), §7027(e)): the identities given
		// only say whose records to act on.
		l.st.IdentityVerified = true
		l.note(ctx, "no identity verification: the CCPA requires none for "+string(l.in.Type))
		if l.provisional {
			if dup, err := l.attach(ctx); err != nil || dup {
				if err != nil {
					return *l.st, err
				}
				return l.finish(ctx)
			}
		}
	}
	if !l.st.IdentityVerified {
		if !l.resuming() {
			if err := advance(ctx, l.st, domain.StatusVerifying, "engine", "waiting for identity verification"); err != nil {
				return *l.st, err
			}
		}
		l.here, l.resume = place{Stage: stageVerification}, nil
		verified := func() bool { return l.st.IdentityVerified }
		expired, stop := false, func() {}
		if workflow.GetVersion(ctx, changeCloseUnverified, workflow.DefaultVersion, 1) >= 1 {
			// From the receipt, not from this run's start: a request that
			// continued as new keeps its one deadline for verification.
			closeAt := l.in.ReceivedAt.Add(l.policy.UnverifiedAfter())
			var tctx workflow.Context
			tctx, stop = workflow.WithCancel(ctx)
			workflow.Go(tctx, func(g workflow.Context) {
				if workflow.Sleep(g, max(closeAt.Sub(workflow.Now(g)), 0)) == nil {
					expired = true
				}
			})
			verified = func() bool { return l.st.IdentityVerified || expired }
		}
		err := l.await(ctx, "identity verification", func() []string { return []string{ToCompliance} }, verified)
		stop()
		if err != nil {
			return *l.st, err
		}
		if expired && !l.st.IdentityVerified && l.closure == nil {
			l.close(Closure{Actor: "engine", Reason: fmt.Sprintf("your identity was not verified within %d days of your request; you may make a new request",
				int(l.policy.UnverifiedAfter().Hours()/24))}, domain.StatusDenied)
		}
		if l.closure != nil {
			return l.finish(ctx)
		}
		if l.provisional {
			if dup, err := l.attach(ctx); err != nil || dup {
				if err != nil {
					return *l.st, err
				}
				return l.finish(ctx)
			}
		}
	}

	if l.resumes(stageDiscovery) || l.resumes(stageLinks) {
		if err := l.discover(ctx); err != nil {
			return *l.st, err
		}
	}
	if l.resumes(stageSignOff) {
		if err := l.signOff(ctx); err != nil {
			return *l.st, err
		}
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
	case isRight(l.in.Type):
		answer = l.rightAnswer()
	}
	var kept []string
	for _, p := range l.st.Systems {
		if p.Exempt {
			kept = append(kept, fmt.Sprintf("%s (%s)", p.System, p.Basis))
		}
	}
	if len(kept) > 0 && !isRight(l.in.Type) {
		answer += " We keep data we are legally required to keep: " + strings.Join(kept, "; ") + "."
	}
	l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: ToSubject, Kind: "answer", Text: answer})
	l.flushNotices(ctx)
	if err := advance(ctx, l.st, domain.StatusCompleted, "engine", "answer sent"); err != nil {
		return *l.st, err
	}
	if l.in.Type == domain.Erasure && workflow.GetVersion(ctx, changeCryptoShred, workflow.DefaultVersion, 1) == 1 {
		if err := l.shred(ctx); err != nil {
			return *l.st, err
		}
	}
	return l.done(ctx)
}

// attach joins a provisional request to its subject, now known, and
// checks it for duplicates; it says whether it is one.
func (l *lifecycle) attach(ctx workflow.Context) (bool, error) {
	var a *activities.Activities
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.AttachSubject,
		activities.AttachInput{RequestID: l.in.RequestID, Identities: l.in.Identities}).Get(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("attach the verified subject: %w", err)
	}
	return l.duplicate(ctx)
}

// await blocks until cond holds or the request is closed, sending the
// policy's reminders to whoever owes the work and escalating to the
// compliance lead once overdue, as often as the policy says, until then.
// A long wait continues as new where it is (l.here) before the history
// grows large.
func (l *lifecycle) await(ctx workflow.Context, what string, owers func() []string, cond func() bool) error {
	l.st.WaitingFor = what
	defer func() { l.st.WaitingFor, l.handingOver = "", false }()
	for {
		l.flushNotices(ctx)
		if cond() || l.closure != nil {
			return nil
		}
		continues := l.mayContinue(ctx)
		if continues && l.longHistory(ctx) {
			// Nothing may be cut off: every handler finishes (its notices
			// are sent at the top of the loop) before the run hands over,
			// and meanwhile new changes are refused, to be sent again to
			// the next run, so that a stream of them cannot hold it here.
			l.handingOver = true
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			if len(l.pendingNotices) > 0 || cond() || l.closure != nil {
				continue
			}
			return l.continueAsNew(ctx)
		}
		now := workflow.Now(ctx)
		at, kind := l.policy.NextAlert(l.in.ReceivedAt, l.st.DueAt, l.lastAlert)
		l.dueChanged = false
		wake, err := workflow.AwaitWithTimeout(ctx, max(at.Sub(now), 0), func() bool {
			return cond() || l.closure != nil || l.dueChanged || len(l.pendingNotices) > 0 || continues && l.longHistory(ctx)
		})
		if err != nil {
			return err
		}
		if wake {
			continue
		}
		l.lastAlert = at
		// A request received long ago (a back-dated receipt) has alerts
		// due in the past. From version 1 it gets one catch-up alert, of
		// the kind now calls for, and then the policy's rhythm from now;
		// before, it fired every missed alert back to back.
		if workflow.GetVersion(ctx, "alerts-from-now", workflow.DefaultVersion, 1) >= 1 {
			if fired := workflow.Now(ctx); at.Before(fired) {
				l.lastAlert = fired
				if !fired.Before(l.st.DueAt) {
					kind = domain.Escalation
				}
			}
		}
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

func day(t time.Time) string { return t.Format("2 January 2006") }

// note adds an engine's remark to the timeline.
func (l *lifecycle) note(ctx workflow.Context, text string) {
	l.st.Timeline = append(l.st.Timeline, StatusChange{Status: l.st.Status, At: workflow.Now(ctx).UTC(), Actor: "engine", Note: text})
}
