package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/store"
)

// UpdateDecide is a department's sign-off decision.
const UpdateDecide = "decide"

// Decision is one department's answer: approve, or object with the legal
// basis for keeping the data. Approver names the person as the data map
// lists them (Slack user id or e-mail); Via says where the click came from.
type Decision struct {
	Department string `json:"department"`
	Decision   string `json:"decision"` // approve or object
	LegalBasis string `json:"legal_basis,omitempty"`
	Approver   string `json:"approver"`
	Via        string `json:"via"` // e.g. "cli:alice", "slack"
}

// SystemProgress is where one system stands in a request.
type SystemProgress struct {
	System     string `json:"system"`
	Department string `json:"department"`
	Found      int64  `json:"found"`
	// Exempt is set when the department objected: the system's data is kept
	// on that legal basis, and the answer to the subject says so.
	Exempt   bool              `json:"exempt,omitempty"`
	Basis    string            `json:"basis,omitempty"`
	Evidence connectors.Result `json:"evidence"`
	// Done says what fulfilment did, e.g. "deleted 3 in customers".
	Done string `json:"done,omitempty"`
	// Verified is set when the verification pass found nothing left.
	Verified bool `json:"verified,omitempty"`
	// Manual marks a system without an API, done by a task.
	Manual bool `json:"manual,omitempty"`
}

// discoveryActivity asks one system; systems are slow or flaky in their own
// ways, so attempts are bounded and a misconfigured system fails at once.
var discoveryActivity = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Minute,
	HeartbeatTimeout:    time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        5 * time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        10 * time.Minute,
		MaximumAttempts:        10,
		NonRetryableErrorTypes: []string{"BadConfig", "PermissionDenied"},
	},
}

// discover asks every system of the data map in parallel what it holds.
func (l *lifecycle) discover(ctx workflow.Context) error {
	if err := advance(ctx, l.st, domain.StatusDiscovery, "engine", ""); err != nil {
		return err
	}
	var a *activities.Activities
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.ListSystems).Get(ctx, &l.systems); err != nil {
		return fmt.Errorf("list systems: %w", err)
	}
	automatic := l.systems
	if slices.ContainsFunc(l.systems, func(s activities.SystemRef) bool { return s.Manual != nil }) &&
		workflow.GetVersion(ctx, changeManualTasks, workflow.DefaultVersion, 1) == 1 {
		automatic = nil
		for _, s := range l.systems {
			if s.Manual == nil {
				automatic = append(automatic, s)
				continue
			}
			// What a manual system holds is known only once its task is done.
			l.st.Systems = append(l.st.Systems, SystemProgress{System: s.Name, Department: s.Department, Manual: true})
		}
	}
	if err := l.discoverIn(ctx, automatic); err != nil || l.closure != nil {
		return err
	}
	if workflow.GetVersion(ctx, changeLinkedIdentities, workflow.DefaultVersion, 1) == 1 {
		return l.followLinks(ctx, automatic)
	}
	return nil
}

// discoverIn asks the systems what they hold on the subject, replacing
// what they said before.
func (l *lifecycle) discoverIn(ctx workflow.Context, systems []activities.SystemRef) error {
	var a *activities.Activities
	l.st.Systems = slices.DeleteFunc(l.st.Systems, func(p SystemProgress) bool { return !p.Manual })
	return l.eachSystem(ctx, domain.StatusDiscovery, systems, func(ctx workflow.Context, s activities.SystemRef) workflow.Future {
		return workflow.ExecuteActivity(ctx, a.Discover, activities.DiscoverInput{RequestID: l.in.RequestID, System: s.Name, Identities: l.ids})
	}, func(s activities.SystemRef, f workflow.Future) error {
		var res connectors.Result
		if err := f.Get(ctx, &res); err != nil {
			return err
		}
		l.st.Systems = slices.DeleteFunc(l.st.Systems, func(p SystemProgress) bool { return p.System == s.Name })
		l.st.Systems = append(l.st.Systems, SystemProgress{System: s.Name, Department: s.Department, Found: res.Total(), Evidence: res})
		slices.SortFunc(l.st.Systems, func(x, y SystemProgress) int { return strings.Compare(x.System, y.System) })
		return nil
	})
}

// changeLinkedIdentities guards following the identities found in the
// subject's records (the customer number on the row found by e-mail).
const changeLinkedIdentities = "linked-identities"

// maxIdentities bounds how far links are followed: a shared phone number
// must not pull in a whole household's or company's records unchecked.
const maxIdentities = 20

// followLinks looks for the subject again with the identities their
// records hold, until no new one turns up (at most three rounds), so that a
// request made with an e-mail also reaches the systems keyed by customer
// number. Every later step uses the whole set.
func (l *lifecycle) followLinks(ctx workflow.Context, systems []activities.SystemRef) error {
	var a *activities.Activities
	for range 3 {
		var holding []string
		for _, p := range l.st.Systems {
			if p.Found > 0 && !p.Manual {
				holding = append(holding, p.System)
			}
		}
		if len(holding) == 0 {
			return nil
		}
		var found []domain.Identity
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, discoveryActivity), a.LinkedIdentities,
			activities.LinkInput{RequestID: l.in.RequestID, Systems: holding, Identities: l.ids}).Get(ctx, &found)
		if err != nil {
			// The request goes on with the identities it has; the timeline says
			// the search for more failed, for compliance to judge.
			l.note(ctx, fmt.Sprintf("could not look for further identities in the subject's records: %v", err))
			return nil
		}
		var added []string
		for _, id := range found {
			if len(l.ids) == maxIdentities {
				l.note(ctx, fmt.Sprintf("stopped following linked identities at %d; check the subject's records by hand", maxIdentities))
				break
			}
			if !slices.Contains(l.ids, id) {
				l.ids = append(l.ids, id)
				added = append(added, string(id.Kind))
			}
		}
		if len(added) == 0 {
			return nil
		}
		l.note(ctx, fmt.Sprintf("the subject's records hold %d more identities (%s); looking again with them", len(added), strings.Join(added, ", ")))
		if err := l.discoverIn(ctx, systems); err != nil || l.closure != nil {
			return err
		}
	}
	return nil
}

// note adds an engine's remark to the timeline.
func (l *lifecycle) note(ctx workflow.Context, text string) {
	l.st.Timeline = append(l.st.Timeline, StatusChange{Status: l.st.Status, At: workflow.Now(ctx).UTC(), Actor: "engine", Note: text})
}

// eachSystem runs one activity per system in parallel. A system that keeps
// failing puts the request in needs_attention and tells its department; an
// operator's retry runs only the systems that failed, in the same phase.
func (l *lifecycle) eachSystem(ctx workflow.Context, phase domain.Status, systems []activities.SystemRef,
	start func(workflow.Context, activities.SystemRef) workflow.Future, done func(activities.SystemRef, workflow.Future) error) error {
	actx := workflow.WithActivityOptions(ctx, discoveryActivity)
	todo := systems
	for len(todo) > 0 {
		futures := make([]workflow.Future, len(todo))
		for i, s := range todo {
			futures[i] = start(actx, s)
		}
		var failed []activities.SystemRef
		var problems []string
		for i, f := range futures {
			if err := done(todo[i], f); err != nil {
				failed = append(failed, todo[i])
				problems = append(problems, fmt.Sprintf("%s: %v", todo[i].Name, err))
			}
		}
		if len(failed) == 0 {
			return nil
		}
		if err := l.needsAttention(ctx, failed, problems); err != nil || l.closure != nil {
			return err
		}
		todo = failed
		if err := advance(ctx, l.st, phase, l.retriedBy, "retrying "+strings.Join(names(failed), ", ")); err != nil {
			return err
		}
	}
	return nil
}

// needsAttention parks the request until an operator retries it (or it is
// closed), telling compliance and the departments of the failing systems.
func (l *lifecycle) needsAttention(ctx workflow.Context, failed []activities.SystemRef, problems []string) error {
	if err := advance(ctx, l.st, domain.StatusNeedsAttention, "engine", strings.Join(problems, "; ")); err != nil {
		return err
	}
	owers := []string{ToCompliance}
	for _, s := range failed {
		if !slices.Contains(owers, s.Department) {
			owers = append(owers, s.Department)
		}
	}
	for _, to := range owers {
		l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: to, Kind: "needs-attention",
			Text: fmt.Sprintf("Request %s cannot reach %s; fix the system and retry the request (starter retry %s).", l.in.RequestID, strings.Join(names(failed), ", "), l.in.RequestID)})
	}
	l.retryRequested = false
	return l.await(ctx, "an operator's retry of "+strings.Join(names(failed), ", "), func() []string { return owers }, func() bool { return l.retryRequested })
}

func names(systems []activities.SystemRef) []string {
	out := make([]string, len(systems))
	for i, s := range systems {
		out[i] = s.Name
	}
	return out
}

// Retry is an operator's go-ahead after fixing a failing system.
type Retry struct {
	Actor string `json:"actor"`
}

// UpdateRetry resumes a request in needs_attention.
const UpdateRetry = "retry"

func (l *lifecycle) validateRetry(ctx workflow.Context, r Retry) error {
	if err := l.open(); err != nil {
		return err
	}
	if l.st.Status != domain.StatusNeedsAttention || l.retryRequested {
		return fmt.Errorf("request %s does not need attention (it is %s)", l.in.RequestID, l.st.Status)
	}
	if strings.TrimSpace(r.Actor) == "" {
		return errors.New("retry needs an actor")
	}
	return nil
}

func (l *lifecycle) retry(ctx workflow.Context, r Retry) error {
	l.retryRequested, l.retriedBy = true, r.Actor
	return nil
}

// signOff asks every department that owns a system holding the subject's
// data (for this kind of request) to decide, and waits for all of them with
// reminders and escalation: never a silent pass.
func (l *lifecycle) signOff(ctx workflow.Context) error {
	for _, p := range l.st.Systems {
		ref := l.systemRef(p.System)
		if p.Found > 0 && ref.NeedsSignOff(l.in.Type) && !slices.Contains(l.st.PendingDepartments, p.Department) {
			l.st.PendingDepartments = append(l.st.PendingDepartments, p.Department)
		}
	}
	slices.Sort(l.st.PendingDepartments)
	if len(l.st.PendingDepartments) == 0 {
		return nil
	}
	var a *activities.Activities
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.Approvers, l.st.PendingDepartments).Get(ctx, &l.approvers); err != nil {
		return fmt.Errorf("load approvers: %w", err)
	}
	if err := advance(ctx, l.st, domain.StatusAwaitingSignOff, "engine", "waiting for "+strings.Join(l.st.PendingDepartments, ", ")); err != nil {
		return err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrPendingDepartments.ValueSet(l.st.PendingDepartments)); err != nil {
		return err
	}
	l.signOffOpen = true
	for _, d := range l.st.PendingDepartments {
		facts := l.facts()
		for _, p := range l.st.Systems {
			if p.Department == d && p.Found > 0 {
				facts.Systems = append(facts.Systems, activities.SystemCount{System: p.System, Records: p.Found})
			}
		}
		l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: d, Kind: "signoff", Facts: facts,
			Text: fmt.Sprintf("Request %s (%s under %s, due %s) needs %s's sign-off for: %s.", l.in.RequestID, l.in.Type, l.in.Regulation, day(l.st.DueAt), d, strings.Join(l.systemsOf(d), ", "))})
	}
	err := l.await(ctx, "sign-off", func() []string { return append([]string{ToCompliance}, l.st.PendingDepartments...) },
		func() bool { return len(l.st.PendingDepartments) == 0 })
	l.signOffOpen = false
	return err
}

// changeOutcomeNotices guards the notices that tell a department its
// decision or its task's confirmation was recorded, added with Slack.
const changeOutcomeNotices = "outcome-notices"

// facts are the request's own facts for a notice.
func (l *lifecycle) facts() *activities.NoticeFacts {
	return &activities.NoticeFacts{Type: l.in.Type, Regulation: l.in.Regulation, DueAt: l.st.DueAt}
}

func (l *lifecycle) systemRef(name string) activities.SystemRef {
	for _, s := range l.systems {
		if s.Name == name {
			return s
		}
	}
	return activities.SystemRef{Name: name}
}

// systemsOf lists the department's systems that hold the subject's data.
func (l *lifecycle) systemsOf(department string) []string {
	var out []string
	for _, p := range l.st.Systems {
		if p.Department == department && p.Found > 0 {
			out = append(out, fmt.Sprintf("%s (%d records)", p.System, p.Found))
		}
	}
	return out
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
	if !slices.Contains(l.approvers[d.Department], d.Approver) {
		return fmt.Errorf("%q is not an approver for %s", d.Approver, d.Department)
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
	if strings.TrimSpace(d.Via) == "" {
		return errors.New("a decision must say where it was taken (via)")
	}
	return nil
}

// decide records a decision in the store first, then in the workflow's
// state, so the audit log never lacks a decision the request acted on.
func (l *lifecycle) decide(ctx workflow.Context, d Decision) error {
	actor := d.Approver + " via " + d.Via
	// Claimed before the store write, so a second click that arrives while
	// it runs is refused by the validator.
	l.decided[d.Department] = d.Decision + " by " + actor
	so := store.SignOff{RequestID: l.in.RequestID, Department: d.Department, Decision: d.Decision, LegalBasis: d.LegalBasis, Actor: actor, DecidedAt: workflow.Now(ctx).UTC()}
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
