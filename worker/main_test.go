package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/devserver"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

func clearEnv(t *testing.T) {
	for _, k := range []string{"DATABASE_URL", "DSR_CONFIG", "DSR_MASTER_KEY", "DSR_MASTER_KEY_FILE", "DSR_TEMPORAL_ADDRESS", "DSR_NAMESPACE", "DSR_GATEWAY_ADDR", "DSR_EXPORT_DIR",
		"DSR_SMTP_HOST", "DSR_SMTP_PORT", "DSR_SMTP_USERNAME", "DSR_SMTP_PASSWORD", "DSR_SMTP_FROM", "DSR_SMTP_TLS", "DSR_MAIL_LANG", "DSR_MAIL_TEMPLATES"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// TestWorkerProductionMode runs the worker as production does: settings
// from the environment, a real Temporal frontend and a real PostgreSQL.
func TestWorkerProductionMode(t *testing.T) {
	clearEnv(t)
	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(devserver.DynamicConfig())))
	dsn := testenv.PostgresSchema(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "map.yaml")
	os.WriteFile(cfg, []byte("departments:\n  - name: Finance\n    approvers: [cfo@acme.example]\n"), 0o600)
	gw := freeAddr(t)
	t.Setenv("DATABASE_URL", dsn)
	t.Setenv("DSR_CONFIG", cfg)
	t.Setenv("DSR_MASTER_KEY", base64.StdEncoding.EncodeToString(testenv.TestKey))
	t.Setenv("DSR_NAMESPACE", ts.GetDefaultNamespace())
	t.Setenv("DSR_EXPORT_DIR", dir)

	ctx := context.Background()
	serve(t, ts.GetFrontendHostPort(), gw)

	keys, _ := keyring.New(testenv.TestKey)
	c := ts.NewClientWithOptions(connect.ClientOptions(keys))
	received := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	id, _ := domain.NewIdentity(domain.CustomerID, "C-1001")
	in := workflows.RequestInput{RequestID: "PROD-1", Type: domain.Portability, Regulation: domain.UKGDPR, Identities: []domain.Identity{id},
		ReceivedAt: received, DueAt: domain.DueAt(domain.UKGDPR, received), RequestedBy: "api:compliance", IdentityVerified: true}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if _, err := requests.Start(rctx, c, in); err != nil {
		t.Fatal(err)
	}
	if err := c.GetWorkflow(rctx, "dsr-PROD-1", "").Get(rctx, nil); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(rctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := st.GetRequest(rctx, "PROD-1")
	if err != nil || r.Status != domain.StatusCompleted {
		t.Fatalf("stored = %+v, %v", r, err)
	}
	deps, err := st.Departments(rctx)
	if err != nil || len(deps) != 1 || deps[0].Name != "Finance" {
		t.Fatalf("departments synced from the data map = %+v, %v", deps, err)
	}
}

func TestWorkerRefusesBadSettings(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	badMap := filepath.Join(dir, "map.yaml")
	os.WriteFile(badMap, []byte("departments:\n  - name: Finance\n"), 0o600)
	key := "DSR_MASTER_KEY=" + base64.StdEncoding.EncodeToString(testenv.TestKey)
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"nothing set", nil, nil, []string{"invalid settings", "--database-url (DATABASE_URL): required", "--config (DSR_CONFIG): required", "DSR_MASTER_KEY or --master-key-file"}},
		{"stray argument", nil, []string{"serve"}, []string{`unexpected argument "serve"`}},
		{"unknown flag", nil, []string{"--databse-url", "x"}, []string{"flag provided but not defined: -databse-url"}},
		{"SMTP half set", []string{"DSR_SMTP_HOST=smtp.acme.example", "DSR_SMTP_TLS=none", "DSR_SMTP_USERNAME=engine"}, nil,
			[]string{"invalid settings", "DSR_SMTP_TLS: none is allowed only for a server on this machine", "DSR_SMTP_FROM: required", "DSR_SMTP_USERNAME and DSR_SMTP_PASSWORD: give both or neither"}},
		{"broken data map", []string{"DATABASE_URL=postgres://127.0.0.1:1/x", "DSR_CONFIG=" + badMap, "DSR_EXPORT_DIR=" + dir, key}, nil, []string{badMap + ":2: departments[0].approvers: at least one approver is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for _, kv := range tt.env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			err := run(context.Background(), tt.args)
			if err == nil {
				t.Fatal("worker started with bad settings")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// serve runs the worker in this process, with the settings in the
// environment, until the test ends, and waits until it is healthy.
func serve(t *testing.T, temporalAddr, gw string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--temporal-address", temporalAddr, "--gateway-addr", gw, "--log-level", "error"})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker stopped with: %v", err)
		}
	})
	waitHealthy(t, "http://"+gw+"/healthz", done)
}

func waitHealthy(t *testing.T, url string, done chan error) {
	t.Helper()
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("worker exited: %v", err)
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return false, fmt.Sprintf("worker not healthy at %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("worker not healthy at %s: %s", url, resp.Status)
	})
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// deps lists every package pkg links.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

// forbid fails for every package of pkg's dependencies that one of the
// rules names.
func forbid(t *testing.T, pkg string, rules map[string]func(dep string) bool) {
	t.Helper()
	for _, dep := range deps(t, pkg) {
		for why, bad := range rules {
			if bad(dep) {
				t.Errorf("%s links %s (%s)", pkg, dep, why)
			}
		}
	}
}

const module = "github.com/dsrengine/dsr/"

func under(prefixes ...string) func(string) bool {
	return func(dep string) bool {
		for _, p := range prefixes {
			if dep == p || strings.HasPrefix(dep, p+"/") {
				return true
			}
		}
		return false
	}
}

// TestProductionBinariesDoNotEmbedTheServer keeps the Temporal server (and
// its Web UI) out of what runs in production: only dev mode embeds them.
func TestProductionBinariesDoNotEmbedTheServer(t *testing.T) {
	for _, pkg := range []string{module + "worker", module + "starter"} {
		forbid(t, pkg, map[string]func(string) bool{"the Temporal server": under("go.temporal.io/server", "github.com/temporalio/ui-server")})
	}
}

// TestImportsPointDown: the deterministic workflows link no database
// driver, no HTTP server of ours and no Slack client; starter, the
// compliance CLI, links nothing of the engine's server side.
func TestImportsPointDown(t *testing.T) {
	drivers := under("github.com/lib/pq", "github.com/go-sql-driver/mysql", "modernc.org/sqlite", "github.com/jmoiron/sqlx",
		"github.com/pressly/goose", "github.com/redis/go-redis")
	servers := under(module+"gateway", module+"api", module+"console", module+"opendsr", module+"slackapp", module+"internal/mailwave")
	forbid(t, module+"workflows", map[string]func(string) bool{
		"a SQL driver":       drivers,
		"an HTTP server":     servers,
		"Slack":              under("github.com/slack-go/slack", module+"slackapp"),
		"the engine's store": under(module + "store"),
		"a connector":        under(module+"connectors/sql", module+"connectors/http", module+"connectors/redis"),
	})
	// Our own packages that workflows link must not reach for the network
	// themselves (the SDK's gRPC client does, below them).
	for _, dep := range deps(t, module+"workflows") {
		if !strings.HasPrefix(dep, module) {
			continue
		}
		out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, dep).Output()
		if err != nil {
			t.Fatal(err)
		}
		if imports := strings.Fields(string(out)); slices.Contains(imports, "net/http") || slices.Contains(imports, "database/sql") {
			t.Errorf("%s, linked by the workflows, imports %v", dep, imports)
		}
	}
	forbid(t, module+"starter", map[string]func(string) bool{
		"server side": under(module+"api", module+"console", module+"slackapp", module+"opendsr", module+"gateway", module+"engine",
			module+"store", module+"connectors/sql", module+"connectors/http", module+"connectors/redis", module+"config"),
		"the Temporal server": under("go.temporal.io/server", "github.com/temporalio/ui-server"),
		"a SQL driver":        drivers,
		"Slack":               under("github.com/slack-go/slack"),
	})
	forbid(t, module+"config", map[string]func(string) bool{"slackapp or the store": under(module+"slackapp", module+"store")})
}
