package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/internal/testenv"
)

// TestCheck runs the worker's preflight on environments given whole, as
// the compose file's test does: what is missing or wrong is named, and
// nothing connects.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "map.yaml")
	if err := os.WriteFile(cfg, []byte(crashMap), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{
		// Nothing listens there: check never connects.
		"DATABASE_URL": "postgres://dsr@127.0.0.1:1/dsr", "DSR_CONFIG": cfg, "DSR_EXPORT_DIR": dir,
		"DSR_MASTER_KEY": base64.StdEncoding.EncodeToString(testenv.TestKey), "CRASH_EVENTS_DSN": "postgres://127.0.0.1:1/company",
	}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(env, kv[i])
			} else {
				env[kv[i]] = kv[i+1]
			}
		}
		return env
	}
	tests := []struct {
		name string
		env  map[string]string
		want string // in the output, or else in the error
		ok   bool
	}{
		{"all", base, "ok: role all, data map " + cfg + " with 1 departments and 1 systems (1 connected by this role)", true},
		{"worker", with("DSR_ROLE", "worker"), "ok: role worker", true},
		{"a gateway needs no system's variable", with("DSR_ROLE", "gateway", "CRASH_EVENTS_DSN", ""), "(0 connected by this role)", true},
		{"a worker does", with("DSR_ROLE", "worker", "CRASH_EVENTS_DSN", ""), cfg + ":7: systems[0] (events): environment variable CRASH_EVENTS_DSN is not set (it holds the connection string), named by sql.dsn_env", false},
		{"unknown role", with("DSR_ROLE", "scheduler"), `--role (DSR_ROLE): "scheduler" is not a role: all, worker or gateway`, false},
		{"a worker's mail links to the gateway", with("DSR_ROLE", "worker", "DSR_SMTP_HOST", "smtp.acme.example", "DSR_SMTP_FROM", "privacy@acme.example"),
			"--public-url (DSR_PUBLIC_URL): required for --role worker with mail", false},
		{"http on this machine", with("DSR_PUBLIC_URL", "http://localhost:8080"), "ok: role all", true},
		{"http on loopback", with("DSR_PUBLIC_URL", "http://127.0.0.1:8080"), "ok: role all", true},
		{"http elsewhere", with("DSR_PUBLIC_URL", "http://privacy.acme.example"), `"http://privacy.acme.example" must be an https:// URL (http only on localhost)`, false},
		{"a host named like loopback", with("DSR_PUBLIC_URL", "http://localhost.acme.example"), "http only on localhost", false},
		{"no master key", with("DSR_MASTER_KEY", ""), "DSR_MASTER_KEY or --master-key-file", false},
		{"no map file", with("DSR_CONFIG", filepath.Join(dir, "missing.yaml")), "--config (DSR_CONFIG): cannot read " + filepath.Join(dir, "missing.yaml"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := check(nil, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }, &out)
			switch {
			case tt.ok && err != nil:
				t.Fatalf("check failed: %v", err)
			case tt.ok && !strings.Contains(out.String(), tt.want):
				t.Fatalf("check said %q, want %q", out.String(), tt.want)
			case !tt.ok && err == nil:
				t.Fatalf("check passed: %s", out.String())
			case !tt.ok && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error lacks %q:\n%v", tt.want, err)
			}
		})
	}
}

// TestHealthCommand is the containers' health check: it asks the address
// the process listens on, the unspecified one included, and fails unless
// the answer is 200.
func TestHealthCommand(t *testing.T) {
	clearEnv(t)
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ctx := context.Background()
	if err := health(ctx, []string{"--gateway-addr", "0.0.0.0:" + port}); err != nil {
		t.Fatalf("healthy process: %v", err)
	}
	t.Setenv("DSR_GATEWAY_ADDR", srv.Listener.Addr().String())
	status = http.StatusServiceUnavailable
	if err := health(ctx, nil); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unhealthy process: %v", err)
	}
	srv.Close()
	if err := health(ctx, nil); err == nil {
		t.Fatal("nothing listening, and health passed")
	}
}
