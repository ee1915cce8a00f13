package store

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
)

// The SQLite rebuild of requests for the new request types keeps every
// row, and the rows of other tables that point at them, with foreign keys
// on as the store always runs.
func TestRightsMigrationKeepsRequests(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dsr.db")
	_, source, err := parseDSN(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlx.Open("sqlite", source)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	sub, _ := fs.Sub(migrations, "migrations/sqlite")
	p, err := goose.NewProvider(goose.DialectSQLite3, db.DB, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 16); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO subjects (id, created_at) VALUES ('s1', '2026-01-01 00:00:00')`,
		`INSERT INTO requests (id, subject_id, type, regulation, status, received_at, due_at, workflow_id, created_at, updated_at, requested_by)
		 VALUES ('R-1', 's1', 'erasure', 'gdpr', 'completed', '2026-01-01 00:00:00', '2026-02-01 23:59:59', 'dsr-R-1', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'cli:test')`,
		`INSERT INTO signoffs (request_id, department, decision, legal_basis, actor, decided_at) VALUES ('R-1', 'Sales', 'approve', '', 'x', '2026-01-02 00:00:00')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM requests r JOIN signoffs o ON o.request_id = r.id WHERE r.requested_by = 'cli:test'`); err != nil || n != 1 {
		t.Fatalf("rows after the rebuild: %d, %v", n, err)
	}
	var broken []string
	if err := s.db.SelectContext(ctx, &broken, `SELECT "table" FROM pragma_foreign_key_check`); err != nil || len(broken) > 0 {
		t.Fatalf("foreign keys: %v, %v", broken, err)
	}
	insert := func(id, typ string) error {
		_, err := s.db.ExecContext(ctx, `INSERT INTO requests (id, subject_id, type, regulation, status, received_at, due_at, workflow_id, created_at, updated_at)
		 VALUES (?, 's1', ?, 'ccpa', 'received', '2026-01-01 00:00:00', '2026-01-22 23:59:59', ?, '2026-01-01 00:00:00', '2026-01-01 00:00:00')`, id, typ, "dsr-"+id)
		return err
	}
	if err := insert("R-2", "opt_out"); err != nil {
		t.Fatalf("an opt-out is refused: %v", err)
	}
	if err := insert("R-3", "sell_everything"); err == nil || !strings.Contains(err.Error(), "CHECK") {
		t.Fatalf("an unknown type: %v", err)
	}
	// The foreign key to subjects still holds on the rebuilt table.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO requests (id, subject_id, type, regulation, status, received_at, due_at, workflow_id, created_at, updated_at)
		 VALUES ('R-4', 'nobody', 'access', 'gdpr', 'received', '2026-01-01 00:00:00', '2026-02-01 23:59:59', 'dsr-R-4', '2026-01-01 00:00:00', '2026-01-01 00:00:00')`); err == nil {
		t.Fatal("a request of no subject was stored")
	}
}
