package activities_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/dsrengine/dsr/activities"
	dsrsql "github.com/dsrengine/dsr/connectors/sql"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/store"
)

// TestInterruptedErasureCountsEveryRow: an erasure on PostgreSQL is cut
// off after five committed batches, as a killed worker's would be, and
// run again. The second attempt finds only what is left, and the
// evidence still counts every row erased, in both tables, exactly once;
// another person's rows are untouched.
func TestInterruptedErasureCountsEveryRow(t *testing.T) {
	ctx := context.Background()
	db, dsn := testenv.PostgresWith(t,
		`CREATE TABLE events (id INTEGER PRIMARY KEY, email TEXT NOT NULL, what TEXT)`,
		`CREATE TABLE event_tags (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events (id), tag TEXT)`,
		`INSERT INTO events SELECT g, CASE WHEN g <= 3000 THEN 'jane@example.com' ELSE 'bob@example.com' END, 'login' FROM generate_series(1, 3100) g`,
		`INSERT INTO event_tags SELECT g, g * 3, 'tag' FROM generate_series(1, 1000) g`,
	)
	c, a, in := eraser(t, dsn, "REQ-CUT", dsrsql.Table{Name: "event_tags", Key: []string{"id"}, Erase: "delete",
		Via: []dsrsql.Edge{{Child: "event_tags", ChildColumn: "event_id", Parent: "events", ParentColumn: "id"}}})

	cut, stop := context.WithCancel(ctx)
	batches := 0
	c.Heartbeat = func(context.Context, string) {
		if batches++; batches == 15 {
			stop()
		}
	}
	if _, err := a.Erase(cut, in); !errors.Is(err, context.Canceled) {
		t.Fatalf("the cut attempt: %v", err)
	}
	var left int
	if err := db.GetContext(ctx, &left, `SELECT COUNT(*) FROM events WHERE email = 'jane@example.com'`); err != nil || left == 0 || left == 3000 {
		t.Fatalf("after the cut %d of Jane's 3000 events are left (%v): the cut came too late or too early", left, err)
	}

	c.Heartbeat = nil
	res, err := a.Erase(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range res.Records {
		got[r.Location+" "+r.Action] += r.Count
	}
	if got["events deleted"] != 3000 || got["event_tags deleted"] != 1000 || res.Changed() != 4000 {
		t.Fatalf("evidence after the retry: %+v", res.Records)
	}
	var bob, tags int
	if err := db.GetContext(ctx, &bob, `SELECT COUNT(*) FROM events WHERE email = 'bob@example.com'`); err != nil || bob != 100 {
		t.Fatalf("Bob's events: %d, %v", bob, err)
	}
	if err := db.GetContext(ctx, &tags, `SELECT COUNT(*) FROM event_tags`); err != nil || tags != 0 {
		t.Fatalf("tags left: %d, %v", tags, err)
	}

	// A third call (an operator's retry) changes nothing and still reports
	// the whole erasure, not zero.
	again, err := a.Erase(ctx, in)
	if err != nil || again.Changed() != 4000 {
		t.Fatalf("again: %+v, %v", again.Records, err)
	}
}

// TestErasureSurvivesACutConnection: PostgreSQL terminates the connector's
// connection in the middle of the erasure, as a failover or an
// administrator would. The attempt fails with a retryable error, the
// retry finishes, and the evidence counts every row once.
func TestErasureSurvivesACutConnection(t *testing.T) {
	ctx := context.Background()
	db, dsn := testenv.PostgresWith(t,
		`CREATE TABLE events (id INTEGER PRIMARY KEY, email TEXT NOT NULL, what TEXT)`,
		`INSERT INTO events SELECT g, CASE WHEN g <= 5000 THEN 'jane@example.com' ELSE 'bob@example.com' END, 'login' FROM generate_series(1, 5100) g`,
	)
	// The connector's sessions are told apart by their application name.
	cut := dsn + "&application_name=dsr_cut_test"
	c, a, in := eraser(t, cut, "REQ-TERM")

	batches := 0
	c.Heartbeat = func(context.Context, string) {
		if batches++; batches == 10 {
			if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'dsr_cut_test'`); err != nil {
				t.Errorf("terminate: %v", err)
			}
		}
	}
	// The pool may reconnect by itself and finish; if the attempt fails, it
	// must be retryable, and the retry finishes.
	res, err := a.Erase(ctx, in)
	if err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.NonRetryable() {
			t.Fatalf("the cut attempt failed for good: %v", err)
		}
		t.Logf("the cut attempt: %v", err)
		c.Heartbeat = nil
		if res, err = a.Erase(ctx, in); err != nil {
			t.Fatalf("the retry: %v", err)
		}
	}
	if batches < 10 {
		t.Fatalf("the connection was never cut (%d batches)", batches)
	}
	if res.Changed() != 5000 {
		t.Fatalf("evidence after the retry: %+v", res.Records)
	}
	var jane2, bob int
	db.GetContext(ctx, &jane2, `SELECT COUNT(*) FROM events WHERE email = 'jane@example.com'`)
	db.GetContext(ctx, &bob, `SELECT COUNT(*) FROM events WHERE email = 'bob@example.com'`)
	if jane2 != 0 || bob != 100 {
		t.Fatalf("left: Jane %d, Bob %d", jane2, bob)
	}
}

// eraser is the activities over one system, "events" (Jane's events by
// e-mail, and the tables given), on PostgreSQL at dsn, erasing in batches
// of 100, with the input of Jane's erasure under requestID.
func eraser(t *testing.T, dsn, requestID string, more ...dsrsql.Table) (*dsrsql.Connector, *activities.Activities, activities.SystemInput) {
	t.Helper()
	ctx := context.Background()
	tables := append([]dsrsql.Table{{Name: "events", Key: []string{"id"}, Erase: "delete", Identity: map[domain.IdentityKind][]string{domain.Email: {"email"}}}}, more...)
	c, err := dsrsql.Open(ctx, "postgres", dsn, tables)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.BatchSize, c.BatchTarget = 100, 0
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &activities.Activities{Store: st, Systems: []activities.System{{SystemRef: activities.SystemRef{Name: "events", Department: "Product"}, Connector: c}}}
	jane, _ := domain.NewIdentity(domain.Email, "jane@example.com")
	return c, a, activities.SystemInput{RequestID: requestID, System: "events", Identities: []domain.Identity{jane}}
}
