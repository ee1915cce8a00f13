package activities_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
)

// TestPurgeCountsAcrossARetry: an erasure's purge of the person's earlier
// files, retried after a crash that came between two requests, deletes
// what is left and counts both requests, each purge audited once.
func TestPurgeCountsAcrossARetry(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	jane, _ := domain.NewIdentity(domain.Email, "jane@example.com")
	received := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"ACC-1", "ACC-2", "ERA-1"} {
		typ := domain.Access
		if id == "ERA-1" {
			typ = domain.Erasure
		}
		if _, err := st.RecordRequest(ctx, testKeys, records.Request{ID: id, Type: typ, Regulation: domain.GDPR, Status: domain.StatusReceived,
			ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), WorkflowID: domain.WorkflowID(id)}, []domain.Identity{jane}, "cli:test"); err != nil {
			t.Fatal(err)
		}
		received = received.Add(time.Hour)
	}
	for _, id := range []string{"ACC-1", "ACC-2"} {
		if err := os.MkdirAll(filepath.Join(dir, id), 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, id, "package.zip"), []byte("x"), 0o600)
	}
	// The first attempt purged ACC-1, then the worker died.
	if err := st.MarkPurged(ctx, "ACC-1", "erased by ERA-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "ACC-1"))

	a := &activities.Activities{Store: st, Keys: testKeys, ExportDir: dir}
	n, err := a.PurgeSubjectExports(ctx, activities.PurgeInput{RequestID: "ERA-1"})
	if err != nil || n != 2 {
		t.Fatalf("purged %d (%v), want 2", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ACC-2")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ACC-2's files are left: %v", err)
	}
	for _, id := range []string{"ACC-1", "ACC-2"} {
		log, _ := st.AuditLog(ctx, id)
		purges := 0
		for _, e := range log {
			if e.Action == "exports.purged" {
				purges++
			}
		}
		if purges != 1 {
			t.Errorf("%s: %d purges audited, want 1", id, purges)
		}
	}
	if again, err := a.PurgeSubjectExports(ctx, activities.PurgeInput{RequestID: "ERA-1"}); err != nil || again != 2 {
		t.Fatalf("a third attempt counts %d (%v), want 2", again, err)
	}
}
