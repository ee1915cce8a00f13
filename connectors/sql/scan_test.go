package sql_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	dsrsql "github.com/dsrengine/dsr/connectors/sql"
	"github.com/dsrengine/dsr/domain"
)

// TestScan: the catalog against the map. An unmapped phone column is found
// by its name, an unmapped column of e-mail addresses by its values (and
// none of them is printed), an unmapped table by its columns, and what the
// map names but the schema lacks is listed; a column of ids that merely
// look numeric is not a finding.
func TestScan(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		_, _ = setup(t, b,
			`CREATE TABLE contacts (id INTEGER PRIMARY KEY, email VARCHAR(200), phone VARCHAR(40), contact VARCHAR(200), ref_no VARCHAR(40), note VARCHAR(200))`,
			`INSERT INTO contacts VALUES (1, 'jane@example.com', '+44 20 7946 0958', 'jane.private@example.org', '10002233', 'called back')`,
			`INSERT INTO contacts VALUES (2, 'bob@example.com', NULL, 'bob.home@example.net', '10002234', 'prefers mornings')`,
			`INSERT INTO contacts VALUES (3, 'kim@example.com', NULL, 'not known', '10002235', 'IBAN GB82WEST12345698765432 on file')`,
			`CREATE TABLE leads (id INTEGER PRIMARY KEY, payload VARCHAR(200))`,
			`INSERT INTO leads VALUES (1, 'GB82 WEST 1234 5698 7654 32')`)
		tables := []dsrsql.Table{
			{Name: "contacts", Key: []string{"id"}, Erase: "delete", Identity: map[domain.IdentityKind][]string{domain.Email: {"email"}},
				Categories: map[string][]string{"note": {"free-text"}, "fax": {"contact"}}},
			{Name: "prospects", Key: []string{"id"}, Erase: "delete", Identity: map[domain.IdentityKind][]string{domain.Email: {"email"}}},
		}
		found, err := dsrsql.Scan(context.Background(), b.driver, b.dsn, tables)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range found {
			if strings.Contains(f.Reason, "@") || strings.Contains(f.Reason, "GB82") || strings.Contains(f.Reason, "7946") {
				t.Errorf("a finding prints a value: %+v", f)
			}
			// The demo tables of setup are unmapped here: only these count.
			if f.Table == "contacts" || f.Table == "leads" || f.Table == "prospects" {
				got = append(got, fmt.Sprintf("%s.%s %s: %s", f.Table, f.Column, f.Kind, f.Reason))
			}
		}
		want := []string{
			"contacts.fax missing_column: the map uses it; the table has no such column",
			"contacts.contact unmapped_column: 2 of 3 sampled values look like e-mail addresses",
			"contacts.phone unmapped_column: its name suggests personal data",
			"prospects. missing_table: the map declares it; the database has no such table",
			"leads.payload unmapped_table: 1 of 1 sampled values look like IBANs; the map does not declare the table",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
