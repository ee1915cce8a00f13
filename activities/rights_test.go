package activities_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	dsrsql "github.com/dsrengine/dsr/connectors/sql"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/store"
)

func counted(r connectors.Result) string {
	var parts []string
	for _, rec := range r.Records {
		parts = append(parts, fmt.Sprintf("%s %s %d", rec.Location, rec.Action, rec.Count))
	}
	return strings.Join(parts, ", ")
}

// TestCorrectionCountsAcrossARetry: a worker dies after the database
// committed a correction and before the activity reported it. The retry
// finds nothing left to write, and still reports what was corrected, for
// the e-mail address the rows are found by too; the check finds nothing
// differing, looking the subject up by the new address as well.
func TestCorrectionCountsAcrossARetry(t *testing.T) {
	ctx := context.Background()
	db, dsn := testenv.PostgresWith(t,
		`CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, name TEXT)`,
		`INSERT INTO customers VALUES (1, 'jane@example.com', 'Jane Doe'), (2, 'jane@example.com', 'J. Doe'), (3, 'bob@example.com', 'Bob')`,
	)
	c, err := dsrsql.Open(ctx, "postgres", dsn, []dsrsql.Table{{Name: "customers", Key: []string{"id"}, Erase: "delete",
		Identity: map[domain.IdentityKind][]string{domain.Email: {"email"}}, Correct: map[string]string{"email": "email", "name": "name"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &activities.Activities{Store: st, Systems: []activities.System{{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: c}}}
	jane, _ := domain.NewIdentity(domain.Email, "jane@example.com")
	in := activities.CorrectAllInput{RequestID: "FIX-CUT", System: "crm", Identities: []domain.Identity{jane},
		// Given e-mail first: it is written last all the same.
		Corrections: []domain.Correction{{Field: "email", Value: "jane.smith@example.com"}, {Field: "name", Value: "Jane Smith"}}}

	first, err := a.CorrectAll(ctx, in)
	if err != nil || counted(first) != "customers.name corrected 2, customers.email corrected 2" {
		t.Fatalf("first attempt: %s, %v", counted(first), err)
	}
	// The retry of a worker that died before reporting.
	again, err := a.CorrectAll(ctx, in)
	if err != nil || counted(again) != counted(first) {
		t.Fatalf("the retry reports %s, want %s (%v)", counted(again), counted(first), err)
	}
	in.DryRun = true
	check, err := a.CorrectAll(ctx, in)
	if err != nil || check.Total() != 0 || counted(check) != "customers.name differs 0, customers.email differs 0" {
		t.Fatalf("the check: %s, %v", counted(check), err)
	}
	var bob string
	if err := db.GetContext(ctx, &bob, `SELECT email || '/' || name FROM customers WHERE id = 3`); err != nil || bob != "bob@example.com/Bob" {
		t.Fatalf("Bob: %q, %v", bob, err)
	}
}
