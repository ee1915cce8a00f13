package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/devserver"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

// TestTemporalRestartUnderRunningRequests stops the Temporal server while
// erasures wait for sign-off, and starts it again on the same data: the
// worker reconnects by itself, the requests take their decisions and
// complete, each erasing its subject's rows once.
func TestTemporalRestartUnderRunningRequests(t *testing.T) {
	clearEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const subjects = 3
	db, company := testenv.PostgresWith(t,
		`CREATE TABLE events (id INTEGER PRIMARY KEY, email TEXT NOT NULL, what TEXT)`,
		`CREATE TABLE event_tags (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events (id), tag TEXT)`,
		fmt.Sprintf(`INSERT INTO events SELECT g, 'p' || (g %% %d) || '@example.com', 'login' FROM generate_series(1, 300) g`, subjects+1),
	)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "map.yaml")
	if err := os.WriteFile(cfg, []byte(crashMap), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	opts := devserver.Options{DataDir: filepath.Join(dir, "temporal"), IP: "127.0.0.1", FrontendPort: port, Namespace: "dsr", Retention: 24 * time.Hour}
	srv, err := devserver.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() }) // after the worker, which stops first

	t.Setenv("DATABASE_URL", testenv.PostgresSchema(t))
	t.Setenv("DSR_CONFIG", cfg)
	t.Setenv("DSR_MASTER_KEY", base64.StdEncoding.EncodeToString(testenv.TestKey))
	t.Setenv("DSR_NAMESPACE", "dsr")
	t.Setenv("DSR_EXPORT_DIR", dir)
	t.Setenv("CRASH_EVENTS_DSN", company)
	serve(t, srv.FrontendAddress(), freeAddr(t))

	keys, _ := keyring.New(testenv.TestKey)
	copts := connect.ClientOptions(keys)
	copts.HostPort, copts.Namespace = srv.FrontendAddress(), "dsr"
	c, err := client.DialContext(ctx, copts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	received := time.Now().UTC().Truncate(time.Second)
	for i := range subjects {
		email, _ := domain.NewIdentity(domain.Email, fmt.Sprintf("p%d@example.com", i))
		in := workflows.RequestInput{RequestID: fmt.Sprintf("RESTART-%d", i), Type: domain.Erasure, Regulation: domain.GDPR, Identities: []domain.Identity{email},
			ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), RequestedBy: "cli:compliance", IdentityVerified: true}
		if _, err := requests.Start(ctx, c, in); err != nil {
			t.Fatal(err)
		}
	}
	for i := range subjects {
		waitFor(t, "the request to wait for sign-off", func() (bool, string) {
			v, err := requests.Show(ctx, c, fmt.Sprintf("RESTART-%d", i))
			return err == nil && v.Status == domain.StatusAwaitingSignOff, fmt.Sprintf("%s %v", v.Status, err)
		})
	}

	srv.Stop()
	if srv, err = devserver.Start(ctx, opts); err != nil {
		t.Fatalf("restart: %v", err)
	}

	lead := claims.As(ctx, claims.Actor{Name: "product.lead@acme.example", Role: claims.RoleApprover, Channel: "test"})
	for i := range subjects {
		id := fmt.Sprintf("RESTART-%d", i)
		if err := requests.Decide(lead, c, id, workflows.Decision{Department: "Product", Decision: "approve", Approver: "product.lead@acme.example", Via: "test"}); err != nil {
			t.Fatalf("decide %s after the restart: %v", id, err)
		}
	}
	for i := range subjects {
		var res workflows.RequestState
		if err := c.GetWorkflow(ctx, domain.WorkflowID(fmt.Sprintf("RESTART-%d", i)), "").Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		if want := "deleted 0 in event_tags, deleted 75 in events"; res.Status != domain.StatusCompleted || res.Systems[0].Done != want {
			t.Fatalf("RESTART-%d ended %s: %q, want %q", i, res.Status, res.Systems[0].Done, want)
		}
	}
	var left int
	if err := db.GetContext(ctx, &left, `SELECT COUNT(*) FROM events`); err != nil || left != 75 {
		t.Fatalf("%d events left (%v); want the 75 of the fourth person", left, err)
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
