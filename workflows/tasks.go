package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
)

// Manual systems have no API: their department gets a task that says where
// the data is and what to do, and confirms it with a note. The request
// waits for every task as it waits for a sign-off, with reminders and
// escalation, and the confirmation is the evidence of what was done.

// UpdateReadTask returns one manual task with the subject's identities,
// which the department needs to find the data and the notice does not
// carry. It is an Update rather than a query so that every read of those
// identities is on record, with its signed reader, in the history and in
// the audit log.
const UpdateReadTask = "read-task"

// TaskRead asks for the task of one manual system.
type TaskRead struct {
	claims.Signed
	System string `json:"system"`
}

// changeManualTasks guards the manual tasks; it is only asked when the data
// map has a manual system, which no earlier history had.
const changeManualTasks = "manual-tasks"

// Outcomes of a manual task.
const (
	TaskDone    = "done"     // the work was done
	TaskNotHeld = "not_held" // the system holds nothing on the subject
	TaskKept    = "kept"     // erasure only: kept under a legal obligation
)

// Task is one manual system's work on a request.
type Task struct {
	System       string `json:"system"`
	Department   string `json:"department"`
	Work         string `json:"work"` // access, erasure or consent
	Location     string `json:"location"`
	Instructions string `json:"instructions"`
	// Outcome is empty while the task is open.
	Outcome    string    `json:"outcome,omitempty"`
	Records    int64     `json:"records,omitempty"`
	Note       string    `json:"note,omitempty"`
	LegalBasis string    `json:"legal_basis,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	At         time.Time `json:"at,omitzero"`
}

// TaskView is a task with whom it is about.
type TaskView struct {
	Task
	RequestID  string             `json:"request_id"`
	Type       domain.RequestType `json:"type"`
	Identities []domain.Identity  `json:"identities"`
	// Corrections are a rectification's fields and new values.
	Corrections []domain.Correction `json:"corrections,omitempty"`
}

// manualWork is the kind of work a request asks of manual systems.
func (l *lifecycle) manualWork() string {
	switch l.in.Type {
	case domain.Access, domain.Portability:
		return "access"
	case domain.Erasure:
		return "erasure"
	case domain.Rectification:
		return "rectification"
	case domain.Restriction:
		return "restriction"
	case domain.Objection:
		if !l.in.Scope.DirectMarketing {
			return "restriction"
		}
	}
	return "consent"
}

// manualScope says what a manual system's task covers for the request,
// and whether the system has a part in it at all.
func (l *lifecycle) manualScope(s activities.SystemRef, work string) (string, bool) {
	switch {
	case l.in.Consent != nil:
		if !slices.Contains(s.Purposes, l.in.Consent.Purpose) {
			return "", false
		}
		return fmt.Sprintf("purpose %s: consent %s", l.in.Consent.Purpose, map[bool]string{true: "granted", false: "withdrawn"}[l.in.Type == domain.OptIn]), true
	case work == "consent":
		ps := s.PurposesOf(l.withdrawnKinds()...)
		return "withdraw: " + strings.Join(ps, ", "), len(ps) > 0
	case work == "rectification":
		var fields []string
		for _, c := range l.in.Corrections {
			fields = append(fields, c.Field)
		}
		return "correct: " + strings.Join(fields, ", ") + " (the new values are in starter task)", true
	case work == "restriction":
		ps := l.namedPurposesOf(s)
		verb := "restrict"
		if l.in.Scope.Lift {
			verb = "lift the restriction of"
		}
		return verb + ": " + strings.Join(ps, ", "), len(ps) > 0
	}
	return "", true
}

// openTasks gives each manual system its task and tells its department.
// Consent reaches only the manual systems that use the purpose and say how.
func (l *lifecycle) openTasks(ctx workflow.Context) error {
	work := l.manualWork()
	var deps []string
	for _, s := range l.systems {
		if s.Manual == nil || s.Manual.Instructions[work] == "" {
			continue
		}
		scope, ok := l.manualScope(s, work)
		if !ok {
			continue
		}
		instructions := s.Manual.Instructions[work]
		if scope != "" {
			instructions = fmt.Sprintf("%s (%s)", instructions, scope)
		}
		l.st.Tasks = append(l.st.Tasks, Task{System: s.Name, Department: s.Department, Work: work, Location: s.Manual.Location, Instructions: instructions})
		if !slices.Contains(deps, s.Department) {
			deps = append(deps, s.Department)
		}
	}
	if len(l.st.Tasks) == 0 {
		return nil
	}
	var a *activities.Activities
	var approvers map[string][]string
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.Approvers, deps).Get(ctx, &approvers); err != nil {
		return fmt.Errorf("load approvers: %w", err)
	}
	if l.approvers == nil {
		l.approvers = map[string][]string{}
	}
	for _, d := range deps {
		l.approvers[d] = approvers[d]
	}
	for _, t := range l.st.Tasks {
		facts := l.facts()
		facts.System, facts.Location, facts.Instructions = t.System, t.Location, t.Instructions
		l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: t.Department, Kind: "task", Facts: facts,
			Text: fmt.Sprintf("Request %s (%s under %s, due %s) needs manual work in %s, at %s: %s. "+
				"See whom it is about with: starter task %s --system %s; confirm with: starter complete %s --system %s --outcome done --records N --note \"…\".",
				l.in.RequestID, l.in.Type, l.in.Regulation, day(l.st.DueAt), t.System, t.Location, t.Instructions,
				l.in.RequestID, t.System, l.in.RequestID, t.System)})
	}
	return nil
}

// awaitTasks waits until every manual task is confirmed.
func (l *lifecycle) awaitTasks(ctx workflow.Context) error {
	l.resume = nil // a continued run resumes here, if not earlier
	if len(l.openTaskSystems()) == 0 {
		return nil
	}
	return l.await(ctx, "manual tasks in "+strings.Join(l.openTaskSystems(), ", "), func() []string {
		owers := []string{ToCompliance}
		for _, t := range l.st.Tasks {
			if t.Outcome == "" && !slices.Contains(owers, t.Department) {
				owers = append(owers, t.Department)
			}
		}
		return owers
	}, func() bool { return len(l.openTaskSystems()) == 0 })
}

func (l *lifecycle) openTaskSystems() []string {
	var out []string
	for _, t := range l.st.Tasks {
		if t.Outcome == "" {
			out = append(out, t.System)
		}
	}
	return out
}

func (l *lifecycle) task(system string) *Task {
	for i := range l.st.Tasks {
		if l.st.Tasks[i].System == system {
			return &l.st.Tasks[i]
		}
	}
	return nil
}

func (l *lifecycle) validateReadTask(ctx workflow.Context, r TaskRead) error {
	if err := l.open(); err != nil {
		return err
	}
	c, err := l.claimFor(ctx, UpdateReadTask)
	if err != nil {
		return err
	}
	t := l.task(r.System)
	switch {
	case t == nil:
		return fmt.Errorf("request %s has no manual task in %q", l.in.RequestID, r.System)
	case c.Role == claims.RoleApprover && !slices.Contains(l.approvers[t.Department], c.Name):
		return fmt.Errorf("%q is not an approver for %s", c.Name, t.Department)
	}
	return nil
}

// readTask records the read in the audit log, then answers it.
func (l *lifecycle) readTask(ctx workflow.Context, r TaskRead) (TaskView, error) {
	l.accepted(ctx)
	t := l.task(r.System)
	var a *activities.Activities
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.RecordRead, records.AuditEntry{
		RequestID: l.in.RequestID, Actor: r.Author(""), Action: "task.read",
		Detail: map[string]any{"system": r.System, "identities": len(l.ids)},
	}).Get(ctx, nil)
	if err != nil {
		return TaskView{}, fmt.Errorf("record the read: %w", err)
	}
	return TaskView{Task: *t, RequestID: l.in.RequestID, Type: l.in.Type, Identities: l.ids, Corrections: l.in.Corrections}, nil
}
