package engine_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/store"
)

// TestSuppressionCommand: the CLI answers as the API does, only
// "suppressed" or "not suppressed", names what is wrong with its
// arguments, and audits each check without the identity.
func TestSuppressionCommand(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, _ := keyring.New(testenv.TestKey)
	if err := st.Suppress(ctx, "email", keys.Hash("email", "kim@example.com"), "erased", "REQ-1"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		out  string
		err  string
	}{
		{[]string{"check", "--email", "KIM@example.com"}, "suppressed\n", ""},
		{[]string{"check", "--email", "lee@example.com"}, "not suppressed\n", ""},
		{[]string{"check"}, "", "give exactly one of email=, phone= or customer_id="},
		{[]string{"check", "--email", "a@example.com", "--customer-id", "C-1"}, "", "give exactly one"},
		{[]string{"check", "--name", "kim"}, "", "flag provided but not defined: -name"},
		{[]string{"list"}, "", `give "check --email E"`},
	} {
		var out bytes.Buffer
		err := engine.Suppression(ctx, st, keys, tt.args, &out)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: err %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || out.String() != tt.out {
			t.Errorf("%v: %q %v, want %q", tt.args, out.String(), err, tt.out)
		}
	}
	log, _ := st.AuditLog(ctx, "")
	n := 0
	for _, a := range log {
		if a.Action == "suppression.checked" {
			n++
			if !strings.HasPrefix(a.Actor, "cli") || strings.Contains(a.DetailRaw, "kim") || strings.Contains(a.DetailRaw, "lee") {
				t.Errorf("audited as %s: %s", a.Actor, a.DetailRaw)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d checks audited, want 2", n)
	}
}
