package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
)

// eachSystem runs one activity per system in parallel. A system that keeps
// failing puts the request in needs_attention and tells its department; an
// operator's retry runs only the systems that failed, in the same phase.
// A continued run that resumes later in the phase skips it; one that
// resumes waiting for the retry goes straight back to waiting.
// onSystem sends the activities of ctx to the system's task queue (its
// connector class's, or its own when its rate is bounded), so that a slow
// system holds up only the systems of its queue. A system listed before
// the queues were split has none, and stays on the requests' queue.
func onSystem(ctx workflow.Context, s activities.SystemRef) workflow.Context {
	if s.TaskQueue == "" {
		return ctx
	}
	return workflow.WithTaskQueue(ctx, s.TaskQueue)
}

func (l *lifecycle) eachSystem(ctx workflow.Context, phase domain.Status, systems []activities.SystemRef,
	start func(workflow.Context, activities.SystemRef) workflow.Future, done func(activities.SystemRef, workflow.Future) error) error {
	actx := workflow.WithActivityOptions(ctx, discoveryActivity)
	todo := systems
	var waiting *retryWait
	if l.resuming() {
		if l.resume.Retry == nil {
			return nil
		}
		waiting, l.resume = l.resume.Retry, nil
	}
	for len(todo) > 0 {
		if waiting == nil {
			futures := make([]workflow.Future, len(todo))
			for i, s := range todo {
				futures[i] = start(onSystem(actx, s), s)
			}
			var failed []activities.SystemRef
			var problems []string
			refused := false
			for i, f := range futures {
				if err := done(todo[i], f); err != nil {
					failed = append(failed, todo[i])
					problems = append(problems, fmt.Sprintf("%s: %s", todo[i].Name, reason(err)))
					var app *temporal.ApplicationError
					refused = refused || errors.As(err, &app) && app.Type() == "Refused"
				}
			}
			if len(failed) == 0 {
				return nil
			}
			owers, err := l.needsAttention(ctx, failed, problems, refused)
			if err != nil {
				return err
			}
			waiting = &retryWait{Failed: names(failed), Owers: owers}
		}
		if err := l.awaitRetry(ctx, waiting); err != nil || l.closure != nil {
			return err
		}
		todo = nil
		for _, name := range waiting.Failed {
			todo = append(todo, l.systemRef(name))
		}
		waiting = nil
		if err := advance(ctx, l.st, phase, l.retriedBy, "retrying "+strings.Join(names(todo), ", ")); err != nil {
			return err
		}
	}
	return nil
}

// needsAttention puts the request in needs_attention, telling compliance
// and the departments of the failing systems, and returns whom it told.
func (l *lifecycle) needsAttention(ctx workflow.Context, failed []activities.SystemRef, problems []string, refused bool) ([]string, error) {
	if err := advance(ctx, l.st, domain.StatusNeedsAttention, "engine", strings.Join(problems, "; ")); err != nil {
		return nil, err
	}
	owers := []string{ToCompliance}
	for _, s := range failed {
		if !slices.Contains(owers, s.Department) {
			owers = append(owers, s.Department)
		}
	}
	for _, to := range owers {
		text := fmt.Sprintf("Request %s cannot reach %s; fix the system and retry the request (starter retry %s).", l.in.RequestID, strings.Join(names(failed), ", "), l.in.RequestID)
		if refused {
			// Reached, and refused: the database's own words say what to fix.
			text = fmt.Sprintf("Request %s: the change was refused by the database: %s. Fix the data or the data map, then retry the request (starter retry %s).",
				l.in.RequestID, strings.Join(problems, "; "), l.in.RequestID)
		}
		l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: to, Kind: "needs-attention", Text: text})
	}
	l.retryRequested = false
	return owers, nil
}

// awaitRetry parks the request until an operator retries it (or it is
// closed), reminding whoever was told.
func (l *lifecycle) awaitRetry(ctx workflow.Context, w *retryWait) error {
	l.here.Retry = w
	defer func() { l.here.Retry = nil }()
	return l.await(ctx, "an operator's retry of "+strings.Join(w.Failed, ", "), func() []string { return w.Owers }, func() bool { return l.retryRequested })
}

// reason is an activity's failure in the connector's words, without the
// SDK's wrapping (activity type, event ids).
func reason(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

func names(systems []activities.SystemRef) []string {
	out := make([]string, len(systems))
	for i, s := range systems {
		out[i] = s.Name
	}
	return out
}
