package workflows_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/workflows"
)

// paper is Finance's archive of signed contracts: no API, a manual task.
var paper = activities.System{SystemRef: activities.SystemRef{Name: "paper", Department: "Finance", Purposes: []string{"newsletter"},
	Manual: &activities.ManualTask{Location: "cabinet B, finance office", Instructions: map[string]string{
		"access": "scan the subject's contracts", "erasure": "shred the subject's contracts", "consent": "tick the box on the form"}}}}

func complete(outcome string, records int64, who string) workflows.TaskCompletion {
	return workflows.TaskCompletion{System: "paper", Outcome: outcome, Records: records, Note: "2 contracts shredded", Approver: who, Via: "cli:test"}
}

func TestErasureWaitsForTheManualTask(t *testing.T) {
	e, st, sent, _ := envWithSystems(t, paper)
	update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	update(e, day, workflows.UpdateDecide, approve("Finance", "cfo@acme.example"))
	read := update(e, 2*day, workflows.UpdateReadTask, workflows.TaskRead{System: "paper"})
	cfo := claims.Actor{Name: "cfo@acme.example", Role: claims.RoleApprover, Channel: "slack:U1"}
	sales := claims.Actor{Name: "sales.lead@acme.example", Role: claims.RoleApprover, Channel: "slack:U2"}
	byCFO := updateAs(e, 2*day, workflows.UpdateReadTask, workflows.TaskRead{System: "paper"}, signAs(testKeys, &cfo))
	bySales := updateAs(e, 2*day, workflows.UpdateReadTask, workflows.TaskRead{System: "paper"}, signAs(testKeys, &sales))
	stranger := update(e, 2*day, workflows.UpdateCompleteTask, complete("done", 2, "sales.lead@acme.example"))
	noNote := update(e, 2*day, workflows.UpdateCompleteTask, workflows.TaskCompletion{System: "paper", Outcome: "done", Approver: "cfo@acme.example", Via: "x"})
	keptNoBasis := update(e, 2*day, workflows.UpdateCompleteTask, complete("kept", 2, "cfo@acme.example"))
	done := update(e, 20*day, workflows.UpdateCompleteTask, complete("done", 2, "cfo@acme.example"))
	again := update(e, 20*day, workflows.UpdateCompleteTask, complete("done", 2, "controller@acme.example"))
	e.ExecuteWorkflow(workflows.Request, erasure("REQ-M"))
	res := result(t, e)

	if done.rejected != nil || done.err != nil {
		t.Fatalf("completion: %+v", done)
	}
	for name, o := range map[string]*outcome{"stranger": stranger, "no note": noNote, "kept without basis": keptNoBasis} {
		if o.rejected == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if again.rejected == nil || !strings.Contains(again.rejected.Error(), "the task in paper is already") {
		t.Errorf("second confirmation: %+v", again)
	}
	if stranger.rejected != nil && !strings.Contains(stranger.rejected.Error(), `"sales.lead@acme.example" is not an approver for Finance`) {
		t.Errorf("stranger refused with %v", stranger.rejected)
	}
	if bySales.rejected == nil || !strings.Contains(bySales.rejected.Error(), `"sales.lead@acme.example" is not an approver for Finance`) {
		t.Fatalf("another department's approver read the task: %+v", bySales)
	}
	if read.rejected != nil || read.err != nil || byCFO.rejected != nil || byCFO.err != nil {
		t.Fatalf("reads: %+v %+v", read, byCFO)
	}
	view := read.result.(workflows.TaskView)
	if view.Location != "cabinet B, finance office" || view.Work != "erasure" || len(view.Identities) != 1 || view.Identities[0].Value != "jane@example.com" {
		t.Fatalf("task view = %+v", view)
	}
	// Each read of the identities is on record with its reader; the refused one is not.
	log, _ := st.AuditLog(context.Background(), "REQ-M")
	var readers []string
	for _, e := range log {
		if e.Action == "task.read" {
			readers = append(readers, e.Actor)
		}
	}
	slices.Sort(readers)
	if got := strings.Join(readers, ", "); got != "cfo@acme.example via slack:U1, cli:test via test" {
		t.Fatalf("task reads on record: %s", got)
	}
	if res.Status != domain.StatusCompleted || len(res.Tasks) != 1 || res.Tasks[0].Outcome != "done" || res.Tasks[0].Actor != "cfo@acme.example via cli:test" {
		t.Fatalf("result: %+v", res)
	}
	var p workflows.SystemProgress
	for _, s := range res.Systems {
		if s.System == "paper" {
			p = s
		}
	}
	if !p.Manual || !p.Verified || p.Found != 2 || !strings.Contains(p.Done, "2 contracts shredded") {
		t.Fatalf("paper progress: %+v", p)
	}
	// The task was silent from day 1 to 20: reminded like a sign-off.
	got := strings.Join(sent.kinds(), " ")
	if !strings.Contains(got, "Finance:task") || !strings.Contains(got, "Finance:reminder") {
		t.Fatalf("notices: %s", got)
	}
	if task := sent.last("task"); strings.Contains(task, "jane") || !strings.Contains(task, "starter task REQ-M --system paper") {
		t.Fatalf("task notice: %q", task)
	}
	log, _ = st.AuditLog(context.Background(), "REQ-M")
	var recorded int
	for _, e := range log {
		if e.Action == "task.completed" {
			recorded++
			var d map[string]any
			json.Unmarshal([]byte(e.DetailRaw), &d)
			if d["system"] != "paper" || d["outcome"] != "done" || strings.Contains(e.DetailRaw, "shredded") || e.Actor != "cfo@acme.example via cli:test" {
				t.Fatalf("audit entry: %+v", e)
			}
		}
	}
	if recorded != 1 {
		t.Fatalf("task audited %d times", recorded)
	}
}

func TestManualSystemKeptUnderLegalHold(t *testing.T) {
	e, _, sent, _ := envWithSystems(t, paper)
	update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	update(e, day, workflows.UpdateDecide, approve("Finance", "cfo@acme.example"))
	kept := workflows.TaskCompletion{System: "paper", Outcome: "kept", Records: 1, Note: "contract under dispute", Basis: "pending litigation (Art. 17(3)(e))", Approver: "cfo@acme.example", Via: "cli:test"}
	update(e, 2*day, workflows.UpdateCompleteTask, kept)
	e.ExecuteWorkflow(workflows.Request, erasure("REQ-K"))
	res := result(t, e)
	if res.Status != domain.StatusCompleted {
		t.Fatalf("status %s", res.Status)
	}
	if answer := sent.last("answer"); !strings.Contains(answer, "paper (pending litigation (Art. 17(3)(e)))") {
		t.Fatalf("answer: %q", answer)
	}
}

func TestAccessPackageNamesTheManualSystem(t *testing.T) {
	e, st, _, _ := envWithSystems(t, paper)
	update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	access := workflows.TaskCompletion{System: "paper", Outcome: "done", Records: 3, Note: "3 scans sent by registered post", Approver: "controller@acme.example", Via: "cli:test"}
	update(e, 2*day, workflows.UpdateCompleteTask, access)
	e.ExecuteWorkflow(workflows.Request, input("REQ-AM"))
	res := result(t, e)
	if res.Status != domain.StatusCompleted || res.Package == "" || res.Tasks[0].Work != "access" {
		t.Fatalf("result: %+v", res)
	}
	manifest := testenv.Unzip(t, res.Package, st, testKeys)["manifest.json"]
	if !strings.Contains(manifest, `"system": "paper"`) || !strings.Contains(manifest, "3 scans sent by registered post") {
		t.Fatalf("manifest lacks the manual system: %s", manifest)
	}
}

func TestConsentReachesManualSystemsUsingThePurpose(t *testing.T) {
	e, _, sent, sys := envWithSystems(t, paper)
	in := consentRequest("REQ-CM", domain.OptIn, false)
	update(e, day, workflows.UpdateCompleteTask, workflows.TaskCompletion{System: "paper", Outcome: "done", Records: 1, Note: "box ticked", Approver: "cfo@acme.example", Via: "cli:test"})
	e.ExecuteWorkflow(workflows.Request, in)
	res := result(t, e)
	if res.Status != domain.StatusCompleted || len(res.Tasks) != 1 || !sys.crm.consent["newsletter"] {
		t.Fatalf("result: %+v", res)
	}
	if task := sent.last("task"); !strings.Contains(task, "purpose newsletter: consent granted") {
		t.Fatalf("task notice: %q", task)
	}
}
