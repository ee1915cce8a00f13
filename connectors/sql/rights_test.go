package sql_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dsrengine/dsr/connectors"
	dsrsql "github.com/dsrengine/dsr/connectors/sql"
	"github.com/dsrengine/dsr/domain"
)

// A rectification writes only the subject's own rows, counts each change
// once across a retry, and stores a hostile value as text; a restriction
// sets and lifts the flag on the subject's rows and nobody else's.
func TestCorrectAndRestrict(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		_, db := setup(t, b, "ALTER TABLE customers ADD COLUMN restricted BOOLEAN NOT NULL DEFAULT FALSE")
		tabs := tables()
		tabs[0].Correct = map[string]string{"name": "name", "email": "email"}
		tabs[0].Restriction = map[string]string{"all": "restricted"}
		c, err := dsrsql.Open(ctx, b.driver, b.dsn, tabs)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := c.Correctable(); len(got) != 2 || got[0] != "email" || got[1] != "name" {
			t.Fatalf("correctable: %v", got)
		}

		dry, err := c.Correct(ctx, jane(t), "name", "Jane Smith", connectors.EraseOptions{DryRun: true})
		if err != nil || counts(dry) != "customers:differs:1" {
			t.Fatalf("dry run: %s, %v", counts(dry), err)
		}
		res, err := c.Correct(ctx, jane(t), "name", "Jane Smith", connectors.EraseOptions{})
		if err != nil || counts(res) != "customers:corrected:1" {
			t.Fatalf("correct: %s, %v", counts(res), err)
		}
		again, err := c.Correct(ctx, jane(t), "name", "Jane Smith", connectors.EraseOptions{})
		if err != nil || counts(again) != "customers:corrected:0" {
			t.Fatalf("a retry wrote again: %s, %v", counts(again), err)
		}
		if rowCount(t, db, "SELECT COUNT(*) FROM customers WHERE name = 'Jane Smith'") != 1 ||
			rowCount(t, db, "SELECT COUNT(*) FROM customers WHERE name IN ('Bob', 'Quote', 'Percent', 'Cyrillic look-alike')") != 4 {
			t.Fatal("the correction reached someone else's row")
		}

		hostile := "x'); DROP TABLE customers; --"
		if _, err := c.Correct(ctx, jane(t), "name", hostile, connectors.EraseOptions{}); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := db.Get(&stored, db.Rebind("SELECT name FROM customers WHERE id = 1")); err != nil || stored != hostile {
			t.Fatalf("hostile value stored as %q, %v", stored, err)
		}

		// The address a row is found by: afterwards the row is still found
		// by the customer number, and holds the new address.
		newMail, _ := domain.NewIdentity(domain.Email, "jane.smith@example.com")
		if res, err := c.Correct(ctx, jane(t), "email", newMail.Value, connectors.EraseOptions{}); err != nil || counts(res) != "customers:corrected:1" {
			t.Fatalf("correct email: %s, %v", counts(res), err)
		}
		if dry, err := c.Correct(ctx, jane(t), "email", newMail.Value, connectors.EraseOptions{DryRun: true}); err != nil || counts(dry) != "customers:differs:0" {
			t.Fatalf("verification: %s, %v", counts(dry), err)
		}
		if _, err := c.Correct(ctx, jane(t), "phone", "+1", connectors.EraseOptions{}); !errors.Is(err, connectors.ErrBadConfig) {
			t.Fatalf("a field no table declares: %v", err)
		}

		on, err := c.Restrict(ctx, jane(t), []string{"newsletter"}, true)
		if err != nil || counts(on) != "customers:restricted:1" {
			t.Fatalf("restrict: %s, %v", counts(on), err)
		}
		if rowCount(t, db, "SELECT COUNT(*) FROM customers WHERE restricted = TRUE") != 1 || rowCount(t, db, "SELECT COUNT(*) FROM customers WHERE id = 1 AND restricted = TRUE") != 1 {
			t.Fatal("the restriction is not on Jane's row alone")
		}
		if again, err := c.Restrict(ctx, jane(t), []string{"newsletter"}, true); err != nil || counts(again) != "customers:restricted:1" {
			t.Fatalf("restrict again: %s, %v", counts(again), err)
		}
		// Lifting one purpose never clears the flag of every purpose,
		// which another restriction may still need.
		if _, err := c.Restrict(ctx, jane(t), []string{"newsletter"}, false); !errors.Is(err, connectors.ErrBadConfig) ||
			rowCount(t, db, "SELECT COUNT(*) FROM customers WHERE restricted = TRUE") != 1 {
			t.Fatalf("a lift of one purpose: %v", err)
		}
		off, err := c.Restrict(ctx, jane(t), []string{domain.AllPurposes}, false)
		if err != nil || counts(off) != "customers:restriction lifted:1" || rowCount(t, db, "SELECT COUNT(*) FROM customers WHERE restricted = TRUE") != 0 {
			t.Fatalf("lift: %s, %v", counts(off), err)
		}
	})
}
