package activities_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	a := &activities.Activities{Store: st, Keys: testKeys, ExportDir: dir}
	for _, id := range []string{"PKG-1", "PKG-2"} {
		received := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		if _, err := st.RecordProvisional(context.Background(), records.Request{ID: id, Type: domain.Access, Regulation: domain.GDPR, Status: domain.StatusReceived,
			ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), WorkflowID: domain.WorkflowID(id)}, "cli:test"); err != nil {
			t.Fatal(err)
		}
	}
	export := filepath.Join(t.TempDir(), "crm.json")
	body := `{"customers": {"rows": [` + strings.Repeat(`{"id": 1},`, 100000) + `{"id": 2}]}}`
	writeExport(t, st, "PKG-1", export, body)
	sum := sha256.Sum256([]byte(body))
	art := records.Artifact{ID: "PKG-1/crm", RequestID: "PKG-1", System: "crm", Format: "json", Location: "file://" + export, SHA256: hex.EncodeToString(sum[:])}
	in := activities.PackageInput{RequestID: "PKG-1", Type: domain.Access, Regulation: domain.GDPR,
		Systems: []activities.SystemSummary{{System: "crm", Records: 2, File: "systems/crm.json"}}, Artifacts: []records.Artifact{art}}
	pkg, err := a.AssemblePackage(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	z := openPackage(t, st, "PKG-1", pkg.Location)
	var names []string
	for _, f := range z.File {
		names = append(names, f.Name)
		if f.Name == "systems/crm.json" && f.UncompressedSize64 != uint64(len(body)) {
			t.Fatalf("the export in the package has %d bytes, want %d", f.UncompressedSize64, len(body))
		}
	}
	if strings.Join(names, " ") != "systems/crm.json systems/crm/customers.csv systems/crm/customers.json report.html manifest.json" {
		t.Fatalf("package holds %v", names)
	}

	// An export written before files were encrypted (a request in flight
	// across the upgrade) is read as it is, checked against its digest.
	if err := os.WriteFile(export, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AssemblePackage(context.Background(), in); err != nil {
		t.Fatalf("a plain export from before the upgrade: %v", err)
	}
	writeExport(t, st, "PKG-1", export, body)

	// Someone with the key edits the export on disk; someone without it
	// flips a byte, or puts another request's export in its place.
	in.RequestID, in.Artifacts[0].RequestID = "PKG-2", "PKG-2"
	encrypted, _ := os.ReadFile(export)
	for name, change := range map[string]func(){
		"edited with the key":    func() { writeExport(t, st, "PKG-2", export, strings.Replace(body, `"id": 2`, `"id": 3`, 1)) },
		"a byte flipped":         func() { b := bytes.Clone(encrypted); b[len(b)/2] ^= 1; os.WriteFile(export, b, 0o600) },
		"another request's file": func() { os.WriteFile(export, encrypted, 0o600) },
		"changed in plain text":  func() { os.WriteFile(export, []byte(strings.Replace(body, `"id": 2`, `"id": 3`, 1)), 0o600) },
	} {
		change()
		_, err = a.AssemblePackage(context.Background(), in)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != "Tampered" || !app.NonRetryable() || !strings.Contains(err.Error(), "export of crm: it changed since it was written") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "PKG-2", "package.zip")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a package was left behind: %v", err)
	}
}

// TestPackageCarriesEachTableAsCSV: every table of every export, in each
// connector's shape, is in the package as CSV too: the union of its rows'
// columns, nested values as JSON, text a spreadsheet would run as a
// formula defused, names safe for any zip tool, and listed in the manifest.
func TestPackageCarriesEachTableAsCSV(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	received := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := st.RecordProvisional(context.Background(), records.Request{ID: "CSV-1", Type: domain.Portability, Regulation: domain.GDPR, Status: domain.StatusReceived,
		ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), WorkflowID: domain.WorkflowID("CSV-1")}, "cli:test"); err != nil {
		t.Fatal(err)
	}
	a := &activities.Activities{Store: st, Keys: testKeys, ExportDir: t.TempDir()}
	exports := map[string]string{
		"shop": `{"customers": {"categories": {"email": ["contact"]}, "undeclared_columns": ["notes"], "rows": [
			{"email": "jane@example.com", "id": 1, "notes": "=HYPERLINK(\"http://evil.example\")"},
			{"email": "jane@example.com", "id": 2, "notes": null, "extra": {"a": 1}}]},
			"orders": {"categories": {}, "undeclared_columns": [], "rows": []}}`,
		"mail":  `{"contacts": [{"id": "c1", "tags": ["a", "b"]}, {"id": "c2", "name": "Jane, \"JJ\""}]}`,
		"cache": `{"session:{email}:*": {"session:jane@example.com:1": {"ip": "192.0.2.1"}, "session:jane@example.com:2": "-1"}}`,
		// Connectors of a company's own, in shapes of their own.
		"odd":  `{"rows": 2}`,
		"text": `name,email` + "\n" + `Jane,jane@example.com`,
	}
	in := activities.PackageInput{RequestID: "CSV-1", Type: domain.Portability, Regulation: domain.GDPR}
	for _, system := range []string{"cache", "mail", "odd", "shop", "text"} {
		path := filepath.Join(t.TempDir(), system+".json")
		writeExport(t, st, "CSV-1", path, exports[system])
		sum := sha256.Sum256([]byte(exports[system]))
		in.Artifacts = append(in.Artifacts, records.Artifact{ID: "CSV-1/" + system, RequestID: "CSV-1", System: system, Format: "json",
			Location: "file://" + path, SHA256: hex.EncodeToString(sum[:])})
		in.Systems = append(in.Systems, activities.SystemSummary{System: system, Records: 2, File: "systems/" + system + ".json"})
	}
	pkg, err := a.AssemblePackage(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	z := openPackage(t, st, "CSV-1", pkg.Location)
	read := func(name string) string {
		f, err := z.Open(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		return string(b)
	}
	for name, want := range map[string][][]string{
		"systems/shop/customers.csv": {{"email", "id", "notes", "extra"},
			{"jane@example.com", "1", `'=HYPERLINK("http://evil.example")`, ""}, {"jane@example.com", "2", "", `{"a":1}`}},
		"systems/shop/orders.csv":             {}, // no rows, no columns: an empty file
		"systems/mail/contacts.csv":           {{"id", "tags", "name"}, {"c1", `["a","b"]`, ""}, {"c2", "", `Jane, "JJ"`}},
		"systems/cache/session__email___.csv": {{"key", "value"}, {"session:jane@example.com:1", `{"ip":"192.0.2.1"}`}, {"session:jane@example.com:2", "'-1"}},
	} {
		r := csv.NewReader(strings.NewReader(read(name)))
		r.FieldsPerRecord = -1
		got, err := r.ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
	}
	// Each table as JSON too, structured as the system gave it.
	for name, want := range map[string]string{
		"systems/shop/customers.json": `[{"email":"jane@example.com","id":1,"notes":"=HYPERLINK(\"http://evil.example\")"},{"email":"jane@example.com","extra":{"a":1},"id":2,"notes":null}]`,
		"systems/shop/orders.json":    `[]`,
		"systems/mail/contacts.json":  `[{"id":"c1","tags":["a","b"]},{"id":"c2","name":"Jane, \"JJ\""}]`,
	} {
		var rows any
		if err := json.Unmarshal([]byte(read(name)), &rows); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _ := json.Marshal(rows)
		if string(got) != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	if read("systems/odd.json") != exports["odd"] || read("systems/text.json") != exports["text"] {
		t.Fatal("an export in a shape of its own is not in the package as it is")
	}
	var manifest struct {
		Systems []struct {
			System string   `json:"system"`
			Tables []string `json:"tables"`
		} `json:"systems"`
	}
	if err := json.Unmarshal([]byte(read("manifest.json")), &manifest); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(manifest.Systems); got != "[{cache [systems/cache/session__email___.csv]} {mail [systems/mail/contacts.csv]} {odd []} {shop [systems/shop/customers.csv systems/shop/orders.csv]} {text []}]" {
		t.Fatalf("manifest: %s", got)
	}
}
