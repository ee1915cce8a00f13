package workflows_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// TestErasureShredsAfterTheEvidenceHold: with a 30-day evidence hold, the
// request completes (and answers) at once, and the subject's key is
// destroyed 30 days later, not before; without a hold it goes as soon as
// the erasure completes.
func TestErasureShredsAfterTheEvidenceHold(t *testing.T) {
	for _, hold := range []time.Duration{30 * day, 0} {
		acts, _ := systemsActivities(t)
		acts.Aftercare = domain.Aftercare{Hold: hold}
		e := newEnv(testKeys)
		e.RegisterActivity(acts)
		st := acts.Store.(*store.Store)
		var shredAt time.Time
		e.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, err error) {
			if info.ActivityType.Name == "Shred" && err == nil {
				shredAt = e.Now()
			}
		})
		keyBeforeHold := errors.New("not looked at")
		if hold > 0 {
			// Halfway through the hold, the key still opens.
			e.RegisterDelayedCallback(func() {
				_, keyBeforeHold = st.ExistingRequestKey(context.Background(), testKeys, "REQ-HOLD")
			}, 2*day+hold/2)
		}
		update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
		update(e, day, workflows.UpdateDecide, approve("Finance", "cfo@acme.example"))
		e.ExecuteWorkflow(workflows.Request, erasure("REQ-HOLD"))
		res := result(t, e)
		completedAt := completion(res)
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

func completion(res workflows.RequestState) time.Time {
	for _, c := range res.Timeline {
		if c.Status == domain.StatusCompleted {
			return c.At
		}
	}
	return time.Time{}
}

// TestResurrectionCheck: a backup restore puts 2 of the subject's rows
// back in the CRM after its erasure. The check 7 days after the erasure
// finds them and tells compliance and Sales; an erase-again before it is
// refused; compliance erases again with one command, counted exactly (2,
// not the first erasure's 3) and verified; the check at 30 days finds
// nothing; then the key is destroyed. A request with nothing found again
// refuses erase-again.
func TestResurrectionCheck(t *testing.T) {
	acts, sys := systemsActivities(t)
	acts.Aftercare = domain.DefaultAftercare()
	e := newEnv(testKeys)
	e.RegisterActivity(acts)
	sent := acts.Notifier.(*notices)
	update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	update(e, day, workflows.UpdateDecide, approve("Finance", "cfo@acme.example"))
	early := update(e, 3*day, workflows.UpdateEraseAgain, workflows.EraseAgain{})
	e.RegisterDelayedCallback(func() { // a backup of the CRM is restored
		sys.crm.mu.Lock()
		sys.crm.rows = 2
		sys.crm.mu.Unlock()
	}, 4*day)
	again := update(e, 12*day, workflows.UpdateEraseAgain, workflows.EraseAgain{})
	twice := update(e, 13*day, workflows.UpdateEraseAgain, workflows.EraseAgain{})
	e.ExecuteWorkflow(workflows.Request, erasure("REQ-BACK"))
	res := result(t, e)
	if early.rejected == nil || !strings.Contains(early.rejected.Error(), "has no data found again after its erasure") {
		t.Fatalf("erase-again before anything came back: %v", early.rejected)
	}
	if again.rejected != nil || again.err != nil {
		t.Fatalf("erase-again: %v %v", again.rejected, again.err)
	}
	if twice.rejected == nil {
		t.Fatal("erase-again with nothing left to erase was accepted")
	}
	var notes []string
	for _, c := range res.Timeline {
		if strings.Contains(c.Note, "resurrection") || strings.Contains(c.Note, "again") {
			notes = append(notes, c.Note)
		}
	}
	want := []string{
		"Request REQ-BACK: resurrection check 7 days after the erasure found the subject's data again in crm (found 2 in main). Erase it again with: starter erase-again REQ-BACK",
		"crm: erased again at cli:test's request: deleted 2 in main; verified",
		"resurrection check 30 days after the erasure: nothing found again in 2 systems",
	}
	if !slices.Equal(notes, want) {
		t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(notes, "\n"), strings.Join(want, "\n"))
	}
	var told []string
	for _, k := range sent.kinds() {
		if strings.HasSuffix(k, ":resurrected") {
			told = append(told, k)
		}
	}
	if got := strings.Join(told, " "); got != "compliance:resurrected Sales:resurrected" {
		t.Fatalf("told of the resurrection: %s", got)
	}
	if _, err := acts.Store.(*store.Store).ExistingRequestKey(context.Background(), testKeys, "REQ-BACK"); !errors.Is(err, store.ErrKeyDestroyed) {
		t.Fatalf("after the hold: %v", err)
	}
}

// TestResurrectionAtTheLastCheck: data found by the last check keeps the
// request open after the key is destroyed (the identities are in the
// workflow), reminds compliance weekly, and closes once erased again.
func TestResurrectionAtTheLastCheck(t *testing.T) {
	acts, sys := systemsActivities(t)
	acts.Aftercare = domain.DefaultAftercare()
	e := newEnv(testKeys)
	e.RegisterActivity(acts)
	sent := acts.Notifier.(*notices)
	st := acts.Store.(*store.Store)
	update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	update(e, day, workflows.UpdateDecide, approve("Finance", "cfo@acme.example"))
	e.RegisterDelayedCallback(func() {
		sys.billing.mu.Lock()
		sys.billing.rows = 1
		sys.billing.mu.Unlock()
	}, 20*day)
	var keyAtCheck error
	e.RegisterDelayedCallback(func() {
		_, keyAtCheck = st.ExistingRequestKey(context.Background(), testKeys, "REQ-LAST")
	}, 35*day)
	again := update(e, 40*day, workflows.UpdateEraseAgain, workflows.EraseAgain{})
	e.ExecuteWorkflow(workflows.Request, erasure("REQ-LAST"))
	res := result(t, e)
	if again.rejected != nil || again.err != nil {
		t.Fatalf("erase-again: %v %v", again.rejected, again.err)
	}
	if !errors.Is(keyAtCheck, store.ErrKeyDestroyed) {
		t.Fatalf("the key was not destroyed at the end of the hold: %v", keyAtCheck)
	}
	var told []string
	for _, k := range sent.kinds() {
		if strings.HasSuffix(k, ":resurrected") {
			told = append(told, k)
		}
	}
	// Found at 30 days (compliance, Finance), reminded at 37.
	if got := strings.Join(told, " "); got != "compliance:resurrected Finance:resurrected compliance:resurrected" {
		t.Fatalf("told: %s", got)
	}
	if last := res.Timeline[len(res.Timeline)-1].Note; last != "billing: erased again at cli:test's request: deleted 1 in main; verified" || res.WaitingFor != "" {
		t.Fatalf("ended with %q, waiting for %q", last, res.WaitingFor)
	}
}
