package workflows_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/workflows"
)

// TestUnverifiedRequestIsClosed: nobody verifies the subject, so 30 days
// after the receipt the request is denied by the engine, the subject is
// told why and that they may ask again, and the store agrees. Reminders
// and escalation came before, as for any wait.
func TestUnverifiedRequestIsClosed(t *testing.T) {
	e, st, _, sent := envWithNotices(t)
	e.ExecuteWorkflow(workflows.Request, unverified("REQ-U"))
	res := result(t, e)
	last := res.Timeline[len(res.Timeline)-1]
	if res.Status != domain.StatusDenied || last.Actor != "engine" || !strings.Contains(last.Note, "not verified within 30 days") {
		t.Fatalf("result: %s, last step %+v", res.Status, last)
	}
	// Received 01-31 09:30: closed 03-02 09:30, after the deadline's escalations.
	if at := last.At.Format("01-02 15:04"); at != "03-02 09:30" {
		t.Fatalf("closed at %s", at)
	}
	kinds := strings.Join(sent.kinds(), " ")
	if !strings.HasSuffix(kinds, "subject:denial") || !strings.Contains(kinds, "compliance-lead:escalation") {
		t.Fatalf("notices: %s", kinds)
	}
	if d := sent.last("denial"); !strings.Contains(d, "not verified within 30 days") || !strings.Contains(d, "you may make a new request") {
		t.Fatalf("the subject is told: %q", d)
	}
	r, _ := st.GetRequest(context.Background(), "REQ-U")
	if r.Status != domain.StatusDenied || r.CompletedAt == nil {
		t.Fatalf("stored: %+v", r)
	}
}

// TestVerifiedInTimeIsNotClosed: verified on day 29, the request goes on
// and completes; the closing never fires.
func TestVerifiedInTimeIsNotClosed(t *testing.T) {
	e, _, _, sent := envWithNotices(t)
	v := update(e, 29*day, workflows.UpdateVerifyIdentity, workflows.Verification{Actor: "compliance:alice", Method: "ID document checked"})
	e.ExecuteWorkflow(workflows.Request, unverified("REQ-29"))
	res := result(t, e)
	if !v.done || v.rejected != nil || res.Status != domain.StatusCompleted {
		t.Fatalf("verify %+v; status %s", v, res.Status)
	}
	if strings.Contains(strings.Join(sent.kinds(), " "), "denial") {
		t.Fatalf("denied anyway: %v", sent.kinds())
	}
}

// TestDataMapSetsTheVerificationWait: the map's close_unverified_after
// (here 10 days) applies to the requests that start under it.
func TestDataMapSetsTheVerificationWait(t *testing.T) {
	e, st, keys, sent := envWithNotices(t)
	e.RegisterActivity(&activities.Activities{Store: st, Keys: keys, Notifier: sent, ExportDir: t.TempDir(),
		Reminders: domain.ReminderPolicy{Halfway: true, EscalateEvery: day, CloseUnverifiedAfter: 10 * day}})
	e.ExecuteWorkflow(workflows.Request, unverified("REQ-10"))
	res := result(t, e)
	last := res.Timeline[len(res.Timeline)-1]
	if res.Status != domain.StatusDenied || !strings.Contains(last.Note, "within 10 days") || last.At.Format("01-02 15:04") != "02-10 09:30" {
		t.Fatalf("result: %s, last step %+v", res.Status, last)
	}
}

// TestVerificationWaitCountsFromTheReceiptAcrossRuns: a request that
// continues as new every five days while it waits is still closed 30
// days after its receipt, not 30 days after its last run began.
func TestVerificationWaitCountsFromTheReceiptAcrossRuns(t *testing.T) {
	acts, _ := systemsActivities(t)
	c := &chain{t: t, acts: acts, suggestEvery: 5 * day}
	in := erasure("REQ-RUNS")
	in.IdentityVerified = false
	res := c.run(in)
	last := res.Timeline[len(res.Timeline)-1]
	if res.Status != domain.StatusDenied || c.runs < 5 || last.At.Sub(in.ReceivedAt) != 30*day {
		t.Fatalf("status %s after %d runs, closed %s after the receipt", res.Status, c.runs, last.At.Sub(in.ReceivedAt))
	}
}
