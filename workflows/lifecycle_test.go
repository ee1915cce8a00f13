package workflows_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/workflows"
)

// The request of these tests arrives 31 January 2026 09:30 UTC under GDPR,
// so it is due at the end of 28 February.

const day = 24 * time.Hour

func unverified(id string) workflows.RequestInput {
	in := input(id)
	in.IdentityVerified = false
	return in
}

// patient waits for its subject's verification for five years, not the
// default 30 days: for the tests of what happens during a long wait.
func patient(in workflows.RequestInput) workflows.RequestInput {
	in.Reminders = domain.DefaultReminders()
	in.Reminders.CloseUnverifiedAfter = 5 * 365 * day
	return in
}

// update sends an update at a workflow time offset and records the outcome.
type outcome struct {
	rejected error
	err      error
	result   any
	done     bool
}

func update(e *testsuite.TestWorkflowEnvironment, at time.Duration, name string, arg any) *outcome {
	return updateAs(e, at, name, arg, nil)
}

// testWorkflowID is the test environment's workflow id.
const testWorkflowID = "default-test-workflow-id"

// signer is how a test signs a change: sign(claim) returns the argument to
// send for the Update with this id, at the environment's time.
type signer func(e *testsuite.TestWorkflowEnvironment, name, updateID string, arg any) any

// updateAs sends an update signed by sign, or by the engine's key as the
// actor the change names (its approver, or its actor as compliance).
func updateAs(e *testsuite.TestWorkflowEnvironment, at time.Duration, name string, arg any, sign signer) *outcome {
	o := &outcome{}
	if sign == nil {
		sign = signAs(testKeys, nil)
	}
	e.RegisterDelayedCallback(func() {
		var args []any
		id := fmt.Sprintf("update-%d", nextUpdate.Add(1))
		if arg != nil {
			args = append(args, sign(e, name, id, arg))
		}
		e.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { o.rejected, o.done = err, true },
			OnComplete: func(r any, err error) { o.result, o.err, o.done = r, err, true },
		}, args...)
	}, at)
	return o
}

var nextUpdate atomic.Int64

// testKeys is the keyring of envWithNotices's worker.
var testKeys = func() *keyring.Keyring {
	k, err := keyring.New(keysFor())
	if err != nil {
		panic(err)
	}
	return k
}()

// signAs signs with keys, as who, or when who is nil as the actor the
// change names.
func signAs(keys claims.Keys, who *claims.Actor) signer {
	return func(e *testsuite.TestWorkflowEnvironment, name, updateID string, arg any) any {
		a := actorIn(arg)
		if who != nil {
			a = *who
		}
		signed, err := claims.Sign(keys, a, name, testWorkflowID, updateID, e.Now(), arg)
		if err != nil {
			panic(err)
		}
		return signed
	}
}

// actorIn is the actor a change names: an approver, or compliance.
func actorIn(arg any) claims.Actor {
	switch v := arg.(type) {
	case workflows.Decision:
		return claims.Actor{Name: v.Approver, Role: claims.RoleApprover, Channel: or(v.Via, "test")}
	case workflows.TaskCompletion:
		return claims.Actor{Name: v.Approver, Role: claims.RoleApprover, Channel: or(v.Via, "test")}
	case workflows.Verification:
		return claims.Actor{Name: or(v.Actor, "cli:test"), Role: claims.RoleRequester, Channel: "test"}
	case workflows.ExtensionRequest:
		return claims.Actor{Name: or(v.Actor, "cli:test"), Role: claims.RoleRequester, Channel: "test"}
	case workflows.Closure:
		return claims.Actor{Name: or(v.Actor, "cli:test"), Role: claims.RoleRequester, Channel: "test"}
	case workflows.Retry:
		return claims.Actor{Name: or(v.Actor, "cli:test"), Role: claims.RoleRequester, Channel: "test"}
	}
	return claims.Actor{Name: "cli:test", Role: claims.RoleRequester, Channel: "test"}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func result(t *testing.T, e *testsuite.TestWorkflowEnvironment) workflows.RequestState {
	t.Helper()
	if !e.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.RequestState
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func alertsOf(res workflows.RequestState) []string {
	var out []string
	for _, a := range res.Alerts {
		out = append(out, string(a.Kind)+"@"+a.At.Format("01-02 15:04"))
	}
	return out
}

func TestVerifiedOnTimeSendsNoReminder(t *testing.T) {
	e, _, _, sent := envWithNotices(t)
	v := update(e, 2*day, workflows.UpdateVerifyIdentity, workflows.Verification{Actor: "compliance:alice", Method: "matched account login"})
	e.ExecuteWorkflow(workflows.Request, unverified("REQ-V"))
	res := result(t, e)
	if !v.done || v.err != nil || v.rejected != nil {
		t.Fatalf("verify: %+v", v)
	}
	if res.Status != domain.StatusCompleted || !res.IdentityVerified || len(res.Alerts) != 0 {
		t.Fatalf("result: %+v", res)
	}
	if got := strings.Join(sent.kinds(), " "); got != "subject:receipt subject:answer" {
		t.Fatalf("notices: %s", got)
	}
	var statuses []string
	for _, c := range res.Timeline {
		statuses = append(statuses, string(c.Status)+"/"+c.Actor)
	}
	want := "received/cli:alice verifying/engine verifying/compliance:alice discovery/engine fulfilling/engine answering/engine completed/engine"
	if got := strings.Join(statuses, " "); got != want {
		t.Fatalf("timeline: %s\nwant      %s", got, want)
	}
}

func TestRemindersThenEscalationUntilDenied(t *testing.T) {
	e, st, _, sent := envWithNotices(t)
	// Nobody verifies; compliance denies 2.5 days after the deadline.
	deny := update(e, 31*day, workflows.UpdateDeny, workflows.Closure{Actor: "compliance:lead", Reason: "identity could not be verified"})
	e.ExecuteWorkflow(workflows.Request, patient(unverified("REQ-R")))
	res := result(t, e)
	if !deny.done || deny.err != nil {
		t.Fatalf("deny: %+v", deny)
	}
	// received 01-31 09:30, due 02-28 23:59:59: halfway, a week and a day
	// before, then daily escalations from the deadline on.
	want := "reminder@02-14 16:44 reminder@02-21 23:59 reminder@02-27 23:59 escalation@02-28 23:59 escalation@03-01 23:59 escalation@03-02 23:59"
	if got := strings.Join(alertsOf(res), " "); got != want {
		t.Fatalf("alerts:\n got %s\nwant %s", got, want)
	}
	for _, a := range res.Alerts {
		if a.Kind == domain.Escalation && (len(a.To) != 2 || a.To[0] != workflows.ToComplianceLead) {
			t.Fatalf("escalation recipients %v", a.To)
		}
	}
	got := strings.Join(sent.kinds(), " ")
	if strings.Count(got, "compliance-lead:escalation") != 3 || strings.Count(got, "compliance:reminder") != 3 || !strings.HasSuffix(got, "subject:denial") {
		t.Fatalf("notices: %s", got)
	}
	if res.Status != domain.StatusDenied || res.Timeline[len(res.Timeline)-1].Actor != "compliance:lead" || res.Timeline[len(res.Timeline)-1].Note != "identity could not be verified" {
		t.Fatalf("result: %+v", res)
	}
	r, _ := st.GetRequest(context.Background(), "REQ-R")
	if r.Status != domain.StatusDenied || r.CompletedAt == nil {
		t.Fatalf("stored: %+v", r)
	}
}

func TestExtensionMovesDeadlineAndTellsSubject(t *testing.T) {
	e, st, _, sent := envWithNotices(t)
	ext := update(e, 10*day, workflows.UpdateExtend, workflows.ExtensionRequest{Actor: "compliance:alice", By: domain.Period{Months: 2}, Reason: "data held in 14 systems"})
	update(e, 50*day, workflows.UpdateVerifyIdentity, workflows.Verification{Actor: "compliance:alice", Method: "ID document checked"})
	e.ExecuteWorkflow(workflows.Request, patient(unverified("REQ-X")))
	res := result(t, e)
	if !ext.done || ext.err != nil || ext.rejected != nil {
		t.Fatalf("extend: %+v", ext)
	}
	if d := res.DueAt.Format(time.DateOnly); d != "2026-04-30" || res.OriginalDueAt.Format(time.DateOnly) != "2026-02-28" || len(res.Extensions) != 1 {
		t.Fatalf("due %s original %s extensions %v", d, res.OriginalDueAt, res.Extensions)
	}
	// The old deadline passes without escalation; the new halfway reminder came.
	for _, a := range res.Alerts {
		if a.Kind == domain.Escalation {
			t.Fatalf("escalated although extended: %v", alertsOf(res))
		}
	}
	if got := strings.Join(alertsOf(res), " "); got != "reminder@03-17 04:44" {
		t.Fatalf("alerts: %s", got)
	}
	if got := strings.Join(sent.kinds(), " "); !strings.Contains(got, "subject:extension") {
		t.Fatalf("subject not told of the extension: %s", got)
	}
	r, _ := st.GetRequest(context.Background(), "REQ-X")
	if r.ExtendedDueAt == nil || r.ExtendedDueAt.Format(time.DateOnly) != "2026-04-30" {
		t.Fatalf("stored extension: %+v", r.ExtendedDueAt)
	}
}

type call struct {
	at   time.Duration
	name string
	arg  any
}

// TestRefusedChanges: the last call of each case must be refused by the
// validator with the given reason; the calls before it set the stage.
func TestRefusedChanges(t *testing.T) {
	ccpa := unverified("B")
	ccpa.Regulation = domain.CCPA
	ccpa.DueAt = domain.DueAt(domain.CCPA, ccpa.ReceivedAt)
	extend := func(by domain.Period, reason string) workflows.ExtensionRequest {
		return workflows.ExtensionRequest{Actor: "compliance:c", By: by, Reason: reason}
	}
	tests := []struct {
		name    string
		in      workflows.RequestInput
		calls   []call
		refused string
	}{
		{"gdpr beyond two months", unverified("A"), []call{{day, workflows.UpdateExtend, extend(domain.Period{Months: 3}, "r")}}, "at most 2 months"},
		{"gdpr extension in days", unverified("A"), []call{{day, workflows.UpdateExtend, extend(domain.Period{Days: 20}, "r")}}, "counted in months"},
		{"ccpa second extension", ccpa, []call{
			{day, workflows.UpdateExtend, extend(domain.Period{Days: 10}, "r")},
			{2 * day, workflows.UpdateExtend, extend(domain.Period{Days: 10}, "again")}}, "allows 1 extension(s) and 1 already granted"},
		{"extension without reason", unverified("C"), []call{{day, workflows.UpdateExtend, extend(domain.Period{Months: 1}, "")}}, "needs a reason"},
		{"extension after the original deadline", patient(unverified("D")), []call{{30 * day, workflows.UpdateExtend, extend(domain.Period{Months: 1}, "late")}}, "original deadline 28 February 2026 has passed"},
		{"verify without method", unverified("E"), []call{{day, workflows.UpdateVerifyIdentity, workflows.Verification{Actor: "c"}}}, "needs the method"},
		{"verify twice", unverified("F"), []call{
			{day, workflows.UpdateVerifyIdentity, workflows.Verification{Actor: "c", Method: "m"}},
			{day, workflows.UpdateVerifyIdentity, workflows.Verification{Actor: "c", Method: "m"}}}, "already verified"},
		{"cancel without reason", unverified("G"), []call{{day, workflows.UpdateCancel, workflows.Closure{Actor: "c"}}}, "needs a reason"},
		{"cancel twice", unverified("H"), []call{
			{day, workflows.UpdateCancel, workflows.Closure{Actor: "c", Reason: "duplicate"}},
			{day, workflows.UpdateCancel, workflows.Closure{Actor: "d", Reason: "again"}}}, "already cancelled"},
		{"deny after cancel", unverified("I"), []call{
			{day, workflows.UpdateCancel, workflows.Closure{Actor: "c", Reason: "duplicate"}},
			{day, workflows.UpdateDeny, workflows.Closure{Actor: "d", Reason: "unfounded"}}}, "already cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _, _ := envWithNotices(t)
			expectRefusal(t, e, tt.in, tt.calls, tt.refused)
		})
	}
}

// expectRefusal sends the calls, ends the request with a late cancellation
// if it is still open, and checks that the last call was refused with the
// given reason.
func expectRefusal(t *testing.T, e *testsuite.TestWorkflowEnvironment, in workflows.RequestInput, calls []call, refused string) {
	t.Helper()
	var probe *outcome
	for _, c := range calls {
		probe = update(e, c.at, c.name, c.arg)
	}
	update(e, 35*day, workflows.UpdateCancel, workflows.Closure{Actor: "test", Reason: "end of test"})
	e.ExecuteWorkflow(workflows.Request, in)
	if !e.IsWorkflowCompleted() {
		t.Fatal("workflow did not end")
	}
	if probe.rejected == nil || !strings.Contains(probe.rejected.Error(), refused) {
		t.Fatalf("want refusal %q, got %+v", refused, probe)
	}
}

func TestCancellationStopsPendingWork(t *testing.T) {
	e, st, _, sent := envWithNotices(t)
	update(e, 3*day, workflows.UpdateCancel, workflows.Closure{Actor: "compliance:alice", Reason: "subject withdrew the request by phone"})
	e.ExecuteWorkflow(workflows.Request, unverified("REQ-C"))
	res := result(t, e)
	last := res.Timeline[len(res.Timeline)-1]
	if res.Status != domain.StatusCancelled || last.Actor != "compliance:alice" || last.Note != "subject withdrew the request by phone" || len(res.Alerts) != 0 {
		t.Fatalf("result: %+v", res)
	}
	if got := strings.Join(sent.kinds(), " "); got != "subject:receipt" {
		t.Fatalf("notices after cancellation: %s", got)
	}
	if e.Now().Sub(time.Date(2026, 1, 31, 9, 30, 0, 0, time.UTC)) > 4*day {
		t.Fatalf("workflow kept running after cancellation until %s", e.Now())
	}
	log, _ := st.AuditLog(context.Background(), "REQ-C")
	lastAudit := log[len(log)-1]
	if lastAudit.Actor != "compliance:alice" || !strings.Contains(lastAudit.DetailRaw, `"to":"cancelled"`) {
		t.Fatalf("audit: %+v", lastAudit)
	}
}

func TestDuplicateOfAnOpenRequestIsClosed(t *testing.T) {
	e, st, keys, sent := envWithNotices(t)
	open := input("REQ-OPEN")
	if _, err := st.RecordRequest(context.Background(), keys, records.Request{ID: open.RequestID, Type: open.Type, Regulation: open.Regulation,
		ReceivedAt: open.ReceivedAt, DueAt: open.DueAt, WorkflowID: "dsr-REQ-OPEN"}, open.Identities, "cli:bob"); err != nil {
		t.Fatal(err)
	}
	adm := update(e, 0, workflows.UpdateAdmission, nil)
	e.ExecuteWorkflow(workflows.Request, input("REQ-DUP"))
	res := result(t, e)
	last := res.Timeline[len(res.Timeline)-1]
	if res.Status != domain.StatusCancelled || last.Actor != "engine" || !strings.Contains(last.Note, "duplicate of open request REQ-OPEN") {
		t.Fatalf("result: %+v", res)
	}
	if a, ok := adm.result.(workflows.Admission); !adm.done || adm.err != nil || !ok || a.DuplicateOf != "REQ-OPEN" {
		t.Fatalf("admission: %+v", adm)
	}
	if got := sent.kinds(); len(got) != 0 {
		t.Fatalf("a duplicate must not notify the subject: %v", got)
	}
}

// TestDataMapReminderPolicy: without a policy in the request, the data map's
// applies: here no halfway reminder, one three days before, escalation
// every 12 hours.
func TestDataMapReminderPolicy(t *testing.T) {
	e, st, keys, _ := envWithNotices(t)
	e.RegisterActivity(&activities.Activities{Store: st, Keys: keys, Notifier: &notices{}, ExportDir: t.TempDir(),
		Reminders: domain.ReminderPolicy{Before: []time.Duration{3 * day}, EscalateEvery: 12 * time.Hour}})
	update(e, 30*day, workflows.UpdateDeny, workflows.Closure{Actor: "compliance:lead", Reason: "identity could not be verified"})
	e.ExecuteWorkflow(workflows.Request, unverified("REQ-POLICY"))
	res := result(t, e)
	want := "reminder@02-25 23:59 escalation@02-28 23:59 escalation@03-01 11:59 escalation@03-01 23:59"
	if got := strings.Join(alertsOf(res), " "); got != want {
		t.Fatalf("alerts:\n got %s\nwant %s", got, want)
	}
}

// TestBackDatedReceiptAlertsOnce: a request received three years ago is
// long overdue. It gets one catch-up escalation, then the policy's rhythm
// (weekly here), not every alert it "missed" back to back.
func TestBackDatedReceiptAlertsOnce(t *testing.T) {
	e, st, keys, sent := envWithNotices(t)
	e.RegisterActivity(&activities.Activities{Store: st, Keys: keys, Notifier: sent, ExportDir: t.TempDir(),
		Reminders: domain.ReminderPolicy{Halfway: true, Before: []time.Duration{7 * day, day}, EscalateEvery: 7 * day, CloseUnverifiedAfter: 5 * 365 * day}})
	in := unverified("REQ-OLD")
	in.ReceivedAt = in.ReceivedAt.AddDate(-3, 0, 0)
	in.DueAt = domain.DueAt(domain.GDPR, in.ReceivedAt)
	// Idle for ten days, then denied.
	update(e, 10*day, workflows.UpdateDeny, workflows.Closure{Actor: "compliance:lead", Reason: "identity could not be verified"})
	var acts, timers int
	e.SetOnActivityStartedListener(func(*activity.Info, context.Context, converter.EncodedValues) { acts++ })
	e.SetOnTimerScheduledListener(func(string, time.Duration) { timers++ })
	e.ExecuteWorkflow(workflows.Request, in)
	res := result(t, e)
	// The test environment keeps no history, so its length is bounded from
	// what the run did: the start and close, 3 events per activity, 2 per
	// timer, 2 per Update, one per status (search attributes) and version
	// marker, and at most one workflow task (3 events) per thing that woke
	// the workflow, plus the first.
	const updates, markers = 1, 12
	events := 2 + 3*acts + 2*timers + 2*updates + len(res.Timeline) + markers + 3*(1+acts+timers+updates)
	if events >= 200 {
		t.Fatalf("up to %d history events for %d activities and %d timers; want fewer than 200", events, acts, timers)
	}
	t.Logf("at most %d history events: %d activities, %d timers", events, acts, timers)
	// Received 2023-01-31, due 2023-02-28; the run starts 2026-01-31 09:30.
	want := "escalation@01-31 09:30 escalation@02-03 23:59"
	if got := strings.Join(alertsOf(res), " "); got != want {
		t.Fatalf("alerts:\n got %s\nwant %s", got, want)
	}
	if n := strings.Count(strings.Join(sent.kinds(), " "), "compliance-lead:escalation"); n != 2 {
		t.Fatalf("%d escalation notices: %v", n, sent.kinds())
	}
}
