package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
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
// Every change embeds claims.Signed: who made it comes from the signed
// claim. The Actor and Approver fields name the actor in histories from
// before claims; a new change may leave them empty, and if it fills them
// they must match the claim.
type Verification struct {
	claims.Signed
	Actor  string `json:"actor"`
	Method string `json:"method"` // e.g. "matched account login", "ID document checked"
}

// ExtensionRequest asks to move the deadline.
type ExtensionRequest struct {
	claims.Signed
	Actor  string        `json:"actor"`
	By     domain.Period `json:"by"`
	Reason string        `json:"reason"`
}

// Closure ends a request early: cancelled by compliance or denied.
type Closure struct {
	claims.Signed
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

// UpdateDecide is a department's sign-off decision.
const UpdateDecide = "decide"

// Decision is one department's answer: approve, or object with the legal
// basis for keeping the data. Approver names the person as the data map
// lists them (Slack user id or e-mail); Via says where the click came from.
type Decision struct {
	claims.Signed
	Department string `json:"department"`
	Decision   string `json:"decision"` // approve or object
	LegalBasis string `json:"legal_basis,omitempty"`
	Approver   string `json:"approver"`
	Via        string `json:"via"` // e.g. "cli:alice", "slack"
}

// UpdateRetry resumes a request in needs_attention.
const UpdateRetry = "retry"

// Retry is an operator's go-ahead after fixing a failing system.
type Retry struct {
	claims.Signed
	Actor string `json:"actor"`
}

// UpdateEraseAgain erases again, during a completed erasure's aftercare,
// the systems where a resurrection check found the subject's data again.
const UpdateEraseAgain = "erase-again"

// EraseAgain says who asked.
type EraseAgain struct {
	claims.Signed
	Actor string `json:"actor"`
}

// UpdateConfirmConsent is the subject's confirmation of a double opt-in.
const UpdateConfirmConsent = "confirm-consent"

// Confirmation records how the subject confirmed, e.g. "e-mail link".
type Confirmation struct {
	claims.Signed
	Channel string `json:"channel"`
}

// UpdateCompleteTask is a department's confirmation of a manual task.
const UpdateCompleteTask = "complete-task"

// TaskCompletion is what the department reports.
type TaskCompletion struct {
	claims.Signed
	System   string `json:"system"`
	Outcome  string `json:"outcome"`
	Records  int64  `json:"records"`
	Note     string `json:"note"`
	Basis    string `json:"legal_basis,omitempty"`
	Approver string `json:"approver"`
	Via      string `json:"via"`
}

// Claims is the worker interceptor that checks every change's signed
// claim; only the admission Update, which changes nothing, goes unsigned.
func Claims(k claims.Keys) interceptor.WorkerInterceptor { return claims.Worker(k, UpdateAdmission) }

// mayChange says which roles may make each change. The CLI acts as admin
// (it holds the master key); approvers decide and confirm tasks only for
// the departments whose approvers the data map lists them among; a
// controller cancels only the requests it sent.
var mayChange = map[string][]string{
	UpdateVerifyIdentity:    {claims.RoleRequester, claims.RoleAdmin, claims.RoleSubject},
	UpdateExtend:            {claims.RoleRequester, claims.RoleAdmin},
	UpdateCancel:            {claims.RoleRequester, claims.RoleAdmin, claims.RoleController},
	UpdateDeny:              {claims.RoleRequester, claims.RoleAdmin},
	UpdateRetry:             {claims.RoleRequester, claims.RoleAdmin},
	UpdateEraseAgain:        {claims.RoleRequester, claims.RoleAdmin},
	UpdateConfirmConsent:    {claims.RoleRequester, claims.RoleAdmin},
	UpdateDecide:            {claims.RoleApprover, claims.RoleAdmin},
	UpdateCompleteTask:      {claims.RoleApprover, claims.RoleAdmin},
	UpdateReadTask:          {claims.RoleApprover, claims.RoleRequester, claims.RoleAdmin},
	UpdateConfirmIdentities: {claims.RoleRequester, claims.RoleAdmin},
}

// PrivacyCenter is who a request from the public privacy center's form
// was sent by (its RequestedBy).
const PrivacyCenter = "privacy-center"

// TypeHandingOver is the type of the error that refuses a change while the
// request continues as new: the same change sent again reaches the next
// run. requests' client does so by itself.
const TypeHandingOver = "HandingOver"

// claimFor returns the checked claim of the Update being validated, if its
// role may make the change op. Names given in the change's own fields must
// be the claim's actor.
func (l *lifecycle) claimFor(ctx workflow.Context, op string, names ...string) (claims.Claim, error) {
	c, ok := claims.Verified(ctx)
	if !ok {
		return c, fmt.Errorf("%s: %w", op, claims.ErrMissing)
	}
	if err := l.replayed(ctx); err != nil {
		return c, err
	}
	if l.handingOver {
		return c, temporal.NewApplicationError(fmt.Sprintf("%s: request %s is moving to its next run; send the change again", op, l.in.RequestID), TypeHandingOver)
	}
	if !slices.Contains(mayChange[op], c.Role) {
		return c, fmt.Errorf("%s: %s %s may not make this change", op, c.Role, c.Name)
	}
	if c.Role == claims.RoleController && c.Name != l.in.RequestedBy {
		return c, fmt.Errorf("%s: request %s was not sent by %s", op, l.in.RequestID, c.Name)
	}
	// A subject proves an address the privacy center sent a code to; a
	// request staff or a controller started was not theirs to verify.
	if c.Role == claims.RoleSubject && l.in.RequestedBy != PrivacyCenter {
		return c, fmt.Errorf("%s: request %s was not made on the privacy center", op, l.in.RequestID)
	}
	for _, n := range names {
		if n != "" && n != c.Name {
			return c, fmt.Errorf("%s: the change names %q, but it was made by %q", op, n, c.Name)
		}
	}
	return c, nil
}

// register installs every Update with its validator, the task query and
// the admission Update. The handlers below it only change the lifecycle's
// state (or write to the store for the record); run acts on that state.
func (l *lifecycle) register(ctx workflow.Context) error {
	for _, h := range []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdateVerifyIdentity, l.verify, l.validateVerify},
		{UpdateExtend, l.extend, l.validateExtend},
		{UpdateCancel, func(ctx workflow.Context, c Closure) error {
			l.accepted(ctx)
			return l.close(c, domain.StatusCancelled)
		}, l.validateClosure(UpdateCancel)},
		{UpdateDeny, func(ctx workflow.Context, c Closure) error { l.accepted(ctx); return l.close(c, domain.StatusDenied) }, l.validateClosure(UpdateDeny)},
		{UpdateDecide, l.decide, l.validateDecide},
		{UpdateRetry, l.retry, l.validateRetry},
		{UpdateEraseAgain, l.eraseAgainNow, l.validateEraseAgain},
		{UpdateConfirmConsent, l.confirm, l.validateConfirm},
		{UpdateCompleteTask, l.completeTask, l.validateCompleteTask},
		{UpdateReadTask, l.readTask, l.validateReadTask},
		{UpdateConfirmIdentities, l.confirmIdentities, l.validateConfirmIdentities},
	} {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.handler, workflow.UpdateHandlerOptions{Validator: h.validator}); err != nil {
			return err
		}
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
	if _, err := l.claimFor(ctx, UpdateVerifyIdentity, v.Actor); err != nil {
		return err
	}
	if strings.TrimSpace(v.Method) == "" {
		return errors.New("verify-identity needs the method used (e.g. \"matched account login\")")
	}
	return nil
}

func (l *lifecycle) verify(ctx workflow.Context, v Verification) error {
	l.accepted(ctx)
	l.st.IdentityVerified = true
	l.st.Timeline = append(l.st.Timeline, StatusChange{Status: l.st.Status, At: workflow.Now(ctx).UTC(), Actor: v.NameOr(v.Actor), Note: "identity verified: " + v.Method})
	return nil
}

func (l *lifecycle) validateExtend(ctx workflow.Context, e ExtensionRequest) error {
	if err := l.open(); err != nil {
		return err
	}
	if _, err := l.claimFor(ctx, UpdateExtend, e.Actor); err != nil {
		return err
	}
	if strings.TrimSpace(e.Reason) == "" {
		return errors.New("extend needs a reason, which the subject is told")
	}
	// The subject must be told of an extension within the original period.
	if now := workflow.Now(ctx); now.After(l.st.OriginalDueAt) {
		return fmt.Errorf("the original deadline %s has passed: an extension must be decided and told to the subject before it", day(l.st.OriginalDueAt))
	}
	_, err := domain.ExtendedDueFor(l.in.Type, l.in.Regulation, l.in.ReceivedAt, l.st.Extensions, e.By)
	return err
}

// extend moves the deadline. The store write and the notice to the subject
// run inside the handler so the caller learns the new deadline only once
// it is recorded.
func (l *lifecycle) extend(ctx workflow.Context, e ExtensionRequest) (time.Time, error) {
	l.accepted(ctx)
	if err := workflow.Await(ctx, func() bool { return l.recorded }); err != nil {
		return time.Time{}, err
	}
	due, err := domain.ExtendedDueFor(l.in.Type, l.in.Regulation, l.in.ReceivedAt, l.st.Extensions, e.By)
	if err != nil {
		return time.Time{}, err
	}
	var a *activities.Activities
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.RecordExtension, activities.ExtensionInput{
		RequestID: l.in.RequestID, DueAt: due, Actor: e.NameOr(e.Actor), Reason: e.Reason,
	}).Get(ctx, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("record extension: %w", err)
	}
	l.st.Extensions = append(l.st.Extensions, domain.Extension{By: e.By, Reason: e.Reason})
	l.st.DueAt = due
	l.dueChanged = true
	l.st.Timeline = append(l.st.Timeline, StatusChange{Status: l.st.Status, At: workflow.Now(ctx).UTC(), Actor: e.NameOr(e.Actor),
		Note: fmt.Sprintf("deadline extended by %s to %s: %s", e.By, day(due), e.Reason)})
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrDueAt.ValueSet(due.UTC())); err != nil {
		return time.Time{}, err
	}
	l.pendingNotices = append(l.pendingNotices, activities.Notice{RequestID: l.in.RequestID, To: ToSubject, Kind: "extension",
		Text: fmt.Sprintf("We need more time to answer your %s request: we will answer by %s. Reason: %s", l.in.Type, day(due), e.Reason)})
	return due, nil
}

func (l *lifecycle) validateClosure(op string) func(workflow.Context, Closure) error {
	return func(ctx workflow.Context, c Closure) error {
		if err := l.open(); err != nil {
			return err
		}
		if _, err := l.claimFor(ctx, op, c.Actor); err != nil {
			return err
		}
		if strings.TrimSpace(c.Reason) == "" {
			return errors.New("closing a request needs a reason, which is recorded")
		}
		return nil
	}
}

func (l *lifecycle) close(c Closure, as domain.Status) error {
	c.Actor = c.NameOr(c.Actor)
	l.closure, l.closeAs = &c, as
	return nil
}

func (l *lifecycle) validateDecide(ctx workflow.Context, d Decision) error {
	if err := l.open(); err != nil {
		return err
	}
	if !l.signOffOpen {
		return fmt.Errorf("request %s is not waiting for sign-off (it is %s)", l.in.RequestID, l.st.Status)
	}
	if prior, ok := l.decided[d.Department]; ok {
		return fmt.Errorf("%s has already decided on request %s (%s)", d.Department, l.in.RequestID, prior)
	}
	if !slices.Contains(l.st.PendingDepartments, d.Department) {
		return fmt.Errorf("request %s needs no sign-off from %q", l.in.RequestID, d.Department)
	}
	c, err := l.claimFor(ctx, UpdateDecide, d.Approver)
	if err != nil {
		return err
	}
	if !slices.Contains(l.approvers[d.Department], c.Name) {
		return fmt.Errorf("%q is not an approver for %s", c.Name, d.Department)
	}
	switch d.Decision {
	case "approve":
	case "object":
		if strings.TrimSpace(d.LegalBasis) == "" {
			return errors.New("an objection must state its legal basis for keeping the data (e.g. \"tax law keeps invoices for 10 years\")")
		}
	default:
		return fmt.Errorf("decision %q: must be approve or object", d.Decision)
	}
	return nil
}

// decide records a decision in the store first, then in the workflow's
// state, so the audit log never lacks a decision the request acted on.
func (l *lifecycle) decide(ctx workflow.Context, d Decision) error {
	l.accepted(ctx)
	actor := d.Author(d.Approver + " via " + d.Via)
	// Claimed before the store write, so a second click that arrives while
	// it runs is refused by the validator.
	l.decided[d.Department] = d.Decision + " by " + actor
	so := records.SignOff{RequestID: l.in.RequestID, Department: d.Department, Decision: d.Decision, LegalBasis: d.LegalBasis, Actor: actor, DecidedAt: workflow.Now(ctx).UTC()}
	var a *activities.Activities
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.RecordSignOff, so).Get(ctx, nil); err != nil {
		delete(l.decided, d.Department)
		return fmt.Errorf("record sign-off: %w", err)
	}
	l.st.SignOffs = append(l.st.SignOffs, so)
	l.st.PendingDepartments = slices.DeleteFunc(l.st.PendingDepartments, func(x string) bool { return x == d.Department })
	if d.Decision == "object" {
		for i := range l.st.Systems {
			if l.st.Systems[i].Department == d.Department && l.st.Systems[i].Found > 0 {
				l.st.Systems[i].Exempt, l.st.Systems[i].Basis = true, d.LegalBasis
			}
		}
	}
	l.st.Timeline = append(l.st.Timeline, StatusChange{Status: l.st.Status, At: so.DecidedAt, Actor: actor,
		Note: strings.TrimSpace(fmt.Sprintf("%s: %s %s", d.Department, d.Decision, d.LegalBasis))})
	if workflow.GetVersion(ctx, changeOutcomeNotices, workflow.DefaultVersion, 1) == 1 {
		// Wherever the decision came from, the department's message (in
		// Slack) comes to show it.
		facts := l.facts()
		facts.Outcome, facts.Actor, facts.At, facts.Basis = d.Decision, actor, so.DecidedAt, d.LegalBasis
		l.pendingNotices = append(l.pendingNotices, activities.Notice{RequestID: l.in.RequestID, To: d.Department, Kind: "signoff-decided", Facts: facts,
			Text: fmt.Sprintf("Request %s: %s's decision recorded: %s by %s.", l.in.RequestID, d.Department, d.Decision, actor)})
	}
	return workflow.UpsertTypedSearchAttributes(ctx, AttrPendingDepartments.ValueSet(l.st.PendingDepartments))
}

func (l *lifecycle) validateRetry(ctx workflow.Context, r Retry) error {
	if err := l.open(); err != nil {
		return err
	}
	if l.st.Status != domain.StatusNeedsAttention || l.retryRequested {
		return fmt.Errorf("request %s does not need attention (it is %s)", l.in.RequestID, l.st.Status)
	}
	_, err := l.claimFor(ctx, UpdateRetry, r.Actor)
	return err
}

func (l *lifecycle) retry(ctx workflow.Context, r Retry) error {
	l.accepted(ctx)
	l.retryRequested, l.retriedBy = true, r.NameOr(r.Actor)
	return nil
}

// validateEraseAgain accepts compliance's erase-again only while the
// aftercare has found data again and not yet been asked; the request is
// completed by then, so this is the one change it takes.
func (l *lifecycle) validateEraseAgain(ctx workflow.Context, r EraseAgain) error {
	if l.legacy || l.in.Type != domain.Erasure || len(l.resurrected) == 0 {
		return fmt.Errorf("request %s has no data found again after its erasure to erase", l.in.RequestID)
	}
	if l.eraseAgain {
		return fmt.Errorf("request %s is already erasing again", l.in.RequestID)
	}
	_, err := l.claimFor(ctx, UpdateEraseAgain, r.Actor)
	return err
}

func (l *lifecycle) eraseAgainNow(ctx workflow.Context, r EraseAgain) error {
	l.accepted(ctx)
	l.eraseAgain, l.eraseAgainBy = true, r.NameOr(r.Actor)
	return nil
}

func (l *lifecycle) validateConfirm(ctx workflow.Context, c Confirmation) error {
	if err := l.open(); err != nil {
		return err
	}
	if !l.awaitingConfirmation || l.confirmedVia != "" {
		return fmt.Errorf("request %s is not waiting for a consent confirmation", l.in.RequestID)
	}
	if _, err := l.claimFor(ctx, UpdateConfirmConsent); err != nil {
		return err
	}
	if strings.TrimSpace(c.Channel) == "" {
		return errors.New("a confirmation must say how the subject confirmed (e.g. \"e-mail link\")")
	}
	return nil
}

func (l *lifecycle) confirm(ctx workflow.Context, c Confirmation) error {
	l.accepted(ctx)
	l.confirmedVia = c.Channel
	l.st.Timeline = append(l.st.Timeline, StatusChange{Status: l.st.Status, At: workflow.Now(ctx).UTC(), Actor: "subject", Note: "consent confirmed via " + c.Channel + recordedBy(c.Signed)})
	return nil
}

// recordedBy names who recorded the subject's confirmation.
func recordedBy(s claims.Signed) string {
	if name := s.NameOr(""); name != "" {
		return " (recorded by " + name + ")"
	}
	return ""
}

func (l *lifecycle) validateCompleteTask(ctx workflow.Context, c TaskCompletion) error {
	if err := l.open(); err != nil {
		return err
	}
	claim, err := l.claimFor(ctx, UpdateCompleteTask, c.Approver)
	if err != nil {
		return err
	}
	t := l.task(c.System)
	switch {
	case t == nil:
		return fmt.Errorf("request %s has no manual task in %q", l.in.RequestID, c.System)
	case t.Outcome != "":
		return fmt.Errorf("the task in %s is already confirmed (%s by %s)", c.System, t.Outcome, t.Actor)
	case l.claimed[c.System]:
		return fmt.Errorf("the task in %s is already being confirmed", c.System)
	case !slices.Contains(l.approvers[t.Department], claim.Name):
		return fmt.Errorf("%q is not an approver for %s", claim.Name, t.Department)
	case strings.TrimSpace(c.Note) == "":
		return errors.New("a task is confirmed with a note saying what was done (e.g. \"3 forms shredded\")")
	case c.Records < 0:
		return errors.New("records cannot be negative")
	}
	switch c.Outcome {
	case TaskDone:
	case TaskNotHeld:
		if c.Records != 0 {
			return errors.New("not_held means no records: give --records 0")
		}
	case TaskKept:
		if t.Work != "erasure" || strings.TrimSpace(c.Basis) == "" {
			return errors.New("kept is an erasure outcome and needs the legal basis for keeping the data")
		}
	default:
		return fmt.Errorf("outcome %q: must be done, not_held or kept", c.Outcome)
	}
	return nil
}

// completeTask records the confirmation in the store's audit log first,
// then in the request, as decide does.
func (l *lifecycle) completeTask(ctx workflow.Context, c TaskCompletion) error {
	l.accepted(ctx)
	l.claimed[c.System] = true
	actor := c.Author(c.Approver + " via " + c.Via)
	t := l.task(c.System)
	now := workflow.Now(ctx).UTC()
	var a *activities.Activities
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.RecordTask, activities.TaskRecord{
		RequestID: l.in.RequestID, System: c.System, Department: t.Department, Work: t.Work, Outcome: c.Outcome,
		Records: c.Records, Note: c.Note, LegalBasis: c.Basis, Actor: actor, At: now,
	}).Get(ctx, nil)
	if err != nil {
		delete(l.claimed, c.System)
		return fmt.Errorf("record task: %w", err)
	}
	t.Outcome, t.Records, t.Note, t.LegalBasis, t.Actor, t.At = c.Outcome, c.Records, c.Note, c.Basis, actor, now
	p := l.progress(c.System)
	p.Found = c.Records
	p.Done = fmt.Sprintf("manual task %s: %d records: %s", c.Outcome, c.Records, c.Note)
	switch c.Outcome {
	case TaskKept:
		p.Exempt, p.Basis = true, c.Basis
	case TaskDone, TaskNotHeld:
		// The department's confirmation is the verification of manual work.
		p.Verified = t.Work == "erasure"
	}
	l.st.Timeline = append(l.st.Timeline, StatusChange{Status: l.st.Status, At: now, Actor: actor,
		Note: fmt.Sprintf("%s: manual %s task %s (%d records)", c.System, t.Work, c.Outcome, c.Records)})
	if workflow.GetVersion(ctx, changeOutcomeNotices, workflow.DefaultVersion, 1) == 1 {
		facts := l.facts()
		facts.System, facts.Outcome, facts.Actor, facts.At, facts.Basis = c.System, c.Outcome, actor, now, c.Basis
		l.pendingNotices = append(l.pendingNotices, activities.Notice{RequestID: l.in.RequestID, To: t.Department, Kind: "task-done", Facts: facts,
			Text: fmt.Sprintf("Request %s: the task in %s is confirmed %s by %s.", l.in.RequestID, c.System, c.Outcome, actor)})
	}
	return nil
}
