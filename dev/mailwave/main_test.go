package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/gateway"
)

// TestServesTheCompanysSeed runs the service as the compose file does,
// on the example company's seed, and restarts it: what changed is kept,
// and the seed does not come back over it.
func TestServesTheCompanysSeed(t *testing.T) {
	const token = "a-token-of-the-saas-1234"
	state := filepath.Join(t.TempDir(), "state.json")
	addr := freeAddr(t)
	start := func() context.CancelFunc {
		serveUntil, err := listen(addr, "../../deploy/company/newsletter.json", state, token)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- serveUntil(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	stop := start()
	if err := gateway.Probe(context.Background(), addr); err != nil {
		t.Fatalf("health: %v", err)
	}
	call := func(method, path, auth string) (int, map[string]any) {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.Unmarshal(b, &body)
		return resp.StatusCode, body
	}
	if code, _ := call("GET", "/v3/contacts?email=jane@example.com", "Bearer wrong-token-of-the-saas"); code != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d", code)
	}
	if code, body := call("GET", "/v3/contacts?email=jane@example.com", "Bearer "+token); code != 200 || len(body["contacts"].([]any)) != 2 {
		t.Fatalf("Jane's search (fuzzy: ejane too) = %d %v", code, body)
	}
	if code, _ := call("DELETE", "/v3/events/ev-1", "Bearer "+token); code != http.StatusNoContent {
		t.Fatalf("delete an event: %d", code)
	}
	stop()
	// The old server's connections are gone; a DELETE is not retried on
	// one the client still holds.
	http.DefaultClient.CloseIdleConnections()
	stop = start()
	defer stop()
	if code, _ := call("DELETE", "/v3/events/ev-1", "Bearer "+token); code != http.StatusNotFound {
		t.Fatalf("the deleted event came back after a restart: %d", code)
	}
}

func TestRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "seed.json")
	os.WriteFile(bad, []byte(`{"contacts": [{"id": "x", "emial": "a@b.c"}]}`), 0o600)
	for _, tc := range []struct {
		name                     string
		addr, seed, state, token string
		want                     []string
	}{
		{"nothing", "127.0.0.1:0", "", "", "", []string{"MAILWAVE_TOKEN: required, at least 16 characters", "--seed (MAILWAVE_SEED) or --state (MAILWAVE_STATE)"}},
		{"short token", "127.0.0.1:0", bad, "", "short", []string{"MAILWAVE_TOKEN: required, at least 16 characters"}},
		{"a typo in the seed", "127.0.0.1:0", bad, "", "a-token-of-the-saas-1234", []string{bad, `unknown field "emial"`}},
		{"no seed file", "127.0.0.1:0", filepath.Join(dir, "none.json"), "", "a-token-of-the-saas-1234", []string{"--seed (MAILWAVE_SEED)", "no such file"}},
		{"bad address", "nowhere", "../../deploy/company/newsletter.json", "", "a-token-of-the-saas-1234", []string{"--addr (MAILWAVE_ADDR)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := listen(tc.addr, tc.seed, tc.state, tc.token)
			if err == nil {
				t.Fatal("started")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
	if err := run(context.Background(), []string{"health", "--addr", freeAddr(t)}, func(string) string { return "" }); err == nil {
		t.Fatal("health passed with nothing listening")
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
