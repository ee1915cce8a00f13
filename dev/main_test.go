package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

// TestDevModeSurvivesRestart runs the real one-command dev mode twice on
// the same data directory: a request started in the first run is still
// there, completed, in the second; the Web UI and the gateway answer.
func TestDevModeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ports := freePorts(t, 3)
	args := []string{"--data-dir", dir, "--temporal-port", ports[0], "--ui-port", ports[1], "--gateway-port", ports[2], "--log-level", "error"}
	frontend := "127.0.0.1:" + ports[0]

	banner, stop := startDev(t, args, "http://127.0.0.1:"+ports[2]+"/healthz")
	for _, want := range []string{"Temporal Web UI    http://127.0.0.1:" + ports[1] + "/namespaces/dsr/workflows", "Gateway            http://127.0.0.1:" + ports[2], "go run ./starter start", "--key-file " + dir + "/master.key", "--temporal-address " + frontend} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	c := dial(t, dir, frontend)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	received := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	email, _ := domain.NewIdentity(domain.Email, "dev@example.com")
	in := workflows.RequestInput{RequestID: "DEV-1", Type: domain.Erasure, Regulation: domain.LGPD, Identities: []domain.Identity{email},
		ReceivedAt: received, DueAt: domain.DueAt(domain.LGPD, received), RequestedBy: "cli:test", IdentityVerified: true}
	if _, err := requests.Start(ctx, c, in); err != nil {
		t.Fatal(err)
	}
	if err := c.GetWorkflow(ctx, "dsr-DEV-1", "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "dsr"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got < 30*24*time.Hour {
		t.Fatalf("retention %s, want at least 30 days", got)
	}
	c.Close()
	stop()

	// Second run on the same directory.
	_, stop = startDev(t, args, "http://127.0.0.1:"+ports[2]+"/healthz")
	defer stop()
	c = dial(t, dir, frontend)
	defer c.Close()
	v, err := requests.Show(ctx, c, "DEV-1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != domain.StatusCompleted || v.DueAt.Format(time.DateOnly) != "2026-03-17" || len(v.Timeline) < 2 || v.Timeline[0].Status != domain.StatusReceived {
		t.Fatalf("after restart: %+v", v)
	}
	// The Web UI lists it, filtered by a search attribute.
	resp, err := http.Get("http://127.0.0.1:" + ports[1] + "/api/v1/namespaces/dsr/workflows?query=" + "DsrRegulation%3D%22lgpd%22")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var list struct {
		Executions []struct {
			Execution struct {
				WorkflowID string `json:"workflowId"`
			} `json:"execution"`
		} `json:"executions"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Executions) != 1 || list.Executions[0].Execution.WorkflowID != "dsr-DEV-1" {
		t.Fatalf("UI workflow list (%d): %s", resp.StatusCode, body)
	}
	page, err := http.Get("http://127.0.0.1:" + ports[1] + "/")
	if err != nil || page.StatusCode != http.StatusOK {
		t.Fatalf("UI page: %v %v", page, err)
	}
	page.Body.Close()

	// The seeded demo company answers an access request for its demo
	// subject from every system, after Sales signed off; billing is keyed
	// by customer number, which the CRM's row found by e-mail holds.
	jane, _ := domain.NewIdentity(domain.Email, "jane@example.com")
	now := time.Now().UTC().Truncate(time.Second)
	acc := workflows.RequestInput{RequestID: "DEV-ACC", Type: domain.Access, Regulation: domain.GDPR, Identities: []domain.Identity{jane},
		ReceivedAt: now, DueAt: domain.DueAt(domain.GDPR, now), RequestedBy: "cli:test", IdentityVerified: true}
	if _, err := requests.Start(ctx, c, acc); err != nil {
		t.Fatal(err)
	}
	// Wait with queries, as an approver would wait for the sign-off message.
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		v, err := requests.Show(ctx, c, "DEV-ACC")
		return err == nil && v.Status == domain.StatusAwaitingSignOff, fmt.Sprintf("never awaiting sign-off: %+v, %v", v, err)
	})
	sales := claims.As(ctx, claims.Actor{Name: "sales.lead@acme.example", Role: claims.RoleApprover, Channel: "cli:test"})
	if err := requests.Decide(sales, c, "DEV-ACC", workflows.Decision{Department: "Sales", Decision: "approve"}); err != nil {
		t.Fatal(err)
	}
	var res workflows.RequestState
	if err := c.GetWorkflow(ctx, "dsr-DEV-ACC", "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, p := range res.Systems {
		found = append(found, fmt.Sprintf("%s:%d", p.System, p.Found))
	}
	if got := strings.Join(found, " "); got != "billing:6 crm:3 marketing:3 newsletter-platform:5 support:1 web-analytics:3" || res.Package == "" {
		t.Fatalf("demo access: %s, package %q", got, res.Package)
	}
}

func TestDevModeRefusesBadFlags(t *testing.T) {
	tests := map[string][]string{
		"--retention-days 7: must be at least 30": {"--retention-days", "7"},
		"--ip \"localhost:1\": not an IP address": {"--ip", "localhost:1"},
		"--ui-port -1":                {"--ui-port", "-1"},
		"--temporal-port 70000":       {"--temporal-port", "70000"},
		"unexpected argument \"now\"": {"now"},
	}
	for want, args := range tests {
		err := run(context.Background(), append([]string{"--data-dir", t.TempDir()}, args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run(%v) = %v, want %q", args, err, want)
		}
	}
}

func startDev(t *testing.T, args []string, health string) (banner string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, &out) }()
	// A cold start migrates Temporal's SQLite schema: real work, which a
	// busy machine slows down.
	t.Cleanup(cancel)
	testenv.Eventually(t, time.Minute, func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("dev mode exited: %v", err)
		default:
		}
		return healthy(health), "dev mode did not become healthy at " + health
	})
	return out.String(), func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev mode stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("dev mode did not stop in 30s")
		}
	}
}

func dial(t *testing.T, dir, frontend string) client.Client {
	t.Helper()
	master, err := keyring.LoadOrCreateKeyFile(dir + "/master.key")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := keyring.New(master)
	c, err := connect.Dial(context.Background(), connect.Options{Address: frontend, Namespace: "dsr", Keys: keys, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// healthy says whether a gateway's health check answers 200.
func healthy(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
