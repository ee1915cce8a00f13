package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
)

// signOff asks every department that owns a system holding the subject's
// data (for this kind of request) to decide, and waits for all of them with
// reminders and escalation: never a silent pass.
func (l *lifecycle) signOff(ctx workflow.Context) error {
	l.here = place{Stage: stageSignOff}
	if !l.resuming() {
		if more, err := l.askSignOff(ctx); err != nil || !more {
			return err
		}
	}
	l.resume = nil
	err := l.await(ctx, "sign-off", func() []string { return append([]string{ToCompliance}, l.st.PendingDepartments...) },
		func() bool { return len(l.st.PendingDepartments) == 0 })
	l.signOffOpen = false
	return err
}

// askSignOff lists the departments whose sign-off the request needs and
// asks them; it says whether there are any.
func (l *lifecycle) askSignOff(ctx workflow.Context) (bool, error) {
	for _, p := range l.st.Systems {
		ref := l.systemRef(p.System)
		if p.Found > 0 && l.needsSignOff(ref) && !slices.Contains(l.st.PendingDepartments, p.Department) {
			l.st.PendingDepartments = append(l.st.PendingDepartments, p.Department)
		}
	}
	slices.Sort(l.st.PendingDepartments)
	if len(l.st.PendingDepartments) == 0 {
		return false, nil
	}
	var a *activities.Activities
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.Approvers, l.st.PendingDepartments).Get(ctx, &l.approvers); err != nil {
		return false, fmt.Errorf("load approvers: %w", err)
	}
	if err := advance(ctx, l.st, domain.StatusAwaitingSignOff, "engine", "waiting for "+strings.Join(l.st.PendingDepartments, ", ")); err != nil {
		return false, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrPendingDepartments.ValueSet(l.st.PendingDepartments)); err != nil {
		return false, err
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
			Text: fmt.Sprintf("Request %s (%s under %s, due %s) needs %s's sign-off for: %s.", l.in.RequestID, l.in.Type, l.in.Regulation, day(l.st.DueAt), d, strings.Join(l.systemsOf(d), ", ")) + l.signOffAsks()})
	}
	return true, nil
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

// signOffAsks says what a new right asks the departments to decide: the
// fields to correct (never their values, which are personal data), or the
// purposes objected to and on what grounds.
func (l *lifecycle) signOffAsks() string {
	switch {
	case l.in.Type == domain.Rectification:
		var fields []string
		for _, c := range l.in.Corrections {
			fields = append(fields, c.Field)
		}
		return " The subject asks to correct: " + strings.Join(fields, ", ") + ". Approve to apply the corrections, or object with the reason (for example, the data is accurate). The new values are personal data and are not in this notice."
	case l.in.Type == domain.Objection && l.in.Scope != nil:
		return " The subject objects to: " + strings.Join(l.in.Scope.Purposes, ", ") + ". Approve to stop that processing, or object with the compelling legitimate grounds that override the subject's interests."
	case l.in.Type == domain.Restriction:
		return " The subject asks to restrict: " + strings.Join(l.in.Scope.Purposes, ", ") + "."
	}
	return ""
}
