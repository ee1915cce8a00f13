package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// defaultConfirmWithin is how long a double opt-in waits for the subject.
const defaultConfirmWithin = 7 * 24 * time.Hour

// consent applies an opt-in or a withdrawal: the ledger first, as the
// evidence, then every system that processes data for the purpose. Each
// change is its own short workflow; the ledger holds the history and the
// current state per subject and purpose.
func (l *lifecycle) consent(ctx workflow.Context) error {
	c := l.in.Consent
	var a *activities.Activities
	record := func(state, channel string) error {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.RecordConsent, activities.ConsentRecord{
			RequestID: l.in.RequestID, Purpose: c.Purpose, State: state, Channel: channel, WordingVersion: c.WordingVersion,
			At: workflow.Now(ctx).UTC()}).Get(ctx, nil)
	}
	granted := l.in.Type == domain.OptIn
	if !l.resuming() {
		if err := l.recordConsent(ctx, record, granted); err != nil || l.closure != nil || l.st.Consent == "expired" {
			return err
		}
	}
	err := l.eachSystem(ctx, domain.StatusFulfilling, l.usingPurpose(c.Purpose), func(ctx workflow.Context, s activities.SystemRef) workflow.Future {
		return workflow.ExecuteActivity(ctx, a.ApplyConsent, activities.ConsentApply{RequestID: l.in.RequestID, System: s.Name,
			Identities: l.ids, Purpose: c.Purpose, Granted: granted})
	}, func(s activities.SystemRef, f workflow.Future) error {
		var res connectors.Result
		if err := f.Get(ctx, &res); err != nil {
			return err
		}
		p := l.progress(s.Name)
		if p == nil {
			l.st.Systems = append(l.st.Systems, SystemProgress{System: s.Name, Department: s.Department})
			p = &l.st.Systems[len(l.st.Systems)-1]
		}
		p.Done = "consent " + l.st.Consent + ": " + describe(res)
		return nil
	})
	if err != nil || l.closure != nil {
		return err
	}
	return l.awaitTasks(ctx)
}

// usingPurpose lists the systems with an API that process data for the
// purpose; manual ones get a task.
func (l *lifecycle) usingPurpose(purpose string) []activities.SystemRef {
	var out []activities.SystemRef
	for _, s := range l.systems {
		if s.Manual == nil && slices.Contains(s.Purposes, purpose) {
			out = append(out, s)
		}
	}
	return out
}

// recordConsent records the change in the ledger, first waiting for the
// subject's confirmation of a double opt-in, then opens the manual
// systems' tasks. A double opt-in not confirmed in time ends as expired.
func (l *lifecycle) recordConsent(ctx workflow.Context, record func(state, channel string) error, granted bool) error {
	c := l.in.Consent
	if granted && c.DoubleOptIn {
		if err := record("pending", c.Channel); err != nil {
			return err
		}
		l.st.Consent = "pending"
		within := c.ConfirmWithin
		if within == 0 {
			within = defaultConfirmWithin
		}
		l.awaitingConfirmation = true
		l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: ToSubject, Kind: "consent-confirmation",
			Text: fmt.Sprintf("Please confirm that you agree to %s (%s) by %s.", c.Purpose, c.WordingVersion, day(workflow.Now(ctx).Add(within)))})
		ok, err := workflow.AwaitWithTimeout(ctx, within, func() bool { return l.confirmedVia != "" || l.closure != nil })
		l.awaitingConfirmation = false
		if err != nil || l.closure != nil {
			return err
		}
		if !ok {
			l.st.Consent = "expired"
			return record("expired", c.Channel)
		}
		if err := record("granted", l.confirmedVia); err != nil {
			return err
		}
	} else {
		state := "granted"
		if !granted {
			state = "withdrawn"
		}
		if err := record(state, c.Channel); err != nil {
			return err
		}
	}
	l.st.Consent = "withdrawn"
	if granted {
		l.st.Consent = "granted"
	}
	return l.openTasks(ctx)
}
