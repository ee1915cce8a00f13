package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
)

// A request may wait for months: for a subject who never verifies, a
// department that never signs off, an operator who never retries. Every
// reminder, escalation and Update while it waits adds to its history,
// which Temporal caps (51,200 events) and which every worker replays in
// full when it picks the request up. So a long wait hands the request to
// a fresh run of the same workflow (continue-as-new) before the history
// grows large, carrying the whole state, and the new run resumes the very
// wait the old one left.

// changeContinueAsNew guards continuing as new. Runs that decided before
// it existed (no marker) never continue, and never wake for it.
const changeContinueAsNew = "continue-as-new"

// runEventLimit is the history length at which a waiting run continues as
// new, unless the server suggests it earlier. It is far below Temporal's
// own limits, so that replaying a run stays quick. Tests lower it.
var runEventLimit = 2000

// Where a run waits: the stage of the request, and within it the wait.
const (
	stageVerification = "verification"
	stageDiscovery    = "discovery"
	stageLinks        = "links"
	stageSignOff      = "sign-off"
	stageFulfilment   = "fulfilment"
)

// place is where a run waits, so that the next run resumes there. A zero
// place (the first cut's link following) is not resumable: the run does
// not continue as new while it waits there.
type place struct {
	Stage string `json:"stage"`
	// Round, First and CapNoted are the links stage's round of proposals,
	// its first proposal, and whether the cap was noted.
	Round    int  `json:"round,omitempty"`
	First    int  `json:"first,omitempty"`
	CapNoted bool `json:"cap_noted,omitempty"`
	// Retry is set while the stage waits for an operator's retry of the
	// systems that failed in it.
	Retry *retryWait `json:"retry,omitempty"`
}

// retryWait is a wait for an operator's retry: which systems failed, and
// who is reminded.
type retryWait struct {
	Failed []string `json:"failed"`
	Owers  []string `json:"owers"`
}

// recentUpdate is an accepted Update's id. A signed change is bound to
// its Update id and is fresh for claims.MaxAge; Temporal refuses an id
// twice only within one run, so the ids of the last MaxAge cross into the
// next run, where a replay of them is refused.
type recentUpdate struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// carried is the whole state one run hands to the next. Pending notices
// are sent, and every Update handler has finished, before a run continues.
type carried struct {
	State        RequestState                `json:"state"`
	Place        place                       `json:"place"`
	Identities   []domain.Identity           `json:"identities"`
	Proposed     []activities.ProposedLink   `json:"proposed,omitempty"`
	LinksOpen    bool                        `json:"links_open,omitempty"`
	Provisional  bool                        `json:"provisional,omitempty"`
	Policy       domain.ReminderPolicy       `json:"policy"`
	LastAlert    time.Time                   `json:"last_alert"`
	Admission    Admission                   `json:"admission"`
	Systems      []activities.SystemRef      `json:"systems,omitempty"`
	Approvers    map[string][]string         `json:"approvers,omitempty"`
	SignOffOpen  bool                        `json:"signoff_open,omitempty"`
	Decided      map[string]string           `json:"decided,omitempty"`
	Claimed      map[string]bool             `json:"claimed,omitempty"`
	ConfirmedVia string                      `json:"confirmed_via,omitempty"`
	RetriedBy    string                      `json:"retried_by,omitempty"`
	Artifacts    map[string]records.Artifact `json:"artifacts,omitempty"`
	Updates      []recentUpdate              `json:"updates,omitempty"`
	// Runs counts the runs before this one.
	Runs int `json:"runs"`
	// Lean says the request runs on lean steps.
	Lean bool `json:"lean,omitempty"`
}

// longHistory says whether this run's history is long enough to continue
// as new. Await conditions call it: it reads only the workflow's info.
func (l *lifecycle) longHistory(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= l.eventLimit
}

// mayContinue says whether this run may continue as new where it waits
// now. The version is asked once per run, at its first resumable wait, so
// a run from before continue-as-new existed keeps its recorded path. The
// limit is recorded in the history with it, so a replay decides as the
// run did whatever the limit is now.
func (l *lifecycle) mayContinue(ctx workflow.Context) bool {
	if l.here.Stage == "" {
		return false
	}
	if l.continues == nil {
		v := workflow.GetVersion(ctx, changeContinueAsNew, workflow.DefaultVersion, 1) == 1
		l.continues = &v
		if v {
			limit := workflow.SideEffect(ctx, func(workflow.Context) any { return runEventLimit })
			if err := limit.Get(&l.eventLimit); err != nil || l.eventLimit <= 0 {
				l.eventLimit = runEventLimit
			}
		}
	}
	return *l.continues
}

// continueAsNew ends this run and starts the next with the state carried.
// The caller has checked that nothing is pending: no notice to send, no
// Update handler running, no closure.
func (l *lifecycle) continueAsNew(ctx workflow.Context) error {
	now := workflow.Now(ctx)
	c := carried{
		State: *l.st, Place: l.here, Identities: l.ids, Proposed: l.proposed, LinksOpen: l.linksOpen, Provisional: l.provisional,
		Policy: l.policy, LastAlert: l.lastAlert, Systems: l.systems, Approvers: l.approvers, SignOffOpen: l.signOffOpen,
		Decided: l.decided, Claimed: l.claimed, ConfirmedVia: l.confirmedVia, RetriedBy: l.retriedBy, Artifacts: l.artifacts,
		Updates: recent(slices.Clone(l.updates), now),
		Runs:    l.runs + 1, Lean: lean(ctx),
	}
	if l.admission != nil {
		c.Admission = *l.admission
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("carry the request's state: %w", err)
	}
	next := l.in
	next.Carried = b
	workflow.GetLogger(ctx).Info("request continues as new", "history_events", workflow.GetInfo(ctx).GetCurrentHistoryLength(),
		"stage", l.here.Stage, "runs", c.Runs)
	return workflow.NewContinueAsNewError(ctx, Request, next)
}

// errNotContinued refuses carried state on a run that no earlier run
// started: whoever may start workflows must not start one half-way, with
// sign-offs it never had.
var errNotContinued = errors.New("carried state is accepted only on a run continued from an earlier run of the same request")

// restore takes the state an earlier run carried, and the place to resume;
// it says whether the request runs on lean steps.
func (l *lifecycle) restore(ctx workflow.Context, raw json.RawMessage) (lean bool, err error) {
	if workflow.GetInfo(ctx).ContinuedExecutionRunID == "" {
		return false, temporal.NewNonRetryableApplicationError(errNotContinued.Error(), "InvalidInput", errNotContinued)
	}
	var c carried
	if err := json.Unmarshal(raw, &c); err != nil {
		return false, temporal.NewNonRetryableApplicationError("carried state: "+err.Error(), "InvalidInput", err)
	}
	if c.State.RequestID != l.in.RequestID {
		err := fmt.Errorf("carried state is request %s's, not %s's", c.State.RequestID, l.in.RequestID)
		return false, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", err)
	}
	*l.st = c.State
	l.resume, l.here = &c.Place, c.Place
	l.ids, l.proposed, l.linksOpen, l.provisional = c.Identities, c.Proposed, c.LinksOpen, c.Provisional
	l.policy, l.lastAlert, l.admission, l.systems = c.Policy, c.LastAlert, &c.Admission, c.Systems
	l.approvers, l.signOffOpen, l.confirmedVia, l.retriedBy = c.Approvers, c.SignOffOpen, c.ConfirmedVia, c.RetriedBy
	l.decided, l.claimed, l.artifacts = orEmpty(c.Decided), orEmpty(c.Claimed), orEmpty(c.Artifacts)
	l.updates, l.runs, l.recorded = c.Updates, c.Runs, true
	return c.Lean, nil
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

// resuming says whether the run resumes at a later place than the code
// about to run, which is then skipped: its effects are in the carried state.
func (l *lifecycle) resuming() bool { return l.resume != nil }

// resumes says whether the stage about to run is the one the run resumes
// in, or whether the run is not resuming at all: either way it runs.
func (l *lifecycle) resumes(stage string) bool { return l.resume == nil || l.resume.Stage == stage }

// accepted remembers an accepted Update's id; see recentUpdate.
func (l *lifecycle) accepted(ctx workflow.Context) {
	now := workflow.Now(ctx).UTC()
	l.updates = recent(l.updates, now)
	if info := workflow.GetCurrentUpdateInfo(ctx); info != nil {
		l.updates = append(l.updates, recentUpdate{ID: info.ID, At: now})
	}
}

// recent drops the updates whose claims can no longer be fresh: twice a
// claim's lifetime, against clock skew.
func recent(updates []recentUpdate, now time.Time) []recentUpdate {
	return slices.DeleteFunc(updates, func(u recentUpdate) bool { return u.At.Before(now.Add(-2 * claims.MaxAge)) })
}

// replayed refuses an Update that an earlier run of the request accepted.
func (l *lifecycle) replayed(ctx workflow.Context) error {
	info := workflow.GetCurrentUpdateInfo(ctx)
	if info != nil && slices.ContainsFunc(l.updates, func(u recentUpdate) bool { return u.ID == info.ID }) {
		return fmt.Errorf("update %s was already applied to request %s", info.ID, l.in.RequestID)
	}
	return nil
}
