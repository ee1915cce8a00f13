package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// serverLimit is the history length at which the request of
// TestLongWaitContinuesAsNewOnTheServer continues as new: low, so that a
// few task reads cross it. The recorded histories replay with any limit,
// since each run records the one it used.
const serverLimit = 150

// TestLongWaitContinuesAsNewOnTheServer runs an erasure on the real
// Temporal server until it waits for a manual task, then reads the task
// over and over, from several clients at once, as a department might over
// months. The history grows with every read; the request continues as new
// each time it passes the limit, no read is lost or refused on the way,
// and the task's confirmation, sent to whichever run is current, completes
// the request. Every run's history stays near the limit, and the evidence
// reads all of them.
//
// DSR_RECORD_CONTINUED_HISTORY=$PWD/workflows/testdata records the first
// and the last run for the replay test.
func TestLongWaitContinuesAsNewOnTheServer(t *testing.T) {
	defer workflows.SetRunEventLimit(serverLimit)()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	crm := &testengine.Table{Rows: 3}
	e := testengine.StartEngine(t, st,
		activities.System{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: crm}, paper)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := st.SyncDepartments(ctx, []records.Department{
		{Name: "Sales", Approvers: []string{"sales.lead@acme.example"}}, {Name: "Finance", Approvers: []string{"cfo@acme.example"}}}); err != nil {
		t.Fatal(err)
	}
	in := erasure("REQ-LONG-WAIT")
	in.ReceivedAt = time.Now().UTC().Truncate(time.Second)
	in.DueAt = domain.DueAt(in.Regulation, in.ReceivedAt)
	if _, err := requests.Start(ctx, e.Client, in); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(t, in.RequestID, domain.StatusAwaitingSignOff)
	if err := requests.Decide(testengine.Approver(ctx, "sales.lead@acme.example", ""), e.Client, in.RequestID, approve("Sales", "sales.lead@acme.example")); err != nil {
		t.Fatal(err)
	}
	e.Await(t, in.RequestID, "the manual task", func(v requests.View) bool { return strings.HasPrefix(v.WaitingFor, "manual tasks") })

	// Four readers, 15 reads each: about 10 events a read.
	const readers, reads = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, readers*reads)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range reads {
				v, err := requests.Task(testengine.Approver(ctx, "cfo@acme.example", ""), e.Client, in.RequestID, "paper")
				if err == nil && (len(v.Identities) != 1 || v.Identities[0] != in.Identities[0]) {
					err = fmt.Errorf("identities %v", v.Identities)
				}
				if err != nil {
					errs <- fmt.Errorf("reader %d, read %d: %w", r, i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := requests.CompleteTask(testengine.Approver(ctx, "cfo@acme.example", ""), e.Client, in.RequestID, complete("done", 2, "cfo@acme.example")); err != nil {
		t.Fatal(err)
	}
	res := e.Closed(t, in.RequestID)
	if res.Status != domain.StatusCompleted || crm.Rows != 0 {
		t.Fatalf("ended %s with %d crm rows left", res.Status, crm.Rows)
	}

	// Every read is in the audit log once, whatever run took it.
	log, err := st.AuditLog(ctx, in.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range log {
		if a.Action == "task.read" {
			n++
		}
	}
	if n != readers*reads {
		t.Fatalf("%d task reads in the audit log; want %d", n, readers*reads)
	}

	d, err := e.Client.DescribeWorkflowExecution(ctx, domain.WorkflowID(in.RequestID), "")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := requests.Runs(ctx, e.RawClient, domain.WorkflowID(in.RequestID), d.GetWorkflowExecutionInfo().GetExecution().GetRunId())
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) < 3 {
		t.Fatalf("%d runs: 60 reads did not make the request continue as new twice", len(runs))
	}
	var lengths []int
	for _, r := range runs {
		lengths = append(lengths, len(r.History.GetEvents()))
	}
	t.Logf("events per run: %v", lengths)
	for i, r := range runs {
		evs := r.History.GetEvents()
		last := evs[len(evs)-1].GetEventType()
		// A run hands over once the reads in flight when it passed the
		// limit finish (about 10 events each): a little past the limit,
		// never far. The last run goes on to erase and answer, which is
		// not a wait.
		bound := serverLimit + readers*10
		if i == len(runs)-1 {
			bound += 80
		}
		if len(evs) > bound {
			t.Errorf("run %d has %d events; the limit is %d", i+1, len(evs), serverLimit)
		}
		if want := enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW; i < len(runs)-1 && last != want {
			t.Errorf("run %d ended with %s", i+1, last)
		}
		// Every run keeps the lean steps the request started on: its status
		// writes are local activities, never activities of their own.
		for _, e := range evs {
			if name := e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(); name == "SetStatus" {
				t.Errorf("run %d writes a status as an activity (event %d): the lean steps were lost", i+1, e.GetEventId())
			}
		}
	}

	ev, err := requests.GetEvidence(ctx, e.Client, requests.Codecs{Data: e.Keys.DataConverter(), Failure: e.Keys.FailureConverter()}, in.RequestID, "auditor:test")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, x := range ev.Timeline {
		seen[x.What]++
		if x.RunID == "" {
			t.Fatalf("event %+v names no run", x)
		}
	}
	if len(ev.Runs) != len(runs) || seen["received"] != 1 || seen["continued"] != len(runs)-1 || seen["continued as new"] != len(runs)-1 ||
		seen["task read"] != readers*reads || seen["manual task"] != 1 || seen["sign-off"] != 1 {
		t.Fatalf("evidence over %d runs: %v", len(ev.Runs), seen)
	}

	var page strings.Builder
	if err := ev.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "runs "+ev.Runs[0]+", ") || !strings.Contains(page.String(), fmt.Sprintf("run %d #", len(runs))) {
		t.Fatalf("the evidence page does not name the runs: %.3000s", page.String())
	}

	if dir := os.Getenv("DSR_RECORD_CONTINUED_HISTORY"); dir != "" {
		for name, r := range map[string]requests.Run{"request-v7-continued-first.json": runs[0], "request-v7-continued-last.json": runs[len(runs)-1]} {
			j, err := protojson.MarshalOptions{Indent: "  "}.Marshal(r.History)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), j, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestStartCarryingStateIsRefusedOnTheServer: a client that may start
// workflows starts one with carried state; the server records the start,
// and the workflow refuses it.
func TestStartCarryingStateIsRefusedOnTheServer(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := testengine.StartEngine(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := erasure("REQ-FORGED-START")
	in.ReceivedAt = time.Now().UTC().Truncate(time.Second)
	in.DueAt = domain.DueAt(in.Regulation, in.ReceivedAt)
	in.Carried = []byte(`{"state":{"request_id":"REQ-FORGED-START"},"place":{"stage":"fulfilment"}}`)
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: domain.WorkflowID(in.RequestID), TaskQueue: workflows.TaskQueue}, workflows.Request, in)
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "only on a run continued from an earlier run") {
		t.Fatalf("forged start: %v", err)
	}
	var fe *domain.FieldError
	if _, err := requests.Start(ctx, e.Client, in); !errors.As(err, &fe) || fe.Field != "carried" {
		t.Fatalf("requests.Start with carried state: %v", err)
	}
}
