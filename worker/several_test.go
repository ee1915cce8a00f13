package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/devserver"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

// TestTwoWorkersOneKilled runs two production workers on one Temporal
// server and one store, as a deployment behind a load balancer does. Six
// erasures run through both; one worker is killed with SIGKILL while they
// erase. Every request completes once, every subject's rows are erased
// once and counted exactly, Bob's are untouched, and both workers did
// part of the work.
func TestTwoWorkersOneKilled(t *testing.T) {
	clearEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const subjects, each, bobs = 6, 20000, 500
	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(devserver.DynamicConfig())))
	db, company := testenv.PostgresWith(t,
		`CREATE TABLE events (id INTEGER PRIMARY KEY, email TEXT NOT NULL, what TEXT)`,
		`CREATE INDEX events_email ON events (email)`,
		`CREATE TABLE event_tags (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events (id), tag TEXT)`,
		`CREATE INDEX event_tags_event ON event_tags (event_id)`,
		fmt.Sprintf(`INSERT INTO events SELECT g, CASE WHEN g <= %d THEN 'p' || (g %% %d) || '@example.com' ELSE 'bob@example.com' END, 'page view'
			FROM generate_series(1, %d) g`, subjects*each, subjects, subjects*each+bobs),
	)
	dir, env := workerEnv(t, ts.GetDefaultNamespace(), company)
	first, gw1 := startWorker(t, dir, env, ts.GetFrontendHostPort(), "first")
	_, gw2 := startWorker(t, dir, env, ts.GetFrontendHostPort(), "second")
	waitFor(t, "the first worker to be healthy", healthy("http://"+gw1+"/healthz"))
	waitFor(t, "the second worker to be healthy", healthy("http://"+gw2+"/healthz"))

	keys, _ := keyring.New(testenv.TestKey)
	c := ts.NewClientWithOptions(connect.ClientOptions(keys))
	defer c.Close()
	received := time.Now().UTC().Truncate(time.Second)
	lead := claims.As(ctx, claims.Actor{Name: "product.lead@acme.example", Role: claims.RoleApprover, Channel: "test"})
	var ids []string
	for i := range subjects {
		email, _ := domain.NewIdentity(domain.Email, fmt.Sprintf("p%d@example.com", i))
		in := workflows.RequestInput{RequestID: fmt.Sprintf("TWO-%d", i), Type: domain.Erasure, Regulation: domain.GDPR, Identities: []domain.Identity{email},
			ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), RequestedBy: "cli:compliance", IdentityVerified: true}
		if _, err := requests.Start(ctx, c, in); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.RequestID)
	}
	for _, id := range ids {
		waitFor(t, id+" to wait for Product's sign-off", func() (bool, string) {
			v, err := requests.Show(ctx, c, id)
			return err == nil && v.Status == domain.StatusAwaitingSignOff, fmt.Sprintf("%+v %v", v.Status, err)
		})
		if err := requests.Decide(lead, c, id, workflows.Decision{Department: "Product", Decision: "approve", Approver: "product.lead@acme.example", Via: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	left := func() int {
		t.Helper()
		var n int
		if err := db.GetContext(ctx, &n, `SELECT COUNT(*) FROM events WHERE email <> 'bob@example.com'`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Kill the first worker while the erasures run: some rows erased, most not.
	for {
		n := left()
		if n == 0 {
			t.Fatal("the erasures finished before the kill: raise the number of rows")
		}
		if n < subjects*each {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the erasures never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	t.Logf("killed the first worker with %d of %d rows left", left(), subjects*each)

	workers, retried := map[string]bool{}, 0
	for _, id := range ids {
		var res workflows.RequestState
		if err := c.GetWorkflow(ctx, domain.WorkflowID(id), "").Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("deleted 0 in event_tags, deleted %d in events", each)
		if res.Status != domain.StatusCompleted || len(res.Systems) != 1 || res.Systems[0].Done != want || !res.Systems[0].Verified {
			t.Fatalf("%s: %s, %+v; want %q", id, res.Status, res.Systems, want)
		}
		// One run, closed once; and who ran its activities.
		completed := 0
		iter := c.GetWorkflowHistory(ctx, domain.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
				workers[a.GetIdentity()] = true
				if a.GetAttempt() > 1 {
					retried++
				}
			}
			if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED {
				completed++
			}
			if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
				t.Fatalf("%s continued as new: its run is not the whole request", id)
			}
		}
		if completed != 1 {
			t.Fatalf("%s completed %d times", id, completed)
		}
	}
	t.Logf("activities ran on %d workers; %d attempts were retries", len(workers), retried)
	if len(workers) < 2 {
		t.Fatalf("the activities ran on %v: not on both workers", workers)
	}
	if n := left(); n != 0 {
		t.Fatalf("%d rows left", n)
	}
	var bob int
	if err := db.GetContext(ctx, &bob, `SELECT COUNT(*) FROM events WHERE email = 'bob@example.com'`); err != nil || bob != bobs {
		t.Fatalf("Bob's events: %d, %v", bob, err)
	}
}
