package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// TestWorkerAndGatewayRoles runs the engine as a scaled deployment does:
// one process with --role gateway, which is given no system's connection
// string, and one with --role worker. A request started through the
// gateway's API is carried out by the worker alone: every workflow and
// activity task of its history names the worker's process. The worker
// serves its health check and nothing of the API.
func TestWorkerAndGatewayRoles(t *testing.T) {
	clearEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(devserver.DynamicConfig())))
	db, company := testenv.PostgresWith(t,
		`CREATE TABLE events (id INTEGER PRIMARY KEY, email TEXT NOT NULL, what TEXT)`,
		`CREATE TABLE event_tags (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events (id), tag TEXT)`,
		`INSERT INTO events VALUES (1, 'jane@example.com', 'a'), (2, 'jane@example.com', 'b'), (3, 'bob@example.com', 'c')`,
		`INSERT INTO event_tags VALUES (1, 1, 'x'), (2, 3, 'y')`,
	)
	dir, env := workerEnv(t, ts.GetDefaultNamespace(), company)
	// The system's rate bounded: its activities go to a queue of its own,
	// which the worker polls at that rate.
	limited := strings.Replace(crashMap, "    connector: sql\n", "    connector: sql\n    rate_limit: 50/s\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "map.yaml"), []byte(limited), 0o600); err != nil {
		t.Fatal(err)
	}
	gatewayEnv := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "CRASH_EVENTS_DSN=") })
	gw, gwAddr := startWorker(t, dir, append(gatewayEnv, "DSR_ROLE=gateway"), ts.GetFrontendHostPort(), "gateway")
	wk, wkAddr := startWorker(t, dir, append(env, "DSR_ROLE=worker"), ts.GetFrontendHostPort(), "worker")
	waitFor(t, "the gateway to be healthy", healthy("http://"+gwAddr+"/healthz"))
	waitFor(t, "the worker to be healthy", healthy("http://"+wkAddr+"/healthz"))
	for _, path := range []string{"/api/v1/openapi.json", "/privacy", "/console"} {
		if code, err := httpGet("http://" + wkAddr + path); err != nil || code != http.StatusNotFound {
			t.Errorf("the worker answers %s with %d, %v: it serves only its health check", path, code, err)
		}
	}

	var url string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "DATABASE_URL="); ok {
			url = v
		}
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, secret, err := st.CreateToken(ctx, store.NewToken{Name: "compliance", Role: store.RoleRequester})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"id": "ROLES-1", "type": "erasure", "regulation": "gdpr", "identity_verified": true,
		"identities": []map[string]string{{"kind": "email", "value": "jane@example.com"}}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+gwAddr+"/api/v1/requests", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/requests on the gateway: %s", resp.Status)
	}

	keys, _ := keyring.New(testenv.TestKey)
	c := ts.NewClientWithOptions(connect.ClientOptions(keys))
	defer c.Close()
	waitFor(t, "ROLES-1 to wait for Product's sign-off", func() (bool, string) {
		v, err := requests.Show(ctx, c, "ROLES-1")
		return err == nil && v.Status == domain.StatusAwaitingSignOff, fmt.Sprintf("%+v %v", v.Status, err)
	})
	lead := claims.As(ctx, claims.Actor{Name: "product.lead@acme.example", Role: claims.RoleApprover, Channel: "test"})
	if err := requests.Decide(lead, c, "ROLES-1", workflows.Decision{Department: "Product", Decision: "approve", Approver: "product.lead@acme.example", Via: "test"}); err != nil {
		t.Fatal(err)
	}
	var res workflows.RequestState
	if err := c.GetWorkflow(ctx, domain.WorkflowID("ROLES-1"), "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if want := "deleted 1 in event_tags, deleted 2 in events"; res.Status != domain.StatusCompleted || len(res.Systems) != 1 || res.Systems[0].Done != want {
		t.Fatalf("ROLES-1: %s, %+v; want %q", res.Status, res.Systems, want)
	}
	var left int
	if err := db.GetContext(ctx, &left, `SELECT COUNT(*) FROM events WHERE email = 'bob@example.com'`); err != nil || left != 1 {
		t.Fatalf("Bob's events: %d, %v", left, err)
	}

	worker, gateway := fmt.Sprintf("%d@", wk.Process.Pid), fmt.Sprintf("%d@", gw.Process.Pid)
	const queue = "dsr-requests-system-events"
	pollers, err := c.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
	if err != nil {
		t.Fatal(err)
	}
	var rates []string
	for _, p := range pollers.GetPollers() {
		rates = append(rates, fmt.Sprintf("%s at %v/s", p.GetIdentity(), p.GetRatePerSecond()))
		if !strings.HasPrefix(p.GetIdentity(), worker) || p.GetRatePerSecond() != 50 {
			t.Errorf("%s is polled by %s at %v/s, not by the worker at 50/s", queue, p.GetIdentity(), p.GetRatePerSecond())
		}
	}
	if len(rates) == 0 {
		t.Fatalf("nothing polls %s", queue)
	}
	onQueue := map[string]int{}
	tasks := 0
	iter := c.GetWorkflowHistory(ctx, domain.WorkflowID("ROLES-1"), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			onQueue[a.GetActivityType().GetName()+" on "+a.GetTaskQueue().GetName()]++
		}
		who := ev.GetActivityTaskStartedEventAttributes().GetIdentity() + ev.GetWorkflowTaskStartedEventAttributes().GetIdentity()
		if who == "" {
			continue
		}
		tasks++
		if !strings.HasPrefix(who, worker) || strings.HasPrefix(who, gateway) {
			t.Fatalf("event %d (%s) ran on %q, not on the worker (%s…)", ev.GetEventId(), ev.GetEventType(), who, worker)
		}
	}
	if tasks == 0 {
		t.Fatal("the history names no worker")
	}
	// Discovery, erasure and the verification's discovery.
	if onQueue["Discover on "+queue] != 2 || onQueue["Erase on "+queue] != 1 {
		t.Fatalf("the system's activities were scheduled %v, not on %s", onQueue, queue)
	}
}
