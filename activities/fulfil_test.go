package activities_test

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
)

// TestPackageStreamsAndRefusesAChangedExport: the package is built from
// the exports as streams, checked against the digests they were recorded
// with; an export changed since is refused for good, and no package is
// left behind.
func TestPackageStreamsAndRefusesAChangedExport(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	a := &activities.Activities{Store: st, ExportDir: dir}
	for _, id := range []string{"PKG-1", "PKG-2"} {
		received := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		if _, err := st.RecordProvisional(context.Background(), records.Request{ID: id, Type: domain.Access, Regulation: domain.GDPR, Status: domain.StatusReceived,
			ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), WorkflowID: domain.WorkflowID(id)}, "cli:test"); err != nil {
			t.Fatal(err)
		}
	}
	export := filepath.Join(t.TempDir(), "crm.json")
	body := `{"customers": {"rows": [` + strings.Repeat(`{"id": 1},`, 100000) + `{"id": 2}]}}`
	if err := os.WriteFile(export, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	art := records.Artifact{ID: "PKG-1/crm", RequestID: "PKG-1", System: "crm", Format: "json", Location: "file://" + export, SHA256: hex.EncodeToString(sum[:])}
	in := activities.PackageInput{RequestID: "PKG-1", Type: domain.Access, Regulation: domain.GDPR,
		Systems: []activities.SystemSummary{{System: "crm", Records: 2, File: "systems/crm.json"}}, Artifacts: []records.Artifact{art}}
	pkg, err := a.AssemblePackage(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	z, err := zip.OpenReader(strings.TrimPrefix(pkg.Location, "file://"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range z.File {
		names = append(names, f.Name)
		if f.Name == "systems/crm.json" && f.UncompressedSize64 != uint64(len(body)) {
			t.Fatalf("the export in the package has %d bytes, want %d", f.UncompressedSize64, len(body))
		}
	}
	z.Close()
	if strings.Join(names, " ") != "manifest.json systems/crm.json" {
		t.Fatalf("package holds %v", names)
	}

	// Someone edits the export on disk.
	if err := os.WriteFile(export, []byte(strings.Replace(body, `"id": 2`, `"id": 3`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	in.RequestID, in.Artifacts[0].RequestID = "PKG-2", "PKG-2"
	_, err = a.AssemblePackage(context.Background(), in)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != "Tampered" || !app.NonRetryable() || !strings.Contains(err.Error(), "export of crm: it changed since it was written") {
		t.Fatalf("a changed export: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PKG-2", "package.zip")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a package was left behind: %v", err)
	}
}
