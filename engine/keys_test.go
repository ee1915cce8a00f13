package engine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
)

// TestKeysRotate: "worker keys rotate" re-wraps the subjects' keys from
// the old wrapping key to the new one, which alone opens them after; a
// second run has nothing left to do; a wrong invocation says what to give.
func TestKeysRotate(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	old, _ := keyring.New(testenv.TestKey)
	jane, _ := domain.NewIdentity(domain.Email, "jane@example.com")
	day0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := st.RecordRequest(ctx, old, records.Request{ID: "ROT-1", Type: domain.Access, Regulation: domain.GDPR, Status: domain.StatusReceived,
		ReceivedAt: day0, DueAt: domain.DueAt(domain.GDPR, day0), WorkflowID: "dsr-ROT-1"}, []domain.Identity{jane}, "cli:test"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	newFile := filepath.Join(dir, "wrap-new.key")
	os.WriteFile(newFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600)
	ring, err := config.NewKeyring(testenv.TestKey, newFile)
	if err != nil {
		t.Fatal(err)
	}
	rotate := func(keys *keyring.Keyring, args ...string) (string, error) {
		var out bytes.Buffer
		err := engine.Keys(ctx, st, keys, testenv.TestKey, args, &out)
		return out.String(), err
	}
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{nil, `give "rotate --from OLD_WRAP_KEY_FILE"`},
		{[]string{"rotate"}, "give --from OLD_WRAP_KEY_FILE"},
		{[]string{"rotate", "--from", filepath.Join(dir, "missing.key")}, "no such file"},
		{[]string{"rotate", "--from", newFile}, "the old wrapping key is the one in use"},
	} {
		if _, err := rotate(ring, tt.args...); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.err)
		}
	}
	out, err := rotate(ring, "rotate", "--from", "master")
	if err != nil || !strings.HasPrefix(out, "re-wrapped 1 subject keys from wrapping key "+old.WrapKeyID()+" to "+ring.WrapKeyID()) {
		t.Fatalf("rotate: %q %v", out, err)
	}
	if out, err := rotate(ring, "rotate", "--from", "master"); err != nil || !strings.HasPrefix(out, "re-wrapped 0 subject keys") {
		t.Fatalf("rotate again: %q %v", out, err)
	}
	r, _ := st.GetRequest(ctx, "ROT-1")
	if ids, err := st.SubjectIdentities(ctx, ring, r.SubjectID); err != nil || len(ids) != 1 || ids[0].Value != "jane@example.com" {
		t.Fatalf("identities with the new key: %v %v", ids, err)
	}
	if _, err := st.SubjectIdentities(ctx, old, r.SubjectID); err == nil || !strings.Contains(err.Error(), "run worker keys rotate") {
		t.Fatalf("identities with the old key: %v", err)
	}
}
