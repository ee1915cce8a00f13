package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/internal/transit"
	"github.com/dsrengine/dsr/keyring"
)

// TestMasterKeyInVault keeps the master key wrapped by Vault's transit
// engine: wrapped once, checked without reaching Vault, unwrapped at each
// start, rewrapped after Vault rotated its key, and refused when Vault
// refuses, when it is given beside a plain key, or without a token.
func TestMasterKeyInVault(t *testing.T) {
	clearEnv(t)
	vault := transit.New("s.worker-token", "dsr-master")
	srv := httptest.NewServer(vault)
	defer srv.Close()
	ctx := context.Background()
	dir := t.TempDir()
	plain := filepath.Join(dir, "master.key")
	os.WriteFile(plain, []byte(base64.StdEncoding.EncodeToString(testenv.TestKey)+"\n"), 0o600)
	wrapped := filepath.Join(dir, "master.wrapped")
	cfg := filepath.Join(dir, "map.yaml")
	os.WriteFile(cfg, []byte(crashMap), 0o600)
	env := map[string]string{"DSR_VAULT_ADDR": srv.URL, "DSR_VAULT_TRANSIT_KEY": "dsr-master", "DSR_VAULT_TOKEN": "s.worker-token",
		"DATABASE_URL": "postgres://dsr@127.0.0.1:1/dsr", "DSR_CONFIG": cfg, "DSR_EXPORT_DIR": dir, "CRASH_EVENTS_DSN": "postgres://127.0.0.1:1/c"}
	lookup := func(extra ...string) func(string) (string, bool) {
		m := map[string]string{}
		for k, v := range env {
			m[k] = v
		}
		for i := 0; i < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok && v != "" }
	}

	var out bytes.Buffer
	if err := kmsCommand(ctx, []string{"wrap", "--from", plain, "--out", wrapped}, lookup(), &out); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(wrapped)
	st, _ := os.Stat(wrapped)
	key := base64.StdEncoding.EncodeToString(testenv.TestKey)
	if !strings.HasPrefix(string(b), "vault:v1:") || strings.Contains(string(b), key) || st.Mode().Perm() != 0o600 {
		t.Fatalf("wrapped file %q, mode %v", b, st.Mode())
	}
	// The plain key is never sent over a network in the clear.
	if err := kmsCommand(ctx, []string{"wrap", "--from", plain, "--out", filepath.Join(dir, "other.wrapped")}, lookup("DSR_VAULT_ADDR", "http://vault.internal:8200"), &out); err == nil ||
		!strings.Contains(err.Error(), "http only to a Vault Agent on localhost") {
		t.Fatalf("a wrap over plain http to another host: %v", err)
	}
	if err := kmsCommand(ctx, []string{"wrap", "--from", plain, "--out", wrapped}, lookup(), &out); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("a second wrap over the file: %v", err)
	}

	// The preflight validates without reaching Vault.
	before := vault.Calls("decrypt")
	if err := check(nil, lookup("DSR_MASTER_KEY_WRAPPED_FILE", wrapped), &out); err != nil {
		t.Fatalf("check with a wrapped key: %v", err)
	}
	if vault.Calls("decrypt") != before {
		t.Fatal("worker check asked Vault")
	}
	// A start unwraps it: the keyring is the plain key's.
	want, _ := keyring.New(testenv.TestKey)
	start := func(extra ...string) (*keyring.Keyring, error) {
		s, err := settings("worker", nil, lookup(extra...))
		if err != nil {
			return nil, err
		}
		if err := engine.CheckSettings(s); err != nil {
			return nil, err
		}
		return s.Keyring(ctx)
	}
	ring, err := start("DSR_MASTER_KEY_WRAPPED_FILE", wrapped)
	if err != nil || ring.KeyID() != want.KeyID() {
		t.Fatalf("unwrapped keyring %v, %v; want %s", ring, err, want.KeyID())
	}

	vault.Rotate()
	out.Reset()
	if err := kmsCommand(ctx, []string{"rewrap", "--file", wrapped}, lookup(), &out); err != nil || !strings.Contains(out.String(), "vault:v1 → vault:v2") {
		t.Fatalf("rewrap: %q, %v", out.String(), err)
	}
	if ring, err := start("DSR_MASTER_KEY_WRAPPED_FILE", wrapped); err != nil || ring.KeyID() != want.KeyID() {
		t.Fatalf("after the rewrap: %v", err)
	}

	for name, tc := range map[string]struct {
		extra []string
		want  string
	}{
		"beside a plain key": {[]string{"DSR_MASTER_KEY_WRAPPED_FILE", wrapped, "DSR_MASTER_KEY", key}, "give one master key"},
		"no token":           {[]string{"DSR_MASTER_KEY_WRAPPED_FILE", wrapped, "DSR_VAULT_TOKEN", ""}, "needs exactly one of DSR_VAULT_TOKEN and --vault-token-file"},
		"no transit key":     {[]string{"DSR_MASTER_KEY_WRAPPED_FILE", wrapped, "DSR_VAULT_TRANSIT_KEY", ""}, "--vault-transit-key (DSR_VAULT_TRANSIT_KEY)"},
		"a token Vault refuses": {[]string{"DSR_MASTER_KEY_WRAPPED_FILE", wrapped, "DSR_VAULT_TOKEN", "s.revoked"},
			"--master-key-wrapped-file (DSR_MASTER_KEY_WRAPPED_FILE): wrapped master key " + wrapped + `: vault transit decrypt with key "dsr-master": 403 Forbidden`},
		"Vault unreachable": {[]string{"DSR_MASTER_KEY_WRAPPED_FILE", wrapped, "DSR_VAULT_ADDR", "http://127.0.0.1:1"}, "vault transit decrypt"},
		"Vault over plain http": {[]string{"DSR_MASTER_KEY_WRAPPED_FILE", wrapped, "DSR_VAULT_ADDR", "http://vault.internal:8200"},
			`--vault-addr (DSR_VAULT_ADDR): "http://vault.internal:8200" must be https:// (http only to a Vault Agent on localhost)`},
	} {
		if _, err := start(tc.extra...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}

	// The store's commands read the master key the same way.
	t.Setenv("DATABASE_URL", testenv.PostgresSchema(t))
	for k, v := range map[string]string{"DSR_MASTER_KEY_WRAPPED_FILE": wrapped, "DSR_VAULT_ADDR": srv.URL, "DSR_VAULT_TRANSIT_KEY": "dsr-master", "DSR_VAULT_TOKEN": "s.worker-token"} {
		t.Setenv(k, v)
	}
	if err := run(ctx, []string{"suppression", "check", "--email", "kim@example.com"}); err != nil {
		t.Fatalf("suppression check with the wrapped key: %v", err)
	}
}
