package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/store"
)

// TestAccessHistoryEvents counts the history of a verified access request
// over five systems with no sign-off: what Temporal stores and bills per
// request. Before the lean steps it was 131-139 events (23 activities,
// 17-19 workflow tasks); with them 79-85 (14 activities, the status
// writes and the systems' list as local activities); with each system
// exported in its discovery step, 60 (9 activities, 6 workflow tasks).
// The number of workflow tasks depends on how the five systems' answers
// arrive: each answer on its own adds at most four tasks of three events,
// hence the bound of 72.
// DSR_RECORD_LEAN_HISTORY records the history for the replay test.
func TestAccessHistoryEvents(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var systems []activities.System
	for i := range 5 {
		systems = append(systems, activities.System{SystemRef: activities.SystemRef{Name: fmt.Sprintf("s%d", i), Department: "Sales"}, Connector: &testengine.Table{Rows: 2}})
	}
	e := testengine.StartEngine(t, st, systems...)
	in := input("EV-1", "jane@example.com")
	e.Run(t, in)
	h := testengine.History(t, e.RawClient, domain.WorkflowID(in.RequestID))
	counts := map[string]int{}
	for _, ev := range h.Events {
		counts[ev.GetEventType().String()]++
	}
	t.Logf("%d events: %v", len(h.Events), counts)
	if len(h.Events) > 72 || counts["ActivityTaskScheduled"] != 9 {
		t.Fatalf("%d events, %d activities; want at most 72 events and 9 activities", len(h.Events), counts["ActivityTaskScheduled"])
	}
	if path := os.Getenv("DSR_RECORD_LEAN_HISTORY"); path != "" {
		testengine.RecordHistory(t, e.RawClient, domain.WorkflowID(in.RequestID), path)
	}
}
