package activities_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"

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
	dsn := testenv.PostgresSchema(t)
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE events (id INTEGER PRIMARY KEY, email TEXT NOT NULL, what TEXT)`,
		`CREATE TABLE event_tags (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events (id), tag TEXT)`,
		`INSERT INTO events SELECT g, CASE WHEN g <= 3000 THEN 'jane@example.com' ELSE 'bob@example.com' END, 'login' FROM generate_series(1, 3100) g`,
		`INSERT INTO event_tags SELECT g, g * 3, 'tag' FROM generate_series(1, 1000) g`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	c, err := dsrsql.Open(ctx, "postgres", dsn, []dsrsql.Table{
		{Name: "events", Key: []string{"id"}, Erase: "delete", Identity: map[domain.IdentityKind][]string{domain.Email: {"email"}}},
		{Name: "event_tags", Key: []string{"id"}, Erase: "delete", Via: []dsrsql.Edge{{Child: "event_tags", ChildColumn: "event_id", Parent: "events", ParentColumn: "id"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.BatchSize = 100
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &activities.Activities{Store: st, Systems: []activities.System{{SystemRef: activities.SystemRef{Name: "events", Department: "Product"}, Connector: c}}}
	jane, _ := domain.NewIdentity(domain.Email, "jane@example.com")
	in := activities.SystemInput{RequestID: "REQ-CUT", System: "events", Identities: []domain.Identity{jane}}

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
