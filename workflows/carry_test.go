package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

// chain runs a request across continue-as-new in the time-skipping test
// environment, as the server would: each run in a new environment that
// starts when and with what the last one ended, continued from it. The
// environment counts no history, so the server's suggestion to continue
// is given every suggestEvery into each run; the real server's count is
// tested in TestLongWaitContinuesAsNewOnTheServer.
type chain struct {
	t            *testing.T
	acts         *activities.Activities
	suggestEvery time.Duration
	steps        []*step
	// runs are the runs so far; starts their start times.
	runs   int
	starts []time.Time
	sent   []sentUpdate
}

type sentUpdate struct {
	name string
	at   time.Duration
	*outcome
}

// step is something done at a time since the first run started, in
// whichever run is then running.
type step struct {
	at    time.Duration
	fired bool
	do    func(e *testsuite.TestWorkflowEnvironment)
	// again says whether a fired step is to be done again in the next run.
	again func() bool
}

var firstStart = time.Date(2026, 1, 31, 9, 30, 0, 0, time.UTC)

// update sends an Update at a time since the first start, signed as the
// change names (see signAs), with this update id ("" for a new one).
func (c *chain) update(at time.Duration, name, id string, arg any) *outcome {
	o := &outcome{}
	c.sent = append(c.sent, sentUpdate{name, at, o})
	// An Update the run did not answer before it handed over is sent to
	// the next run, as the server does.
	c.steps = append(c.steps, &step{at: at, again: func() bool { return !o.done }, do: func(e *testsuite.TestWorkflowEnvironment) {
		uid := id
		if uid == "" {
			uid = fmt.Sprintf("update-%d", nextUpdate.Add(1))
		}
		e.UpdateWorkflow(name, uid, &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { o.rejected, o.done = err, true },
			OnComplete: func(r any, err error) { o.result, o.err, o.done = r, err, true },
		}, signAs(testKeys, nil)(e, name, uid, arg))
	}})
	return o
}

// run runs in from its first start to its end and returns its result.
func (c *chain) run(in workflows.RequestInput) workflows.RequestState {
	c.t.Helper()
	now, from := firstStart, ""
	for {
		e := newEnv(testKeys)
		e.RegisterActivity(c.acts)
		e.SetStartTime(now)
		if from != "" {
			e.SetContinuedExecutionRunID(from)
		}
		elapsed := now.Sub(firstStart)
		for _, s := range c.steps {
			if !s.fired && s.at >= elapsed {
				// Not before the run has started: the server holds an Update
				// sent during the hand-over for the next run.
				e.RegisterDelayedCallback(func() { s.fired = true; s.do(e) }, max(s.at-elapsed, time.Second))
			}
		}
		if c.suggestEvery > 0 {
			e.RegisterDelayedCallback(func() { e.SetContinueAsNewSuggested(true) }, c.suggestEvery)
		}
		c.runs++
		c.starts = append(c.starts, now)
		e.ExecuteWorkflow(workflows.Request, in)
		for _, s := range c.steps {
			s.fired = s.fired && (s.again == nil || !s.again())
		}
		var next *workflow.ContinueAsNewError
		if !errors.As(e.GetWorkflowError(), &next) {
			return result(c.t, e)
		}
		if next.WorkflowType.Name != "Request" {
			c.t.Fatalf("run %d continued as %s", c.runs, next.WorkflowType.Name)
		}
		in = workflows.RequestInput{}
		if err := converter.GetDefaultDataConverter().FromPayloads(next.Input, &in); err != nil {
			c.t.Fatal(err)
		}
		now, from = e.Now(), fmt.Sprintf("run-%d", c.runs)
		if c.runs > 30 {
			for _, u := range c.sent {
				c.t.Logf("%s at %s: %+v", u.name, u.at, *u.outcome)
			}
			c.t.Fatal("more than 30 runs: the request continues as new without getting anywhere")
		}
	}
}

// TestFourHundredDaysOfWaiting follows an erasure for 400 days: the
// subject verifies on day 45, Sales signs off on day 100, Finance only on
// day 400. Escalation is daily from 28 February. The request continues as
// new whenever the server suggests it, and every run resumes the wait the
// last one left: one escalation a day, no notice sent twice, every
// decision kept, and the last run completes the erasure.
func TestFourHundredDaysOfWaiting(t *testing.T) {
	acts, sys := systemsActivities(t)
	c := &chain{t: t, acts: acts, suggestEvery: 60 * day}
	verify := c.update(45*day, workflows.UpdateVerifyIdentity, "", workflows.Verification{Method: "account login"})
	sales := c.update(100*day, workflows.UpdateDecide, "", approve("Sales", "sales.lead@acme.example"))
	// Approvers are part of the carried state: Sales's lead cannot sign for
	// Finance in a later run either.
	stranger := c.update(250*day, workflows.UpdateDecide, "", approve("Finance", "sales.lead@acme.example"))
	finance := c.update(400*day, workflows.UpdateDecide, "", approve("Finance", "cfo@acme.example"))
	in := erasure("REQ-400")
	in.IdentityVerified = false
	res := c.run(patient(in))

	if res.Status != domain.StatusCompleted {
		t.Fatalf("status %s after %d runs", res.Status, c.runs)
	}
	if c.runs < 6 {
		t.Fatalf("%d runs in 400 days; want one about every 60 days", c.runs)
	}
	for name, o := range map[string]*outcome{"verification": verify, "Sales": sales, "Finance": finance} {
		if !o.done || o.rejected != nil || o.err != nil {
			t.Fatalf("%s: %+v", name, o)
		}
	}
	if stranger.rejected == nil || !strings.Contains(stranger.rejected.Error(), "is not an approver for Finance") {
		t.Fatalf("Sales's lead signing for Finance in run 5: %+v", stranger)
	}
	// One escalation a day, from the deadline to Finance's decision, across
	// every hand-over: none twice, none missed.
	var esc []time.Time
	for _, a := range res.Alerts {
		if a.Kind == domain.Escalation {
			esc = append(esc, a.At)
		}
	}
	for i := 1; i < len(esc); i++ {
		if esc[i].Sub(esc[i-1]) != day {
			t.Fatalf("escalations %d and %d are %s apart (%s, %s)", i, i+1, esc[i].Sub(esc[i-1]), esc[i-1], esc[i])
		}
	}
	due := in.DueAt
	if want := int(firstStart.Add(400*day).Sub(due)/day) + 1; len(esc) != want || !esc[0].Equal(due.UTC()) {
		t.Fatalf("%d escalations from %s; want %d from the deadline %s", len(esc), esc[0], want, due)
	}
	kinds := acts.Notifier.(*notices).kinds()
	for _, once := range []string{"subject:receipt", "Sales:signoff", "Finance:signoff", "subject:answer"} {
		if n := count(kinds, once); n != 1 {
			t.Errorf("%s sent %d times", once, n)
		}
	}
	if n := count(kinds, "compliance-lead:escalation"); n != len(esc) {
		t.Errorf("%d escalation notices to the lead for %d escalations", n, len(esc))
	}
	var notes []string
	for _, s := range res.Timeline {
		notes = append(notes, s.Note)
	}
	for _, want := range []string{"identity verified: account login", "Sales: approve", "Finance: approve", "answer sent"} {
		if !strings.Contains(strings.Join(notes, "\n"), want) {
			t.Errorf("timeline lacks %q: %q", want, notes)
		}
	}
	if sys.crm.erasures != 1 || sys.billing.erasures != 1 {
		t.Fatalf("erasures: crm %d, billing %d", sys.crm.erasures, sys.billing.erasures)
	}
}

// TestEveryWaitResumesInTheNextRun hands a request over in each of its
// waits (for verification, linked identities, sign-off, an operator's
// retry, a manual task) and checks it ends as a request that never
// continued would.
func TestEveryWaitResumesInTheNextRun(t *testing.T) {
	acts, sys := systemsActivities(t, paper)
	sys.billing.failing = errors.New("connection refused")
	c := &chain{t: t, acts: acts, suggestEvery: 12 * time.Hour}
	c.update(2*day, workflows.UpdateVerifyIdentity, "", workflows.Verification{Method: "account login"})
	c.steps = append(c.steps, &step{at: 4*day - time.Hour, do: func(*testsuite.TestWorkflowEnvironment) { sys.billing.fix() }})
	retry := c.update(4*day, workflows.UpdateRetry, "", workflows.Retry{Actor: "ops:bob"})
	c.update(6*day, workflows.UpdateDecide, "", approve("Sales", "sales.lead@acme.example"))
	c.update(6*day, workflows.UpdateDecide, "", approve("Finance", "cfo@acme.example"))
	read := c.update(8*day, workflows.UpdateReadTask, "", workflows.TaskRead{System: "paper"})
	done := c.update(10*day, workflows.UpdateCompleteTask, "", complete("done", 2, "cfo@acme.example"))
	in := erasure("REQ-HANDOVER")
	in.IdentityVerified = false
	res := c.run(in)

	if res.Status != domain.StatusCompleted || c.runs < 10 {
		t.Fatalf("status %s after %d runs", res.Status, c.runs)
	}
	for name, o := range map[string]*outcome{"retry": retry, "read": read, "done": done} {
		if !o.done || o.rejected != nil || o.err != nil {
			t.Fatalf("%s: %+v", name, o)
		}
	}
	var path []string
	for _, s := range res.Timeline {
		if len(path) == 0 || path[len(path)-1] != string(s.Status) {
			path = append(path, string(s.Status))
		}
	}
	want := "received verifying discovery needs_attention discovery awaiting_signoff fulfilling answering completed"
	if got := strings.Join(path, " "); got != want {
		t.Fatalf("path:\n got %s\nwant %s", got, want)
	}
	// billing: ten failed attempts, the retry, the erasure's baseline, the
	// verification pass; the healthy systems were not asked again by the
	// runs that resumed.
	if sys.billing.calls != 13 || sys.crm.calls != 3 || sys.analytics.calls != 1 {
		t.Fatalf("discovery calls: billing %d, crm %d, analytics %d", sys.billing.calls, sys.crm.calls, sys.analytics.calls)
	}
	if sys.crm.erasures != 1 || sys.billing.erasures != 1 {
		t.Fatalf("erasures: crm %d, billing %d", sys.crm.erasures, sys.billing.erasures)
	}
	p := progressOf(res, "paper")
	if p == nil || !p.Verified || p.Found != 2 {
		t.Fatalf("paper: %+v", p)
	}
	kinds := acts.Notifier.(*notices).kinds()
	for _, once := range []string{"subject:receipt", "Finance:needs-attention", "Finance:task", "subject:answer"} {
		if n := count(kinds, once); n != 1 {
			t.Errorf("%s sent %d times: %s", once, n, kinds)
		}
	}
}

func count(list []string, x string) int {
	n := 0
	for _, y := range list {
		if y == x {
			n++
		}
	}
	return n
}

func progressOf(res workflows.RequestState, system string) *workflows.SystemProgress {
	for i := range res.Systems {
		if res.Systems[i].System == system {
			return &res.Systems[i]
		}
	}
	return nil
}

// TestReplayedChangeRefusedInTheNextRun: a signed change is bound to its
// Update id, which Temporal refuses twice only within one run. Sent again
// to the next run while its claim is still fresh, it is refused; a new
// change is not.
func TestReplayedChangeRefusedInTheNextRun(t *testing.T) {
	acts, _ := systemsActivities(t)
	c := &chain{t: t, acts: acts}
	ext := workflows.ExtensionRequest{Actor: "cli:test", By: domain.Period{Months: 1}, Reason: "complex request"}
	first := c.update(5*day, workflows.UpdateExtend, "extend-once", ext)
	c.steps = append(c.steps, &step{at: 5*day + 30*time.Second, do: func(e *testsuite.TestWorkflowEnvironment) { e.SetContinueAsNewSuggested(true) }})
	again := c.update(5*day+2*time.Minute, workflows.UpdateExtend, "extend-once", ext)
	fresh := c.update(5*day+3*time.Minute, workflows.UpdateExtend, "", ext)
	c.update(6*day, workflows.UpdateDecide, "", approve("Sales", "sales.lead@acme.example"))
	c.update(6*day, workflows.UpdateDecide, "", approve("Finance", "cfo@acme.example"))
	res := c.run(erasure("REQ-REPLAY"))

	if c.runs != 2 {
		t.Fatalf("%d runs; want the extension's run and the next", c.runs)
	}
	if first.rejected != nil || first.err != nil || fresh.rejected != nil || fresh.err != nil {
		t.Fatalf("extensions: first %+v, fresh %+v", first, fresh)
	}
	if again.rejected == nil || !strings.Contains(again.rejected.Error(), "update extend-once was already applied") {
		t.Fatalf("the replayed extension: %+v", again)
	}
	if len(res.Extensions) != 2 {
		t.Fatalf("extensions %+v", res.Extensions)
	}
}

// TestCarriedStateOnlyFromAnEarlierRun: whoever may start workflows must
// not start a request half-way, with sign-offs it never had.
func TestCarriedStateOnlyFromAnEarlierRun(t *testing.T) {
	e, _, _, _ := envWithSystems(t)
	in := erasure("REQ-FORGED")
	in.Carried = []byte(`{"state":{"request_id":"REQ-FORGED","pending_departments":[]},"place":{"stage":"fulfilment"}}`)
	e.ExecuteWorkflow(workflows.Request, in)
	if err := e.GetWorkflowError(); !hasApplicationError(err, "InvalidInput") || !strings.Contains(err.Error(), "only on a run continued from an earlier run") {
		t.Fatalf("forged carried state: %v", err)
	}
	_, err := requests.Start(context.Background(), nil, in)
	var fe *domain.FieldError
	if !errors.As(err, &fe) || fe.Field != "carried" {
		t.Fatalf("start with carried state: %v", err)
	}
}

// TestAccessResumesLinksRetriesAndTasks hands an access request over while
// it waits for compliance to confirm a linked identity, for a retry of the
// search with it, and for a manual task after the exports: the package of
// the last run holds what an earlier run exported.
func TestAccessResumesLinksRetriesAndTasks(t *testing.T) {
	_, st, keys, sent := envWithNotices(t)
	l := &linker{tableConnector: tableConnector{rows: 4}, next: func([]domain.Identity) ([]domain.Identity, error) {
		return []domain.Identity{customer(1)}, nil
	}}
	acts := &activities.Activities{Store: st, Keys: keys, Notifier: sent, ExportDir: t.TempDir(), Systems: []activities.System{
		{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: l}, paper}}
	if err := st.SyncDepartments(context.Background(), []records.Department{
		{Name: "Sales", Approvers: []string{"sales.lead@acme.example"}}, {Name: "Finance", Approvers: []string{"cfo@acme.example"}}}); err != nil {
		t.Fatal(err)
	}
	c := &chain{t: t, acts: acts, suggestEvery: 6 * time.Hour}
	c.steps = append(c.steps, &step{at: day - time.Hour, do: func(*testsuite.TestWorkflowEnvironment) {
		l.mu.Lock()
		l.failing = errors.New("connection refused")
		l.mu.Unlock()
	}})
	confirm := c.update(day, workflows.UpdateConfirmIdentities, "", workflows.IdentityConfirmation{Confirm: []int{1}})
	c.steps = append(c.steps, &step{at: 2*day - time.Hour, do: func(*testsuite.TestWorkflowEnvironment) { l.fix() }})
	retry := c.update(2*day, workflows.UpdateRetry, "", workflows.Retry{Actor: "ops:bob"})
	done := c.update(4*day, workflows.UpdateCompleteTask, "", workflows.TaskCompletion{System: "paper", Outcome: "done", Records: 1,
		Note: "1 contract scanned", Approver: "cfo@acme.example", Via: "cli:test"})
	res := c.run(input("REQ-ACCESS-RUNS"))

	for name, o := range map[string]*outcome{"confirm": confirm, "retry": retry, "done": done} {
		if !o.done || o.rejected != nil || o.err != nil {
			t.Fatalf("%s: %+v", name, o)
		}
	}
	if res.Status != domain.StatusCompleted || c.runs < 12 {
		t.Fatalf("status %s after %d runs", res.Status, c.runs)
	}
	var path []string
	for _, s := range res.Timeline {
		if len(path) == 0 || path[len(path)-1] != string(s.Status) {
			path = append(path, string(s.Status))
		}
	}
	if got, want := strings.Join(path, " "), "received discovery needs_attention discovery fulfilling answering completed"; got != want {
		t.Fatalf("path:\n got %s\nwant %s", got, want)
	}
	if len(res.ProposedIdentities) != 1 || res.ProposedIdentities[0].Decision != "confirmed" {
		t.Fatalf("proposed: %+v", res.ProposedIdentities)
	}
	// The search with both identities ran once after the retry, and only
	// the first search ran with the e-mail alone.
	if !slices.Equal(l.searched[len(l.searched)-1:], []int{2}) || l.searched[0] != 1 {
		t.Fatalf("searches: %v", l.searched)
	}
	files := testenv.Unzip(t, res.Package, st, keys)
	if files["systems/crm.json"] != `{"rows":4}` {
		t.Fatalf("package files: %v", files)
	}
	if !strings.Contains(files["manifest.json"], "1 contract scanned") {
		t.Fatalf("manifest lacks the manual task: %s", files["manifest.json"])
	}
	if n := count(sent.kinds(), "compliance:confirm-identities"); n != 1 {
		t.Fatalf("confirmation asked %d times: %v", n, sent.kinds())
	}
}
