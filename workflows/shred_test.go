package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// TestErasureShredsAfterTheEvidenceHold: with a 30-day evidence hold in
// the data map, the request completes (and answers) at once, and the
// subject's key is destroyed 30 days later, not before; without a hold it
// goes as soon as the erasure completes.
func TestErasureShredsAfterTheEvidenceHold(t *testing.T) {
	for _, hold := range []time.Duration{30 * day, 0} {
		acts, _ := systemsActivities(t)
		acts.EvidenceHold = hold
		e := newEnv(testKeys)
		e.RegisterActivity(acts)
		st := acts.Store.(*store.Store)
		var shredAt time.Time
		e.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, err error) {
			if info.ActivityType.Name == "Shred" && err == nil {
				shredAt = e.Now()
			}
		})
		var keyBeforeHold error = errors.New("not looked at")
		if hold > 0 {
			// Halfway through the hold, Jane's key is still there.
			e.RegisterDelayedCallback(func() {
				_, keyBeforeHold = st.ExistingRequestKey(context.Background(), testKeys, "REQ-HOLD")
			}, 2*day+hold/2)
		}
		update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
		update(e, day, workflows.UpdateDecide, approve("Finance", "cfo@acme.example"))
		e.ExecuteWorkflow(workflows.Request, erasure("REQ-HOLD"))
		res := result(t, e)
		var completedAt time.Time
		for _, c := range res.Timeline {
			if c.Status == domain.StatusCompleted {
				completedAt = c.At
			}
		}
		if res.Status != domain.StatusCompleted || completedAt.IsZero() || shredAt.IsZero() {
			t.Fatalf("hold %v: %s, completed %v, shredded %v", hold, res.Status, completedAt, shredAt)
		}
		if got := shredAt.Sub(completedAt); got < hold || got > hold+time.Hour {
			t.Fatalf("hold %v: the key went %v after completion", hold, got)
		}
		if hold > 0 && keyBeforeHold != nil {
			t.Fatalf("hold %v: halfway through the hold the key does not open: %v", hold, keyBeforeHold)
		}
		if _, err := st.ExistingRequestKey(context.Background(), testKeys, "REQ-HOLD"); !errors.Is(err, store.ErrKeyDestroyed) {
			t.Fatalf("hold %v: after the shred: %v", hold, err)
		}
	}
}
