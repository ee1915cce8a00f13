package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/store"
)

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
}
