package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestMain lets the crash test run this binary as the production worker,
// in a process of its own that it can kill.
func TestMain(m *testing.M) {
	if os.Getenv("DSR_TEST_AS_WORKER") == "1" {
		if err := run(context.Background(), os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const crashMap = `departments:
  - name: Product
    approvers: [product.lead@acme.example]
# Not about the aftercare: the erasure's workflow closes as it completes.
erasure: {evidence_hold: "0", resurrection_checks: []}
systems:
  - name: events
    department: Product
    connector: sql
    sql: {driver: postgres, dsn_env: CRASH_EVENTS_DSN}
    purposes: [product-analytics]
    legal_basis: legitimate interest
    retention: 2 years
    tables:
      - name: events
        primary_key: id
        identity: {email: email}
        fields: {email: [contact]}
        erase: delete
      - name: event_tags
        primary_key: id
        via: [event_tags.event_id -> events.id]
        erase: delete
`

// Jane's rows are the scenario of issue 14: 300,000 events and 100,000
// tags reached through them, 400,000 rows, beside Bob's.
const janeEvents, janeTags, bobEvents = 300000, 100000, 1000

// TestWorkerKilledMidErasure erases Jane's rows with a production worker,
// kills it with SIGKILL once some batches have committed, and starts
// another. The erasure resumes on the new worker within seconds, every
// one of Jane's rows is erased once, Bob's are untouched, and the
// evidence counts exactly what was erased, before and after the kill.
func TestWorkerKilledMidErasure(t *testing.T) {
	clearEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(devserver.DynamicConfig())))
	db, company := testenv.PostgresWith(t,
		`CREATE TABLE events (id INTEGER PRIMARY KEY, email TEXT NOT NULL, what TEXT)`,
		`CREATE INDEX events_email ON events (email)`,
		`CREATE TABLE event_tags (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events (id), tag TEXT)`,
		`CREATE INDEX event_tags_event ON event_tags (event_id)`,
		fmt.Sprintf(`INSERT INTO events SELECT g, CASE WHEN g <= %d THEN 'jane@example.com' ELSE 'bob@example.com' END, 'page view' FROM generate_series(1, %d) g`, janeEvents, janeEvents+bobEvents),
		fmt.Sprintf(`INSERT INTO event_tags SELECT g, g * 3, 'campaign' FROM generate_series(1, %d) g`, janeTags),
	)
	dir, env := workerEnv(t, ts.GetDefaultNamespace(), company)
	worker := func(name string) (*exec.Cmd, string) { return startWorker(t, dir, env, ts.GetFrontendHostPort(), name) }
	left := func() (events, tags int) {
		t.Helper()
		if err := db.GetContext(ctx, &events, `SELECT COUNT(*) FROM events WHERE email = 'jane@example.com'`); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(ctx, &tags, `SELECT COUNT(*) FROM event_tags`); err != nil {
			t.Fatal(err)
		}
		return events, tags
	}

	first, gw := worker("first")
	waitFor(t, "the first worker to be healthy", healthy("http://"+gw+"/healthz"))
	keys, _ := keyring.New(testenv.TestKey)
	c := ts.NewClientWithOptions(connect.ClientOptions(keys))
	defer c.Close()
	received := time.Now().UTC().Truncate(time.Second)
	jane, _ := domain.NewIdentity(domain.Email, "jane@example.com")
	in := workflows.RequestInput{RequestID: "CRASH-1", Type: domain.Erasure, Regulation: domain.GDPR, Identities: []domain.Identity{jane},
		ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), RequestedBy: "cli:compliance", IdentityVerified: true}
	if _, err := requests.Start(ctx, c, in); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request to wait for Product's sign-off", func() (bool, string) {
		v, err := requests.Show(ctx, c, in.RequestID)
		return err == nil && v.Status == domain.StatusAwaitingSignOff, fmt.Sprintf("%+v %v", v.Status, err)
	})
	lead := claims.As(ctx, claims.Actor{Name: "product.lead@acme.example", Role: claims.RoleApprover, Channel: "test"})
	if err := requests.Decide(lead, c, in.RequestID, workflows.Decision{Department: "Product", Decision: "approve", Approver: "product.lead@acme.example", Via: "test"}); err != nil {
		t.Fatal(err)
	}

	// Kill the worker once a third of Jane's events are erased: much done
	// before the kill, much after.
	var killedAt time.Time
	var atKill int
	for killedAt.IsZero() {
		switch events, _ := left(); {
		case events == 0:
			t.Fatal("the erasure finished before the kill: raise the number of rows")
		case events <= janeEvents*2/3:
			if err := first.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			first.Wait()
			killedAt, atKill = time.Now(), events
		case ctx.Err() != nil:
			t.Fatal("the erasure never started")
		default:
			time.Sleep(5 * time.Millisecond)
		}
	}
	if atKill < 1000 {
		t.Fatalf("only %d of Jane's events were left at the kill: raise the number of rows", atKill)
	}
	t.Logf("killed the worker with %d of Jane's %d events left", atKill, janeEvents)

	_, gw2 := worker("second")
	waitFor(t, "the second worker to be healthy", healthy("http://"+gw2+"/healthz"))
	// Temporal notices the dead worker when its heartbeats stop (10 s) and
	// retries the erasure after the retry policy's first interval (5 s):
	// about 15 s by design, so this wait is longer than the others.
	var resumedAfter time.Duration
	testenv.Eventually(t, 45*time.Second, func() (bool, string) {
		events, _ := left()
		if events < atKill {
			resumedAfter = time.Since(killedAt)
			return true, ""
		}
		return false, fmt.Sprintf("the erasure did not resume: %d events left, as at the kill", events)
	})
	t.Logf("the erasure resumed %s after the kill", resumedAfter.Round(100*time.Millisecond))
	if resumedAfter > 30*time.Second {
		t.Errorf("the erasure resumed %s after the kill; the heartbeat timeout and retry policy promise about 15 s", resumedAfter)
	}

	var res workflows.RequestState
	if err := c.GetWorkflow(ctx, domain.WorkflowID(in.RequestID), "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != domain.StatusCompleted {
		t.Fatalf("ended %s", res.Status)
	}
	if events, tags := left(); events != 0 || tags != 0 {
		t.Fatalf("left: %d events, %d tags", events, tags)
	}
	var bob int
	if err := db.GetContext(ctx, &bob, `SELECT COUNT(*) FROM events WHERE email = 'bob@example.com'`); err != nil || bob != bobEvents {
		t.Fatalf("Bob's events: %d, %v", bob, err)
	}
	p := res.Systems[0]
	want := fmt.Sprintf("deleted %d in event_tags, deleted %d in events", janeTags, janeEvents)
	if p.Done != want || !p.Verified {
		t.Fatalf("evidence: %q (verified %v); want %q", p.Done, p.Verified, want)
	}
	total := 0
	for _, m := range regexp.MustCompile(`deleted (\d+) in`).FindAllStringSubmatch(p.Done, -1) {
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	if total != janeEvents+janeTags {
		t.Fatalf("the evidence counts %d rows, not %d: %q", total, janeEvents+janeTags, p.Done)
	}
	for _, s := range res.Timeline {
		if strings.Contains(s.Note, "discovery found") {
			t.Fatalf("the counts disagree: %s", s.Note)
		}
	}
}

// workerEnv writes the crash map to a new folder and returns it with the
// environment a production worker runs with: a store of its own, the
// master key, the namespace and the company's database.
func workerEnv(t *testing.T, namespace, company string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "map.yaml")
	if err := os.WriteFile(cfg, []byte(crashMap), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, append(os.Environ(), "DSR_TEST_AS_WORKER=1", "DATABASE_URL="+testenv.PostgresSchema(t), "DSR_CONFIG="+cfg,
		"DSR_MASTER_KEY="+base64.StdEncoding.EncodeToString(testenv.TestKey), "DSR_NAMESPACE="+namespace,
		"DSR_EXPORT_DIR="+dir, "CRASH_EVENTS_DSN="+company)
}

// startWorker runs this test binary as the production worker, in a
// process of its own, with env and the gateway on a free address; it is
// killed when the test ends, and its log shown if the test failed.
func startWorker(t *testing.T, dir string, env []string, frontend, name string) (*exec.Cmd, string) {
	t.Helper()
	gw := freeAddr(t)
	cmd := exec.Command(os.Args[0], "--temporal-address", frontend, "--gateway-addr", gw, "--log-level", "error")
	cmd.Env = env
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s's log:\n%s", name, b)
		}
	})
	return cmd, gw
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		ok, got := cond()
		return ok, what + ": " + got
	})
}

func healthy(url string) func() (bool, string) {
	return func() (bool, string) {
		resp, err := httpGet(url)
		if err != nil {
			return false, err.Error()
		}
		return resp == 200, fmt.Sprint(resp)
	}
}

func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
