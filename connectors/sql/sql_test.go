package sql_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/connectors"
	dsrsql "github.com/dsrengine/dsr/connectors/sql"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
)

// backend is a real database with a fresh schema for one test.
type backend struct {
	driver, dsn string
}

// backends runs a test on SQLite, PostgreSQL and MariaDB.
func backends(t *testing.T, test func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, backend{"sqlite", "file:" + filepath.Join(t.TempDir(), "acme.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		test(t, backend{"postgres", testenv.PostgresSchema(t)})
	})
	t.Run("mariadb", func(t *testing.T) {
		t.Parallel()
		test(t, backend{"mysql", testenv.MySQLDatabase(t)})
	})
}

const schema = `
CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(200), phone VARCHAR(32), customer_no VARCHAR(64), name VARCHAR(200), newsletter BOOLEAN NOT NULL DEFAULT FALSE);
CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer_no VARCHAR(100), billing_name VARCHAR(200), amount_cents INTEGER NOT NULL);
CREATE TABLE audit_events (id INTEGER PRIMARY KEY, email VARCHAR(200), what VARCHAR(200));
CREATE TABLE page_views (id INTEGER PRIMARY KEY, email VARCHAR(200), page VARCHAR(200));
CREATE TABLE addresses (id INTEGER PRIMARY KEY, customer_id INTEGER, city VARCHAR(100));
CREATE TABLE deliveries (id INTEGER PRIMARY KEY, address_id INTEGER, courier VARCHAR(100));
`

// Jane is the subject. The others are people who must never be touched,
// including ones whose values look like SQL, wildcards or Jane look-alikes.
var seed = []string{
	`INSERT INTO customers VALUES (1, 'jane@example.com', '+442079460958', 'C-1', 'Jane Doe', FALSE)`,
	`INSERT INTO customers VALUES (2, 'bob@example.com', '+442079460000', 'C-2', 'Bob', TRUE)`,
	`INSERT INTO customers VALUES (3, 'jane@example.com'' OR ''1''=''1', NULL, 'C-3', 'Quote', FALSE)`,
	`INSERT INTO customers VALUES (4, '%@example.com', NULL, 'C-4', 'Percent', FALSE)`,
	`INSERT INTO customers VALUES (5, 'jane@exаmple.com', NULL, 'C-5', 'Cyrillic look-alike', FALSE)`,
	`INSERT INTO invoices VALUES (10, 'C-1', 'Jane Doe', 1999)`,
	`INSERT INTO invoices VALUES (11, 'C-1', 'Jane Doe', 2999)`,
	`INSERT INTO invoices VALUES (12, 'C-2', 'Bob', 500)`,
	`INSERT INTO audit_events VALUES (20, 'jane@example.com', 'login')`,
	`INSERT INTO audit_events VALUES (21, 'bob@example.com', 'login')`,
	`INSERT INTO addresses VALUES (30, 1, 'London'), (31, 1, 'Brighton'), (32, 2, 'Leeds')`,
	`INSERT INTO deliveries VALUES (40, 30, 'FastCo'), (41, 31, 'SlowCo'), (42, 32, 'FastCo')`,
}

func tables() []dsrsql.Table {
	return []dsrsql.Table{
		{Name: "customers", Key: []string{"id"}, Erase: "delete",
			Identity: map[domain.IdentityKind][]string{domain.Email: {"email"}, domain.Phone: {"phone"}, domain.CustomerID: {"customer_no"}},
			Consent:  map[string]string{"newsletter": "newsletter"},
			// The CRM assigns customer numbers; the phone is typed by the user.
			Links: []domain.IdentityKind{domain.CustomerID}},
		{Name: "invoices", Key: []string{"id"}, Erase: "update", Fields: []dsrsql.Field{{Column: "customer_no", Strategy: "set", Value: "***"}, {Column: "billing_name", Strategy: "set", Value: "***"}},
			LegalHold: "tax law keeps invoices for 10 years", Identity: map[domain.IdentityKind][]string{domain.CustomerID: {"customer_no"}}},
		{Name: "audit_events", Key: []string{"id"}, Erase: "keep", LegalHold: "security log kept 1 year",
			Identity: map[domain.IdentityKind][]string{domain.Email: {"email"}}},
		// customer → addresses → deliveries, reached by references only.
		{Name: "addresses", Key: []string{"id"}, Erase: "delete", Via: []dsrsql.Edge{{Child: "addresses", ChildColumn: "customer_id", Parent: "customers", ParentColumn: "id"}}},
		{Name: "deliveries", Key: []string{"id"}, Erase: "delete", Via: []dsrsql.Edge{{Child: "deliveries", ChildColumn: "address_id", Parent: "addresses", ParentColumn: "id"}}},
	}
}

func setup(t *testing.T, b backend, extra ...string) (*dsrsql.Connector, *sqlx.DB) {
	t.Helper()
	db, err := sqlx.Open(b.driver, b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, stmt := range append(strings.Split(strings.TrimSpace(schema), "\n"), append(seed, extra...)...) {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	c, err := dsrsql.Open(context.Background(), b.driver, b.dsn, tables())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, db
}

func jane(t *testing.T) []domain.Identity {
	var ids []domain.Identity
	for kind, v := range map[domain.IdentityKind]string{domain.Email: "jane@example.com", domain.CustomerID: "C-1"} {
		id, err := domain.NewIdentity(kind, v)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func counts(r connectors.Result) string {
	var parts []string
	for _, rec := range r.Records {
		parts = append(parts, fmt.Sprintf("%s:%s:%d", rec.Location, rec.Action, rec.Count))
	}
	return strings.Join(parts, " ")
}

func rowCount(t *testing.T, db *sqlx.DB, q string) int {
	var n int
	if err := db.Get(&n, q); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDiscoverExportErase(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		c, db := setup(t, b)
		subject := jane(t)

		found, err := c.Discover(ctx, subject)
		if err != nil {
			t.Fatal(err)
		}
		if got := counts(found); got != "customers:found:1 invoices:found:2 audit_events:held:1 addresses:found:2 deliveries:found:2" {
			t.Fatalf("discover: %s", got)
		}
		if found.Erasable() != 7 || found.Total() != 8 {
			t.Fatalf("erasable %d total %d", found.Erasable(), found.Total())
		}

		var buf bytes.Buffer
		exp, err := c.Export(ctx, subject, &buf)
		if err != nil {
			t.Fatal(err)
		}
		var data map[string]struct {
			Categories map[string][]string `json:"categories"`
			Undeclared []string            `json:"undeclared_columns"`
			Rows       []map[string]any    `json:"rows"`
		}
		if err := json.Unmarshal(buf.Bytes(), &data); err != nil {
			t.Fatalf("export is not JSON: %v\n%s", err, buf.String())
		}
		if counts(exp) != "customers:exported:1 invoices:exported:2 audit_events:exported:1 addresses:exported:2 deliveries:exported:2" || data["customers"].Rows[0]["name"] != "Jane Doe" || len(data["invoices"].Rows) != 2 {
			t.Fatalf("export %s: %s", counts(exp), buf.String())
		}
		if strings.Contains(buf.String(), "Bob") || strings.Contains(buf.String(), "Quote") {
			t.Fatalf("export leaks other people's data: %s", buf.String())
		}

		dry, err := c.Erase(ctx, subject, connectors.EraseOptions{DryRun: true})
		if err != nil || counts(dry) != "invoices:would be overwritten:2 audit_events:kept:1 deliveries:would be deleted:2 addresses:would be deleted:2 customers:would be deleted:1" {
			t.Fatalf("dry run: %s, %v", counts(dry), err)
		}
		if rowCount(t, db, "SELECT COUNT(*) FROM customers") != 5 {
			t.Fatal("dry run changed data")
		}

		erased, err := c.Erase(ctx, subject, connectors.EraseOptions{})
		// Children first: deliveries, then addresses, then the customer.
		if err != nil || counts(erased) != "invoices:overwritten:2 audit_events:kept:1 deliveries:deleted:2 addresses:deleted:2 customers:deleted:1" {
			t.Fatalf("erase: %s, %v", counts(erased), err)
		}
		// Everyone else is untouched; invoice amounts stay for the tax hold.
		if rowCount(t, db, "SELECT COUNT(*) FROM customers") != 4 || rowCount(t, db, "SELECT COUNT(*) FROM invoices WHERE billing_name = '***' AND customer_no = '***'") != 2 ||
			rowCount(t, db, "SELECT SUM(amount_cents) FROM invoices") != 5498 || rowCount(t, db, "SELECT COUNT(*) FROM invoices WHERE billing_name = 'Bob'") != 1 ||
			rowCount(t, db, "SELECT COUNT(*) FROM addresses") != 1 || rowCount(t, db, "SELECT COUNT(*) FROM deliveries") != 1 {
			t.Fatal("erasure touched what it should not")
		}
		// Verification pass: only held data is left; erasing again is a no-op.
		again, err := c.Discover(ctx, subject)
		if err != nil || again.Erasable() != 0 || counts(again) != "customers:found:0 invoices:found:0 audit_events:held:1 addresses:found:0 deliveries:found:0" {
			t.Fatalf("verification: %s, %v", counts(again), err)
		}
		twice, err := c.Erase(ctx, subject, connectors.EraseOptions{})
		if err != nil || counts(twice) != "invoices:overwritten:0 audit_events:kept:1 deliveries:deleted:0 addresses:deleted:0 customers:deleted:0" {
			t.Fatalf("second erase: %s, %v", counts(twice), err)
		}
	})
}

// TestHostileIdentities: values that look like SQL, wildcards or Jane touch
// only the rows that hold exactly that value.
func TestHostileIdentities(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		c, db := setup(t, b)
		for _, tc := range []struct {
			value string
			want  int64
		}{
			{"jane@example.com' OR '1'='1", 1},
			{"%@example.com", 1},
			{"_ane@example.com", 0},
			{"jane@exаmple.com", 1}, // Cyrillic а: a different person
			{"nobody@example.com'; DROP TABLE customers; --", 0},
		} {
			id := []domain.Identity{{Kind: domain.Email, Value: tc.value}}
			res, err := c.Discover(ctx, id)
			if err != nil {
				t.Fatalf("%q: %v", tc.value, err)
			}
			if res.Records[0].Count != tc.want {
				t.Errorf("%q matched %d customers, want %d", tc.value, res.Records[0].Count, tc.want)
			}
			if _, err := c.Erase(ctx, id, connectors.EraseOptions{}); err != nil {
				t.Fatalf("%q: %v", tc.value, err)
			}
		}
		// Jane and Bob are still there; only the literal look-alike rows went.
		if rowCount(t, db, "SELECT COUNT(*) FROM customers WHERE id IN (1, 2)") != 2 || rowCount(t, db, "SELECT COUNT(*) FROM customers") != 2 {
			t.Fatalf("hostile values erased the wrong rows: %d left", rowCount(t, db, "SELECT COUNT(*) FROM customers"))
		}
	})
}

func TestBatchesAndHeartbeats(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		var extra []string
		for i := 100; i < 107; i++ {
			extra = append(extra, fmt.Sprintf(`INSERT INTO invoices VALUES (%d, 'C-1', 'Jane Doe', 100)`, i))
		}
		c, db := setup(t, b, extra...)
		c.BatchSize, c.BatchTarget = 2, 0
		var beats []string
		c.Heartbeat = func(_ context.Context, p string) { beats = append(beats, p) }
		res, err := c.Erase(context.Background(), jane(t), connectors.EraseOptions{})
		if err != nil || counts(res) != "invoices:overwritten:9 audit_events:kept:1 deliveries:deleted:2 addresses:deleted:2 customers:deleted:1" {
			t.Fatalf("erase: %s, %v", counts(res), err)
		}
		if len(beats) < 5 || rowCount(t, db, "SELECT COUNT(*) FROM invoices WHERE customer_no = 'C-1'") != 0 {
			t.Fatalf("heartbeats %v", beats)
		}
	})
}

func TestConsentAndBadMaps(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		c, db := setup(t, b)
		res, err := c.ApplyConsent(ctx, jane(t), "newsletter", true)
		if err != nil || counts(res) != "customers:consent granted:1" {
			t.Fatalf("consent: %s, %v", counts(res), err)
		}
		if rowCount(t, db, "SELECT COUNT(*) FROM customers WHERE newsletter = TRUE") != 2 {
			t.Fatal("consent not set")
		}
		if _, err := c.ApplyConsent(ctx, jane(t), "profiling", true); err == nil {
			t.Fatal("consent to a purpose no table records was accepted")
		}
		bad := tables()
		bad[1].Fields[1].Column = "billing_nam"
		_, err = dsrsql.Open(ctx, b.driver, b.dsn, bad)
		if !errors.Is(err, connectors.ErrBadConfig) || !strings.Contains(err.Error(), "table invoices has no column billing_nam") {
			t.Fatalf("unknown column: %v", err)
		}
		// A masked child that would still lead to the subject is refused at
		// erasure instead of looping.
		loop := tables()
		loop[3] = dsrsql.Table{Name: "addresses", Key: []string{"id"}, Erase: "update", Fields: []dsrsql.Field{{Column: "city", Strategy: "mask"}},
			Via: []dsrsql.Edge{{Child: "addresses", ChildColumn: "customer_id", Parent: "customers", ParentColumn: "id"}}}
		lc, err := dsrsql.Open(ctx, b.driver, b.dsn, loop)
		if err != nil {
			t.Fatal(err)
		}
		defer lc.Close()
		lc.BatchSize, lc.BatchTarget = 1, 0
		bob := []domain.Identity{{Kind: domain.Email, Value: "bob@example.com"}}
		if _, err := lc.Erase(ctx, bob, connectors.EraseOptions{}); !errors.Is(err, connectors.ErrBadConfig) || !strings.Contains(err.Error(), "still match the subject") {
			t.Fatalf("masking that keeps the link: %v", err)
		}
		bad = tables()
		bad[0].Name = "customer"
		if _, err := dsrsql.Open(ctx, b.driver, b.dsn, bad); !errors.Is(err, connectors.ErrBadConfig) || !strings.Contains(err.Error(), "table customer does not exist") {
			t.Fatalf("unknown table: %v", err)
		}
	})
}

// TestLinkedIdentities: the subject's row found by e-mail holds their
// customer number in a link column, and a phone in a column that is not
// one: only the customer number is proposed, with where it was found. The
// hostile look-alike rows do not count.
func TestLinkedIdentities(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		c, db := setup(t, b)
		// Jane typed Bob's phone number into her profile.
		if _, err := db.Exec(`UPDATE customers SET phone = '+442079460000' WHERE id = 1`); err != nil {
			t.Fatal(err)
		}
		email, _ := domain.NewIdentity(domain.Email, "jane@example.com")
		got, err := c.Linked(context.Background(), []domain.Identity{email})
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, l := range got {
			s = append(s, string(l.Identity.Kind)+"="+l.Identity.Value+" at "+l.Location)
		}
		if strings.Join(s, "; ") != "customer_id=C-1 at customers.customer_no" {
			t.Fatalf("linked identities: %v", s)
		}
		// With it, nothing new is found.
		if more, err := c.Linked(context.Background(), []domain.Identity{email, got[0].Identity}); err != nil || len(more) != 0 {
			t.Fatalf("second round: %v, %v", more, err)
		}
	})
}

// TestCompositeKeys: a table keyed by (order_no, line_no) is erased row by
// row on its whole key, so another customer's line with the same number
// is untouched and the count is exact; a declared key that the catalog
// does not know as unique is refused at start, naming the real keys.
func TestCompositeKeys(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		_, db := setup(t, b,
			`CREATE TABLE order_lines (order_no INTEGER NOT NULL, line_no INTEGER NOT NULL, customer_no VARCHAR(64), item VARCHAR(100), PRIMARY KEY (order_no, line_no))`,
			`INSERT INTO order_lines VALUES (100, 1, 'C-1', 'boots'), (100, 2, 'C-1', 'laces'), (200, 1, 'C-2', 'socks'), (300, 2, 'C-2', 'hat')`)
		lines := dsrsql.Table{Name: "order_lines", Key: []string{"order_no", "line_no"}, Erase: "update",
			Fields:   []dsrsql.Field{{Column: "customer_no", Strategy: "mask"}, {Column: "item", Strategy: "mask"}},
			Identity: map[domain.IdentityKind][]string{domain.CustomerID: {"customer_no"}}, LegalHold: "tax law"}
		ctx := context.Background()
		c, err := dsrsql.Open(ctx, b.driver, b.dsn, append(tables(), lines))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.BatchSize, c.BatchTarget = 1, 0 // one row per batch: every batch addresses its row by both columns
		res, err := c.Erase(ctx, jane(t), connectors.EraseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(counts(res), "order_lines:masked:2") {
			t.Fatalf("erasure: %s", counts(res))
		}
		if n := rowCount(t, db, `SELECT COUNT(*) FROM order_lines WHERE customer_no = 'C-2' AND item IN ('socks', 'hat')`); n != 2 {
			t.Fatalf("Bob's lines changed: %d left as they were", n)
		}
		if n := rowCount(t, db, `SELECT COUNT(*) FROM order_lines WHERE customer_no = 'C-1' OR item IN ('boots', 'laces')`); n != 0 {
			t.Fatalf("%d of Jane's lines still hers", n)
		}

		// line_no alone is not unique: refused, with the keys the table has.
		wrong := lines
		wrong.Key = []string{"line_no"}
		_, err = dsrsql.Open(ctx, b.driver, b.dsn, append(tables(), wrong))
		if !errors.Is(err, connectors.ErrBadConfig) || !strings.Contains(err.Error(), "primary_key (line_no) is neither its primary key nor a unique constraint") ||
			!strings.Contains(err.Error(), "line_no") || !strings.Contains(err.Error(), "order_no") {
			t.Fatalf("a key that is not unique: %v", err)
		}
	})
}

// TestRefusalsArePermanent: a statement the database refuses for good (a
// check constraint the erased value breaks) is ErrRefused, with the
// database's words and the table, and none of the subject's values. A
// strategy the catalog already shows to be impossible (null into a NOT
// NULL column) is refused at Open instead.
func TestRefusalsArePermanent(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		setup(t, b, `CREATE TABLE logins (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL, at_host VARCHAR(100), CONSTRAINT email_shape CHECK (email LIKE '%@%'))`,
			`INSERT INTO logins VALUES (1, 'jane@example.com', 'jane-laptop')`)
		logins := dsrsql.Table{Name: "logins", Key: []string{"id"}, Erase: "update",
			Fields:   []dsrsql.Field{{Column: "email", Strategy: "set", Value: "erased"}, {Column: "at_host", Strategy: "null"}},
			Identity: map[domain.IdentityKind][]string{domain.Email: {"email"}}, LegalHold: "security log"}
		ctx := context.Background()
		c, err := dsrsql.Open(ctx, b.driver, b.dsn, append(tables(), logins))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Erase(ctx, jane(t), connectors.EraseOptions{})
		if !errors.Is(err, connectors.ErrRefused) || !strings.Contains(err.Error(), "refused by the database: erase in logins") ||
			!strings.Contains(strings.ToLower(err.Error()), "email_shape") || strings.Contains(err.Error(), "jane") {
			t.Fatalf("a value the check constraint refuses: %v", err)
		}

		logins.Fields[0] = dsrsql.Field{Column: "email", Strategy: "null"}
		_, err = dsrsql.Open(ctx, b.driver, b.dsn, append(tables(), logins))
		if !errors.Is(err, connectors.ErrBadConfig) || !strings.Contains(err.Error(), "table logins: erasure sets email to null, but the column is NOT NULL") {
			t.Fatalf("null into a NOT NULL column: %v", err)
		}
	})
}

// TestRefusedAtStart: a map the schema's constraints cannot satisfy is
// refused at Open, naming the tables: deletes through a cycle of foreign
// keys, a mask written into a foreign key, a link to a table the map
// lacks.
func TestRefusedAtStart(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		cycle := []string{
			`CREATE TABLE teams (id INTEGER PRIMARY KEY, email VARCHAR(200), lead_id INTEGER)`,
			`CREATE TABLE members (id INTEGER PRIMARY KEY, team_id INTEGER REFERENCES teams (id), email VARCHAR(200))`,
		}
		if b.driver == "sqlite" {
			// SQLite cannot add a constraint later, and accepts one to a table not yet made.
			cycle = []string{
				`CREATE TABLE teams (id INTEGER PRIMARY KEY, email VARCHAR(200), lead_id INTEGER REFERENCES members (id))`,
				`CREATE TABLE members (id INTEGER PRIMARY KEY, team_id INTEGER REFERENCES teams (id), email VARCHAR(200))`,
			}
		} else {
			cycle = append(cycle, `ALTER TABLE teams ADD FOREIGN KEY (lead_id) REFERENCES members (id)`)
		}
		setup(t, b, cycle...)
		ctx := context.Background()
		email := map[domain.IdentityKind][]string{domain.Email: {"email"}}
		teams := dsrsql.Table{Name: "teams", Key: []string{"id"}, Erase: "delete", Identity: email}
		members := dsrsql.Table{Name: "members", Key: []string{"id"}, Erase: "delete", Identity: email}
		_, err := dsrsql.Open(ctx, b.driver, b.dsn, []dsrsql.Table{teams, members})
		if !errors.Is(err, connectors.ErrBadConfig) || !strings.Contains(err.Error(), "the foreign keys of tables teams, members reference each other") {
			t.Fatalf("a cycle of deletes: %v", err)
		}
		// Updating one side breaks the cycle: nulled, its key no longer binds.
		teams.Erase, teams.Fields, teams.LegalHold = "update", []dsrsql.Field{{Column: "email", Strategy: "null"}, {Column: "lead_id", Strategy: "null"}}, "x"
		c, err := dsrsql.Open(ctx, b.driver, b.dsn, []dsrsql.Table{teams, members})
		if err != nil {
			t.Fatalf("update breaks the cycle: %v", err)
		}
		c.Close()
		teams.Fields[1].Strategy = "mask"
		if _, err := dsrsql.Open(ctx, b.driver, b.dsn, []dsrsql.Table{teams, members}); !errors.Is(err, connectors.ErrBadConfig) ||
			!strings.Contains(err.Error(), "table teams: erasure writes a mask value into lead_id, a foreign key to members") {
			t.Fatalf("a mask in a foreign key: %v", err)
		}
		members.Via = []dsrsql.Edge{{Child: "members", ChildColumn: "team_id", Parent: "squads", ParentColumn: "id"}}
		if _, err := dsrsql.Open(ctx, b.driver, b.dsn, []dsrsql.Table{members}); !errors.Is(err, connectors.ErrBadConfig) ||
			!strings.Contains(err.Error(), "table members: link members.team_id -> squads.id must join it to a table the map declares") {
			t.Fatalf("a link to an undeclared table: %v", err)
		}
	})
}

// TestUnmappedReferenceKeepsTheRow: a table the map does not declare still
// points at the subject's row through a foreign key. The row is not
// deleted (the database would refuse, or cascade into rows nobody
// counted): it is kept, and discovery, erasure and the verification pass
// all say so.
func TestUnmappedReferenceKeepsTheRow(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		c, db := setup(t, b, `CREATE TABLE reviews (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id), stars INTEGER)`,
			`INSERT INTO reviews VALUES (1, 1, 5)`)
		ctx := context.Background()
		found, err := c.Discover(ctx, jane(t))
		if err != nil || !strings.Contains(counts(found), "customers:found:0 customers:shared:1") {
			t.Fatalf("discovery: %s, %v", counts(found), err)
		}
		res, err := c.Erase(ctx, jane(t), connectors.EraseOptions{})
		if err != nil || !strings.Contains(counts(res), "customers:deleted:0 customers:kept:1") {
			t.Fatalf("erasure: %s, %v", counts(res), err)
		}
		if rowCount(t, db, "SELECT COUNT(*) FROM customers WHERE id = 1") != 1 || rowCount(t, db, "SELECT COUNT(*) FROM reviews") != 1 {
			t.Fatal("the referenced row or its reference went")
		}
		if left, err := c.Discover(ctx, jane(t)); err != nil || left.Erasable() != 0 {
			t.Fatalf("verification: %s, %v", counts(left), err)
		}
	})
}

// TestKeptChildKeepsItsParent: the subject's order is kept under a legal
// hold and points at her customer row through a foreign key, so the
// customer row cannot be deleted: it is kept, and the evidence says why.
func TestKeptChildKeepsItsParent(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		_, db := setup(t, b, `CREATE TABLE contracts (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id), signed VARCHAR(20))`,
			`INSERT INTO contracts VALUES (1, 1, '2026-01-01'), (2, 2, '2026-02-01')`)
		contracts := dsrsql.Table{Name: "contracts", Key: []string{"id"}, Erase: "keep", LegalHold: "contract law",
			Via: []dsrsql.Edge{{Child: "contracts", ChildColumn: "customer_id", Parent: "customers", ParentColumn: "id"}}}
		ctx := context.Background()
		c, err := dsrsql.Open(ctx, b.driver, b.dsn, append(tables(), contracts))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		found, err := c.Discover(ctx, jane(t))
		if err != nil || !strings.Contains(counts(found), "customers:found:0 customers:shared:1") || !strings.Contains(counts(found), "contracts:held:1") {
			t.Fatalf("discovery: %s, %v", counts(found), err)
		}
		res, err := c.Erase(ctx, jane(t), connectors.EraseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var reason string
		for _, r := range res.Records {
			if r.Location == "customers" && r.Action == "kept" {
				reason = fmt.Sprintf("%d %s", r.Count, r.Reason)
			}
		}
		if reason != "1 still referenced by the subject's rows that are kept" || rowCount(t, db, "SELECT COUNT(*) FROM contracts") != 2 {
			t.Fatalf("erasure: %s (%q)", counts(res), reason)
		}
	})
}

// TestMissingIndexesAreNamed: a column that finds the subject's rows or
// follows a reference, with no index leading with it, is named at Open;
// an indexed one, or a key, is not.
func TestMissingIndexesAreNamed(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		c, _ := setup(t, b, `CREATE INDEX customers_email ON customers (email)`, `CREATE INDEX deliveries_address ON deliveries (address_id, courier)`)
		got := strings.Join(c.Warnings(), "\n")
		for _, want := range []string{
			"table customers: no index leads with phone, which finds the subject's rows by phone",
			"table invoices: no index leads with customer_no",
			"table addresses: no index leads with customer_id, which points at customers",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("warnings lack %q:\n%s", want, got)
			}
		}
		for _, unwanted := range []string{"leads with email", "leads with address_id", "leads with id,"} {
			if strings.Contains(got, "customers: no index "+unwanted) || strings.Contains(got, "deliveries: no index "+unwanted) {
				t.Errorf("warning for an indexed column (%s):\n%s", unwanted, got)
			}
		}
	})
}

// TestChildAddedMidErasureGoesFirst: a row of the subject's that points
// at her customer row through a foreign key, written after its table was
// erased, is found when the customer row will not go, erased first, and
// counted; Bob's row in the same table is untouched.
func TestChildAddedMidErasureGoesFirst(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		_, db := setup(t, b, `CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id), item VARCHAR(20))`,
			`INSERT INTO orders VALUES (1, 1, 'book'), (2, 2, 'pen')`)
		orders := dsrsql.Table{Name: "orders", Key: []string{"id"}, Erase: "delete",
			Via: []dsrsql.Edge{{Child: "orders", ChildColumn: "customer_id", Parent: "customers", ParentColumn: "id"}}}
		ctx := context.Background()
		c, err := dsrsql.Open(ctx, b.driver, b.dsn, append(tables(), orders))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		late := false
		c.Heartbeat = func(_ context.Context, progress string) {
			if strings.HasPrefix(progress, "orders:") && !late {
				late = true
				if _, err := db.Exec(`INSERT INTO orders VALUES (3, 1, 'late')`); err != nil {
					t.Error(err)
				}
			}
		}
		res, err := c.Erase(ctx, jane(t), connectors.EraseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !late || !strings.Contains(counts(res), "orders:deleted:2") || !strings.Contains(counts(res), "customers:deleted:1") {
			t.Fatalf("erasure: %s (late row written: %v)", counts(res), late)
		}
		if n := rowCount(t, db, "SELECT COUNT(*) FROM orders WHERE id = 2"); n != 1 || rowCount(t, db, "SELECT COUNT(*) FROM orders") != 1 {
			t.Fatalf("orders left: %d of Bob's, %d in all", n, rowCount(t, db, "SELECT COUNT(*) FROM orders"))
		}
	})
}
