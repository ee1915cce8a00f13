package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

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
// The activities heartbeat every 2 s whatever the system does, so a worker
// that dies mid-erasure is noticed within 10 s and its work retried on
// another (or the restarted) worker within about 15 s.
var discoveryActivity = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Minute,
	HeartbeatTimeout:    10 * time.Second,
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
	l.here = place{Stage: stageDiscovery}
	if l.resuming() {
		// The systems and the manual ones' progress are in the carried state.
		automatic := slices.DeleteFunc(slices.Clone(l.systems), func(s activities.SystemRef) bool { return s.Manual != nil })
		if l.resume.Stage == stageDiscovery {
			if err := l.discoverIn(ctx, automatic); err != nil || l.closure != nil {
				return err
			}
		}
		return l.confirmLinks(ctx, automatic)
	}
	if err := advance(ctx, l.st, domain.StatusDiscovery, "engine", ""); err != nil {
		return err
	}
	var a *activities.Activities
	var list workflow.Future
	if lean(ctx) {
		// The data map is in the worker's memory: no round trip needed.
		list = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, storeLocal), a.ListSystems)
	} else {
		list = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.ListSystems)
	}
	if err := list.Get(ctx, &l.systems); err != nil {
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
	version := workflow.Version(2) // lean steps came after version 2
	if !lean(ctx) {
		version = workflow.GetVersion(ctx, changeLinkedIdentities, workflow.DefaultVersion, 2)
	}
	switch version {
	case 1:
		return l.followLinks(ctx, automatic)
	case 2:
		return l.confirmLinks(ctx, automatic)
	}
	return nil
}

// discoverIn asks the systems what they hold on the subject, replacing
// what they said before.
func (l *lifecycle) discoverIn(ctx workflow.Context, systems []activities.SystemRef) error {
	var a *activities.Activities
	if !l.resuming() {
		l.st.Systems = slices.DeleteFunc(l.st.Systems, func(p SystemProgress) bool { return !p.Manual })
	}
	gather := l.gathering(ctx)
	return l.eachSystem(ctx, domain.StatusDiscovery, systems, func(ctx workflow.Context, s activities.SystemRef) workflow.Future {
		if gather(s) {
			return workflow.ExecuteActivity(ctx, a.DiscoverAndExport, activities.SystemInput{RequestID: l.in.RequestID, System: s.Name, Identities: l.ids})
		}
		return workflow.ExecuteActivity(ctx, a.Discover, activities.DiscoverInput{RequestID: l.in.RequestID, System: s.Name, Identities: l.ids})
	}, func(s activities.SystemRef, f workflow.Future) error {
		var res connectors.Result
		var exported *activities.Exported
		if gather(s) {
			var g activities.Gathered
			if err := f.Get(ctx, &g); err != nil {
				return err
			}
			res, exported = g.Found, g.Exported
		} else if err := f.Get(ctx, &res); err != nil {
			return err
		}
		l.st.Systems = slices.DeleteFunc(l.st.Systems, func(p SystemProgress) bool { return p.System == s.Name })
		p := SystemProgress{System: s.Name, Department: s.Department, Found: res.Total(), Evidence: res}
		delete(l.artifacts, s.Name) // an export made with fewer identities is replaced
		if exported != nil {
			l.artifacts[s.Name] = exported.Artifact
			p.Done = exportedText(exported.Result)
		}
		l.st.Systems = append(l.st.Systems, p)
		slices.SortFunc(l.st.Systems, func(x, y SystemProgress) int { return strings.Compare(x.System, y.System) })
		return nil
	})
}

// changeExportAtDiscovery guards exporting during discovery, in the same
// activity, for an access or portability request's systems that need no
// sign-off, when no system can name further identities: nothing decided
// between discovery and fulfilment could change such an export, and it
// saves an activity and its round trip per system.
const changeExportAtDiscovery = "export-at-discovery"

// gathering says, per system, whether discovery also exports. The version
// is asked once per run, where it first matters; a continued run asks
// again, and its own history records its answer.
func (l *lifecycle) gathering(ctx workflow.Context) func(activities.SystemRef) bool {
	never := func(activities.SystemRef) bool { return false }
	if !lean(ctx) || l.in.Type != domain.Access && l.in.Type != domain.Portability ||
		slices.ContainsFunc(l.systems, func(s activities.SystemRef) bool { return s.Links && s.Manual == nil }) {
		return never
	}
	if workflow.GetVersion(ctx, changeExportAtDiscovery, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return never
	}
	return func(s activities.SystemRef) bool { return !s.NeedsSignOff(l.in.Type) }
}

// changeLinkedIdentities guards following the identities found in the
// subject's records (the customer number on the row found by e-mail).
// Version 1 followed every identity found; version 2 (links.go) follows
// only those in declared link fields that compliance confirmed.
const changeLinkedIdentities = "linked-identities"

// maxIdentities bounds how far links are followed: a shared phone number
// must not pull in a whole household's or company's records unchecked.
const maxIdentities = 20

// followLinks, for requests of version 1, looks for the subject again with
// the identities their records hold, until no new one turns up (at most three rounds), so that a
// request made with an e-mail also reaches the systems keyed by customer
// number. Every later step uses the whole set.
func (l *lifecycle) followLinks(ctx workflow.Context, systems []activities.SystemRef) error {
	var a *activities.Activities
	l.here = place{} // the first cut's rounds are not resumed in a new run
	for range 3 {
		holding := l.holdingNames()
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
		capped := false // a new identity was refused at the cap
		for _, id := range found {
			if slices.Contains(l.ids, id) {
				continue
			}
			if len(l.ids) == maxIdentities || len(l.ids) > maxIdentities && l.identityCap(ctx) {
				capped = true
				break
			}
			l.ids = append(l.ids, id)
			added = append(added, string(id.Kind))
		}
		if capped {
			l.note(ctx, fmt.Sprintf("stopped following linked identities at %d; check the subject's records by hand", maxIdentities))
		}
		if len(added) == 0 {
			return nil
		}
		l.note(ctx, fmt.Sprintf("the subject's records hold %d more identities (%s); looking again with them", len(added), strings.Join(added, ", ")))
		if err := l.discoverIn(ctx, systems); err != nil || l.closure != nil || capped && l.identityCap(ctx) {
			return err
		}
	}
	return nil
}

// holdingNames lists the automatic systems that hold the subject's data.
func (l *lifecycle) holdingNames() []string {
	var out []string
	for _, p := range l.st.Systems {
		if p.Found > 0 && !p.Manual {
			out = append(out, p.System)
		}
	}
	return out
}

// changeIdentityCap guards the cap on linked identities as it holds now:
// above maxIdentities too (a request may arrive with more), no new identity
// is added, and once one was refused no further round is run. The first
// cut refused them only at exactly maxIdentities, and looked again. It is
// asked only once the cap is reached, so histories that never reached it
// replay unchanged.
const changeIdentityCap = "identity-cap"

func (l *lifecycle) identityCap(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, changeIdentityCap, workflow.DefaultVersion, 1) == 1
}
