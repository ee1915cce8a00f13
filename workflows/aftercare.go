package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// changeCryptoShred guards the purge of an erased subject's exports, the
// aftercare and the destruction of their data key; erasures that ran
// before keep none.
const changeCryptoShred = "crypto-shred"

// shred is a completed erasure's aftercare. At each of the data map's
// resurrection checks, discovery runs again on the erased systems: data
// that came back (a backup restored, an import) is reported to compliance
// and the owning departments, and erased again when compliance says so
// (starter erase-again). Once the evidence hold has passed, the subject's
// data key is destroyed: what the engine kept of the person (identities,
// archived histories) becomes unreadable, while the counts, hashes,
// decisions and audit chain stay. Data found at the last check keeps the
// request open, reminding compliance, until it is erased again: the
// identities for it are in this workflow, not under the key.
func (l *lifecycle) shred(ctx workflow.Context) error {
	var a *activities.Activities
	opts := workflow.WithActivityOptions(ctx, storeActivity)
	var after domain.Aftercare
	if err := workflow.ExecuteActivity(opts, a.HoldEvidence).Get(ctx, &after); err != nil {
		return fmt.Errorf("evidence hold: %w", err)
	}
	start := workflow.Now(ctx)
	for _, at := range after.Checks {
		if err := l.holdUntil(ctx, start.Add(at)); err != nil {
			return err
		}
		l.checkResurrection(ctx, at)
	}
	if err := l.holdUntil(ctx, start.Add(after.Hold)); err != nil {
		return err
	}
	if err := workflow.ExecuteActivity(opts, a.Shred, activities.PurgeInput{RequestID: l.in.RequestID}).Get(ctx, nil); err != nil {
		return fmt.Errorf("destroy the subject's key: %w", err)
	}
	// Found at the last check: the request stays open, and compliance is
	// reminded weekly, until it is erased again. (Not l.await: its
	// hand-over to a new run resumes a stage, and this is past them all.)
	for len(l.resurrected) > 0 {
		l.st.WaitingFor = "compliance's erase-again of " + strings.Join(l.resurrected, ", ")
		asked, err := workflow.AwaitWithTimeout(ctx, resurrectionReminder, func() bool { return l.eraseAgain })
		if err != nil {
			return err
		}
		if asked {
			l.erasePass(ctx)
			continue
		}
		l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: ToCompliance, Kind: "resurrected",
			Text: fmt.Sprintf("Request %s: the subject's data found again after the erasure is still in %s. Erase it again with: starter erase-again %s",
				l.in.RequestID, strings.Join(l.resurrected, ", "), l.in.RequestID)})
	}
	l.st.WaitingFor = ""
	return nil
}

// resurrectionReminder is how often compliance is reminded of data found
// again that nobody erased yet.
const resurrectionReminder = 7 * 24 * time.Hour

// holdUntil waits until t, erasing again whenever compliance asks.
func (l *lifecycle) holdUntil(ctx workflow.Context, t time.Time) error {
	for {
		left := t.Sub(workflow.Now(ctx))
		if left <= 0 {
			return nil
		}
		asked, err := workflow.AwaitWithTimeout(ctx, left, func() bool { return l.eraseAgain })
		if err != nil {
			return err
		}
		if !asked {
			return nil
		}
		l.erasePass(ctx)
	}
}

// erased are the systems the erasure erased and verified.
func (l *lifecycle) erased() []string {
	var out []string
	for _, p := range l.st.Systems {
		if p.Verified {
			out = append(out, p.System)
		}
	}
	return out
}

// checkResurrection runs discovery again on the erased systems and
// reports what came back. A system it cannot reach is noted, not fatal:
// the next check, or compliance, looks again.
func (l *lifecycle) checkResurrection(ctx workflow.Context, at time.Duration) {
	var a *activities.Activities
	actx := workflow.WithActivityOptions(ctx, discoveryActivity)
	systems := l.erased()
	days := int(at.Round(time.Hour).Hours() / 24)
	var back []string
	for _, s := range systems {
		var found connectors.Result
		err := workflow.ExecuteActivity(onSystem(actx, l.systemRef(s)), a.Discover, activities.DiscoverInput{RequestID: l.in.RequestID, System: s, Identities: l.ids}).Get(ctx, &found)
		if err != nil {
			l.note(ctx, fmt.Sprintf("resurrection check %d days after the erasure could not search %s: %v", days, s, err))
			continue
		}
		if found.Erasable() == 0 {
			continue
		}
		back = append(back, fmt.Sprintf("%s (%s)", s, describe(found)))
		if !slices.Contains(l.resurrected, s) {
			l.resurrected = append(l.resurrected, s)
		}
	}
	if len(back) == 0 {
		l.note(ctx, fmt.Sprintf("resurrection check %d days after the erasure: nothing found again in %d systems", days, len(systems)))
		return
	}
	text := fmt.Sprintf("Request %s: resurrection check %d days after the erasure found the subject's data again in %s. Erase it again with: starter erase-again %s",
		l.in.RequestID, days, strings.Join(back, "; "), l.in.RequestID)
	l.note(ctx, text)
	to := []string{ToCompliance}
	for _, s := range l.resurrected {
		if d := l.systemRef(s).Department; d != "" && !slices.Contains(to, d) {
			to = append(to, d)
		}
	}
	for _, who := range to {
		l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: who, Kind: "resurrected", Text: text})
	}
}

// erasePass erases again, and verifies, the systems where data came back.
// Each pass keeps its own baseline, so its counts are its own.
func (l *lifecycle) erasePass(ctx workflow.Context) {
	var a *activities.Activities
	actx := workflow.WithActivityOptions(ctx, discoveryActivity)
	l.eraseAgain = false
	l.passes++
	pass := fmt.Sprintf("again-%d", l.passes)
	var still []string
	for _, s := range l.resurrected {
		in := activities.SystemInput{RequestID: l.in.RequestID, System: s, Identities: l.ids, Pass: pass}
		var res connectors.Result
		if err := workflow.ExecuteActivity(onSystem(actx, l.systemRef(s)), a.Erase, in).Get(ctx, &res); err != nil {
			l.note(ctx, fmt.Sprintf("%s: erasing again failed: %v", s, err))
			still = append(still, s)
			continue
		}
		var left connectors.Result
		err := workflow.ExecuteActivity(onSystem(actx, l.systemRef(s)), a.Discover, activities.DiscoverInput{RequestID: l.in.RequestID, System: s, Identities: l.ids}).Get(ctx, &left)
		switch {
		case err != nil:
			l.note(ctx, fmt.Sprintf("%s: erased again (%s), but the verification failed: %v", s, describe(res), err))
			still = append(still, s)
		case left.Erasable() > 0:
			l.note(ctx, fmt.Sprintf("%s: erased again (%s), but %d records are left", s, describe(res), left.Erasable()))
			still = append(still, s)
		default:
			l.note(ctx, fmt.Sprintf("%s: erased again at %s's request: %s; verified", s, l.eraseAgainBy, describe(res)))
		}
	}
	l.resurrected = still
}
