package engine_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/requests"
)

// linking is a system whose rows name five more customer numbers of the
// subject, whatever it is asked.
type linking struct{ testengine.Table }

func (*linking) Linked(context.Context, []domain.Identity) ([]domain.Identity, error) {
	var out []domain.Identity
	for i := range 5 {
		id, _ := domain.NewIdentity(domain.CustomerID, fmt.Sprintf("C-%d", 900+i))
		out = append(out, id)
	}
	return out, nil
}

// TestIdentityCapOnTheServer: a request given 18 identities, whose records
// name five more, takes two of them and stops at the cap, on the real
// server; its history is recorded for the replay test with
// DSR_RECORD_CAP_HISTORY=$PWD/workflows/testdata/request-v4-identity-cap.json.
func TestIdentityCapOnTheServer(t *testing.T) {
	st := openPostgres(t)
	e := testengine.StartEngine(t, st, activities.System{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: &linking{testengine.Table{Rows: 1}}})
	in := input("CAP-1", "p0@example.com")
	for i := 1; i < 18; i++ {
		id, _ := domain.NewIdentity(domain.Email, fmt.Sprintf("p%d@example.com", i))
		in.Identities = append(in.Identities, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := requests.Start(ctx, e.Client, in); err != nil {
		t.Fatal(err)
	}
	res := e.Closed(t, "CAP-1")
	var notes []string
	for _, c := range res.Timeline {
		if c.Note != "" {
			notes = append(notes, c.Note)
		}
	}
	joined := strings.Join(notes, "\n")
	if res.Status != domain.StatusCompleted || !strings.Contains(joined, "hold 2 more identities (customer_id, customer_id)") ||
		!strings.Contains(joined, "stopped following linked identities at 20") || strings.Count(joined, "looking again") != 1 {
		t.Fatalf("%s: %s", res.Status, joined)
	}
	if path := os.Getenv("DSR_RECORD_CAP_HISTORY"); path != "" {
		testengine.RecordHistory(t, e.RawClient, domain.WorkflowID("CAP-1"), path)
	}
}
