package workflows_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/workflows"
)

// TestSystemActivitiesRunOnTheirQueues: each system's discovery, erasure
// and verification go to the task queue its listing names (its connector
// class's, or its own when rate-limited), so a slow class holds up only
// itself; a system listed with no queue (a request begun before the
// queues were split) stays on the request's queue, as do the engine's
// own steps.
func TestSystemActivitiesRunOnTheirQueues(t *testing.T) {
	e, st, keys, sent := envWithNotices(t)
	e.RegisterActivity(&activities.Activities{Store: st, Keys: keys, Notifier: sent, ExportDir: t.TempDir(), Systems: []activities.System{
		{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales", TaskQueue: "dsr-requests-sql"}, Connector: &tableConnector{rows: 2}},
		{SystemRef: activities.SystemRef{Name: "mailing", Department: "Sales", TaskQueue: "dsr-requests-system-mailing"}, Connector: &tableConnector{rows: 1}},
		{SystemRef: activities.SystemRef{Name: "legacy", Department: "Sales"}, Connector: &tableConnector{rows: 1}},
	}})
	if err := st.SyncDepartments(context.Background(), []records.Department{{Name: "Sales", Approvers: []string{"sales.lead@acme.example"}}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	queues := map[string][]string{} // system (or activity) → queues its activities ran on
	e.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		mu.Lock()
		defer mu.Unlock()
		key := info.ActivityType.Name
		var in struct {
			System string `json:"system"`
		}
		if name := info.ActivityType.Name; name == "Discover" || name == "Erase" {
			if err := args.Get(&in); err == nil && in.System != "" {
				key = in.System
			}
		}
		if !slices.Contains(queues[key], info.TaskQueue) {
			queues[key] = append(queues[key], info.TaskQueue)
		}
	})
	update(e, time.Hour, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	in := input("QUEUES-1")
	in.Type = domain.Erasure
	e.ExecuteWorkflow(workflows.Request, in)
	res := result(t, e)
	if res.Status != domain.StatusCompleted {
		t.Fatalf("ended %s: %+v", res.Status, res.Timeline)
	}
	own := queues["Admit"]
	if len(own) != 1 {
		t.Fatalf("the engine's steps ran on %v", own)
	}
	for system, want := range map[string]string{"crm": "dsr-requests-sql", "mailing": "dsr-requests-system-mailing", "legacy": own[0]} {
		if got := queues[system]; !slices.Equal(got, []string{want}) {
			t.Errorf("%s's discovery, erasure and verification ran on %v, want [%s]", system, got, want)
		}
	}
}
