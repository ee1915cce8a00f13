package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/requests"
)

// shopSchema is an e-commerce schema nobody mapped for us, with its
// foreign keys. EXT is a second schema (a database, on MariaDB) and MAIN
// the connection's own.
var shopSchema = []string{
	`CREATE TABLE addresses (id INT PRIMARY KEY, street VARCHAR(200) NOT NULL, city VARCHAR(100), added_by INT)`,
	`CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(200), alt_email VARCHAR(200), name VARCHAR(200), loyalty_no VARCHAR(20), address_id INT,
		FOREIGN KEY (address_id) REFERENCES addresses (id))`,
	`CREATE TABLE cards (id INT PRIMARY KEY, customer_id INT NOT NULL, last4 VARCHAR(4), billing_address_id INT,
		FOREIGN KEY (customer_id) REFERENCES customers (id), FOREIGN KEY (billing_address_id) REFERENCES addresses (id))`,
	`CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, shipping_address_id INT, shipping_name VARCHAR(200), total_cents INT NOT NULL,
		FOREIGN KEY (customer_id) REFERENCES customers (id), FOREIGN KEY (shipping_address_id) REFERENCES addresses (id))`,
	`CREATE TABLE order_items (order_id INT NOT NULL, line_no INT NOT NULL, product VARCHAR(100), PRIMARY KEY (order_id, line_no),
		FOREIGN KEY (order_id) REFERENCES orders (id))`,
	`CREATE TABLE logins (id INT PRIMARY KEY, email VARCHAR(200) NOT NULL, ip VARCHAR(45))`,
	`CREATE TABLE EXT.visits (id INT PRIMARY KEY, customer_id INT, page VARCHAR(100), FOREIGN KEY (customer_id) REFERENCES MAIN.customers (id))`,
	`CREATE TABLE members (member_no VARCHAR(20) PRIMARY KEY, points INT NOT NULL)`,

	// Jane (customer 1) is the subject; Bob (2) and Carol (3) must never change.
	// 10 is Jane's home; 11 only the shipping address of her order 100; 12
	// is Bob's home and the billing address of one of Jane's cards; 13 Jane
	// entered (added_by), and Bob ships his order there; 14 is Carol's.
	`INSERT INTO addresses VALUES (10, '1 Jane St', 'London', 1), (11, '2 Gift Rd', 'Leeds', NULL), (12, '3 Bob Ave', 'York', NULL), (13, '4 Shared Ln', 'Bath', 1), (14, '5 Carol Ct', 'Hull', 3)`,
	`INSERT INTO customers VALUES (1, 'jane@example.com', 'jane.alt@example.com', 'Jane Doe', 'L00000001', 10), (2, 'bob@example.com', NULL, 'Bob', 'L00000002', 12),
		(3, 'carol@example.com', 'jane.alt@example.org', 'Carol', NULL, 14)`,
	`INSERT INTO cards VALUES (200, 1, '4242', 10), (201, 1, '1111', 12), (202, 2, '5555', 12)`,
	`INSERT INTO orders VALUES (100, 1, 11, 'Jane Doe', 1999), (101, 1, 10, 'Jane Doe', 2999), (102, 2, 13, 'Bob', 500), (103, 3, 14, 'Carol', 700)`,
	`INSERT INTO order_items VALUES (100, 1, 'boots'), (100, 2, 'laces'), (101, 1, 'hat'), (102, 1, 'socks'), (103, 1, 'scarf')`,
	`INSERT INTO logins VALUES (300, 'jane.alt@example.com', '10.1.2.3'), (301, 'bob@example.com', '10.9.9.9')`,
	`INSERT INTO EXT.visits VALUES (400, 1, '/boots'), (401, 2, '/socks')`,
	`INSERT INTO members VALUES ('L00000001', 120), ('L00000002', 80)`,
}

const shopMap = `
departments:
  - {name: Sales, approvers: [sales.lead@acme.example]}
identity_kinds:
  - {name: loyalty_id, pattern: 'L[0-9]{8}', uppercase: true, description: loyalty card number}
systems:
  - name: shop
    department: Sales
    connector: sql
    sql: {driver: DRIVER, dsn_env: T_SHOP_DSN}
    purposes: [orders]
    legal_basis: contract
    retention: 6 years
    tables:
      - name: customers
        primary_key: id
        identity: {email: [email, alt_email], loyalty_id: loyalty_no}
        links: [loyalty_id]
        fields: {name: [contact], email: [contact], alt_email: [contact]}
        erase: delete
      - name: addresses
        primary_key: id
        via:
          - addresses.added_by -> customers.id
          - customers.address_id -> addresses.id
          - orders.shipping_address_id -> addresses.id
          - cards.billing_address_id -> addresses.id
        fields: {street: [location], city: [location]}
        erase: delete
        shared: {added_by: null}
      - name: cards
        primary_key: id
        via: [cards.customer_id -> customers.id]
        fields: {last4: [financial]}
        erase: delete
      - name: orders
        primary_key: id
        via: [orders.customer_id -> customers.id]
        fields: {shipping_name: [contact], total_cents: [financial]}
        erase: update
        erase_fields: {customer_id: null, shipping_address_id: null, shipping_name: mask}
        legal_hold: commercial law keeps orders 6 years
      - name: order_items
        primary_key: [order_id, line_no]
        via: [order_items.order_id -> orders.id]
        fields: {product: [purchase]}
        erase: keep
        legal_hold: commercial law keeps orders 6 years
      - name: logins
        primary_key: id
        identity: {email: email}
        erase: update
        erase_fields: {email: hmac, ip: mask}
        legal_hold: security log kept 1 year
      - name: EXT.visits
        primary_key: id
        via: [EXT.visits.customer_id -> customers.id]
        erase: delete
  - name: loyalty
    department: Sales
    connector: sql
    sql: {driver: DRIVER, dsn_env: T_SHOP_DSN}
    purposes: [loyalty]
    legal_basis: consent
    retention: while a member
    tables:
      - name: members
        primary_key: member_no
        identity: {loyalty_id: member_no}
        fields: {points: [behaviour]}
        erase: delete
`

// openMap loads a data map, declares its identity kinds and connects its
// systems, all to the database at dsn; they are closed when the test ends.
func openMap(t *testing.T, name, yaml, dsn string) (*config.File, []activities.System) {
	t.Helper()
	m, err := config.Parse(name, []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := m.CustomKinds()
	if err != nil {
		t.Fatal(err)
	}
	if err := domain.DeclareKinds(kinds); err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(testenv.TestKey)
	if err != nil {
		t.Fatal(err)
	}
	systems, closeSystems, err := engine.OpenSystems(context.Background(), m, func(string) string { return dsn }, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeSystems)
	return m, systems
}

// shopKeys is each table's key, for the snapshots.
var shopKeys = map[string]string{"addresses": "id", "customers": "id", "cards": "id", "orders": "id", "order_items": "order_id, line_no",
	"logins": "id", "EXT.visits": "id", "members": "member_no"}

// TestDataMapOnARealSchema: on PostgreSQL and MariaDB, with the schema's
// foreign keys in place, a map with links in both directions (several
// into one table), a composite key, a shared parent row, two e-mail
// columns, a schema-qualified table and a custom identity kind linked
// across systems. Access finds exactly the subject's rows; erasure
// changes exactly those, leaves every other row byte-identical, breaks
// no constraint and counts exactly; a second run changes nothing.
func TestDataMapOnARealSchema(t *testing.T) {
	for _, db := range []struct{ driver, dsn string }{{"postgres", testenv.PostgresSchema(t)}, {"mysql", testenv.MySQLDatabase(t)}} {
		t.Run(db.driver, func(t *testing.T) {
			ctx := context.Background()
			conn := exec(t, db.driver, db.dsn)
			var main string
			if err := conn.Get(&main, map[string]string{"postgres": `SELECT current_schema()`, "mysql": `SELECT DATABASE()`}[db.driver]); err != nil {
				t.Fatal(err)
			}
			ext := main + "_ext"
			create := map[string]string{"postgres": "CREATE SCHEMA ", "mysql": "CREATE DATABASE "}[db.driver]
			drop := map[string]string{"postgres": "DROP SCHEMA %s CASCADE", "mysql": "DROP DATABASE %s"}[db.driver]
			if _, err := conn.Exec(create + ext); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Exec(fmt.Sprintf(drop, ext)) })
			for _, stmt := range shopSchema {
				stmt = strings.ReplaceAll(strings.ReplaceAll(stmt, "EXT.", ext+"."), "MAIN.", main+".")
				if _, err := conn.Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			yaml := strings.ReplaceAll(strings.ReplaceAll(shopMap, "DRIVER", db.driver), "EXT.", ext+".")
			_, systems := openMap(t, "shop.yaml", yaml, db.dsn)
			shop, loyalty := systems[0].Connector, systems[1].Connector
			tables := func() map[string]map[string]string {
				out := map[string]map[string]string{}
				for name, key := range shopKeys {
					out[name] = snapshot(t, conn, strings.ReplaceAll(name, "EXT.", ext+"."), key)
				}
				return out
			}

			// The request gives the alternative address only.
			alt, _ := domain.NewIdentity(domain.Email, "jane.alt@example.com")
			subject := []domain.Identity{alt}

			// Access: exactly Jane's rows, as SQL written here finds them.
			var buf bytes.Buffer
			if _, err := shop.Export(ctx, subject, &buf); err != nil {
				t.Fatal(err)
			}
			var export map[string]struct {
				Categories map[string][]string `json:"categories"`
				Undeclared []string            `json:"undeclared_columns"`
				Rows       []map[string]any    `json:"rows"`
			}
			if err := json.Unmarshal(buf.Bytes(), &export); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			independent := map[string]string{
				"customers": `SELECT id FROM customers WHERE email = 'jane.alt@example.com' OR alt_email = 'jane.alt@example.com'`,
				"addresses": `SELECT a.id FROM addresses a WHERE a.added_by = 1
					OR EXISTS (SELECT 1 FROM customers c WHERE c.address_id = a.id AND c.id = 1)
					OR EXISTS (SELECT 1 FROM orders o WHERE o.shipping_address_id = a.id AND o.customer_id = 1)
					OR EXISTS (SELECT 1 FROM cards k WHERE k.billing_address_id = a.id AND k.customer_id = 1)`,
				"cards":       `SELECT id FROM cards WHERE customer_id = 1`,
				"orders":      `SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.alt_email = 'jane.alt@example.com'`,
				"order_items": `SELECT i.order_id, i.line_no FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.customer_id = 1`,
				"logins":      `SELECT id FROM logins WHERE email = 'jane.alt@example.com'`,
				"EXT.visits":  `SELECT id FROM EXT.visits WHERE customer_id = 1`,
			}
			want := map[string]string{"customers": "1", "addresses": "10 11 12 13", "cards": "200 201", "orders": "100 101",
				"order_items": "100/1 100/2 101/1", "logins": "300", "EXT.visits": "400"}
			for name, q := range independent {
				got := exportedKeys(export[strings.ReplaceAll(name, "EXT.", ext+".")].Rows, shopKeys[name])
				if sql := keysOf(t, conn, strings.ReplaceAll(q, "EXT.", ext+".")); got != want[name] || sql != want[name] {
					t.Errorf("%s: exported %q, SQL finds %q, want %q", name, got, sql, want[name])
				}
			}
			if c := export["customers"]; !slices.Equal(c.Categories["alt_email"], []string{"contact"}) || !slices.Equal(c.Undeclared, []string{"address_id"}) {
				t.Errorf("customers: categories %v, undeclared %v", c.Categories, c.Undeclared)
			}
			if v := export[ext+".visits"]; !slices.Equal(v.Undeclared, []string{"page"}) {
				t.Errorf("visits: undeclared %v: a column the map does not classify must be flagged, and exported", v.Undeclared)
			}

			// Discovery says which of her rows erasure will keep because
			// Bob's rows point at them.
			found, err := shop.Discover(ctx, subject)
			if err != nil {
				t.Fatal(err)
			}
			if got := evidence(found); !strings.Contains(got, "addresses found 2; addresses shared 2") || found.Erasable() != 9 {
				t.Fatalf("discovery: %s (erasable %d)", got, found.Erasable())
			}

			// Erasure.
			before := tables()
			erased, err := shop.Erase(ctx, subject, connectors.EraseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantRecords := "cards deleted 2; order_items kept 3 (commercial law keeps orders 6 years); orders updated 2; logins updated 1; " +
				ext + ".visits deleted 1; customers deleted 1; addresses deleted 2; addresses nulled 2 (shared with other records: still referenced by rows that are not the subject's)"
			if got := evidence(erased); got != wantRecords {
				t.Fatalf("erasure evidence:\n got %s\nwant %s", got, wantRecords)
			}
			after := tables()
			// Exactly these rows changed; every other row is byte-identical.
			changed := map[string][]string{"customers": {"1"}, "addresses": {"10", "11", "13"}, "cards": {"200", "201"}, "orders": {"100", "101"},
				"logins": {"300"}, "EXT.visits": {"400"}}
			for name := range shopKeys {
				for key, row := range before[name] {
					if slices.Contains(changed[name], key) {
						continue
					}
					if after[name][key] != row {
						t.Errorf("%s %s changed: %q → %q", name, key, row, after[name][key])
					}
				}
				for key := range after[name] {
					if _, ok := before[name][key]; !ok {
						t.Errorf("%s %s appeared", name, key)
					}
				}
			}
			for name, keys := range map[string][]string{"customers": {"1"}, "addresses": {"10", "11"}, "cards": {"200", "201"}, "EXT.visits": {"400"}} {
				for _, k := range keys {
					if _, ok := after[name][k]; ok {
						t.Errorf("%s %s was not deleted", name, k)
					}
				}
			}
			// The shared address stays, no longer pointing at Jane; her
			// orders stay for the law, pointing at nobody, the name masked.
			if after["addresses"]["13"] != "13|4 Shared Ln|Bath|<nil>" || after["orders"]["100"] != "100|<nil>|<nil>|xxxx xxx|1999" {
				t.Errorf("shared address %q, kept order %q", after["addresses"]["13"], after["orders"]["100"])
			}
			var login struct {
				Email string `db:"email"`
				IP    string `db:"ip"`
			}
			if err := conn.Get(&login, `SELECT email, ip FROM logins WHERE id = 300`); err != nil || len(login.Email) != 64 || strings.Contains(login.Email, "jane") || login.IP != "00.0.0.0" {
				t.Errorf("pseudonymised login: %+v, %v", login, err)
			}
			// The verification pass finds nothing left to erase; a second
			// run changes nothing.
			if left, err := shop.Discover(ctx, subject); err != nil || left.Erasable() != 0 {
				t.Fatalf("verification: %s, %v", evidence(left), err)
			}
			if _, err := shop.Erase(ctx, subject, connectors.EraseOptions{}); err != nil {
				t.Fatal(err)
			}
			for name, rows := range tables() {
				if !mapsEqual(rows, after[name]) {
					t.Errorf("the second erasure changed %s", name)
				}
			}

			// Across systems: the loyalty number the shop assigned to the
			// row found by her e-mail reaches her membership elsewhere.
			fresh := []domain.Identity{{Kind: domain.Email, Value: "bob@example.com"}}
			links, err := shop.(connectors.Linker).Linked(ctx, fresh)
			if err != nil || len(links) != 1 || links[0].Identity.Value != "L00000002" || links[0].Location != "customers.loyalty_no" {
				t.Fatalf("linked: %+v, %v", links, err)
			}
			res, err := loyalty.Erase(ctx, []domain.Identity{links[0].Identity}, connectors.EraseOptions{})
			if err != nil || evidence(res) != "members deleted 1" || rowCount(t, conn, `SELECT COUNT(*) FROM members WHERE member_no = 'L00000001'`) != 1 {
				t.Fatalf("cross-system erasure: %s, %v", evidence(res), err)
			}
		})
	}
}

// snapshot is every row of a table as text, by its key: the checksum
// that says whether a row changed.
func snapshot(t *testing.T, db *sqlx.DB, table, key string) map[string]string {
	t.Helper()
	out := map[string]string{}
	nkey := len(strings.Split(key, ","))
	for _, row := range rowsOf(t, db, fmt.Sprintf("SELECT * FROM %s ORDER BY %s", table, key)) {
		out[strings.Join(row[:nkey], "/")] = strings.Join(row, "|")
	}
	return out
}

// keysOf runs a query for keys and returns them sorted, "a/b c/d".
func keysOf(t *testing.T, db *sqlx.DB, q string) string {
	var keys []string
	for _, row := range rowsOf(t, db, q) {
		keys = append(keys, strings.Join(row, "/"))
	}
	slices.Sort(keys)
	return strings.Join(keys, " ")
}

// rowsOf reads a query's rows with every value as text.
func rowsOf(t *testing.T, db *sqlx.DB, q string) [][]string {
	t.Helper()
	rows, err := db.Queryx(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.SliceScan()
		if err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, parts)
	}
	return out
}

func exportedKeys(rows []map[string]any, key string) string {
	var keys []string
	for _, r := range rows {
		var parts []string
		for _, col := range strings.Split(key, ", ") {
			parts = append(parts, fmt.Sprint(r[col]))
		}
		keys = append(keys, strings.Join(parts, "/"))
	}
	slices.Sort(keys)
	return strings.Join(keys, " ")
}

func evidence(r connectors.Result) string {
	var parts []string
	for _, rec := range r.Records {
		s := fmt.Sprintf("%s %s %d", rec.Location, rec.Action, rec.Count)
		if rec.Reason != "" && (rec.Action == "kept" || rec.Action == "nulled" && rec.Location == "addresses") {
			s += " (" + rec.Reason + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func rowCount(t *testing.T, db *sqlx.DB, q string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, q); err != nil {
		t.Fatal(err)
	}
	return n
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestScanCommand: scan prints its findings as JSON and ends with
// ErrFindings (exit 1), so CI can gate a schema change; a covered schema
// passes.
func TestScanCommand(t *testing.T) {
	dsn := "file:" + t.TempDir() + "/crm.db"
	exec(t, "sqlite", dsn, `CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, phone TEXT)`)
	const mapText = `
departments:
  - {name: Sales, approvers: [sales.lead@acme.example]}
systems:
  - name: crm
    department: Sales
    connector: sql
    sql: {driver: sqlite, dsn_env: T_CRM_DSN}
    purposes: [crm]
    legal_basis: contract
    retention: 6 years
    tables:
      - {name: customers, primary_key: id, identity: {email: email}, erase: delete}
`
	load := func(string) (*config.File, error) { return config.Parse("crm.yaml", []byte(mapText)) }
	getenv := func(string) string { return dsn }
	var out bytes.Buffer
	err := engine.ScanCommand(context.Background(), []string{"--output", "json"}, "", load, getenv, &out)
	var found []engine.ScanFinding
	if jerr := json.Unmarshal(out.Bytes(), &found); !errors.Is(err, engine.ErrFindings) || jerr != nil || len(found) != 1 ||
		found[0].System != "crm" || found[0].Column != "phone" || found[0].Kind != "unmapped_column" {
		t.Fatalf("scan: %v, %s", err, out.String())
	}
	exec(t, "sqlite", dsn, `ALTER TABLE customers DROP COLUMN phone`)
	out.Reset()
	if err := engine.ScanCommand(context.Background(), nil, "", load, getenv, &out); err != nil || !strings.Contains(out.String(), "covers every table") {
		t.Fatalf("a covered schema: %v, %s", err, out.String())
	}
	if err := engine.ScanCommand(context.Background(), []string{"--output", "yaml"}, "", load, getenv, &out); err == nil || errors.Is(err, engine.ErrFindings) {
		t.Fatalf("a bad --output: %v", err)
	}
}

// TestShowSaysWhatIsRetrying: a SaaS that answers 502 fails discovery
// again and again. While Temporal retries, show says which step, which
// attempt of how many, and the last error, read through the key.
func TestShowSaysWhatIsRetrying(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	}))
	defer down.Close()
	m, err := config.Parse("down.yaml", []byte(`departments:
  - {name: Support, approvers: [support@acme.example]}
systems:
  - name: helpdesk
    department: Support
    connector: http
    http: {base_url_env: T_HELPDESK_URL, auth: {type: bearer, token_env: T_HELPDESK_TOKEN}}
    purposes: [support]
    legal_basis: contract
    retention: 2 years
    objects:
      - {name: tickets, lookup: {path: "/tickets?requester={email}", match: requester}, erase: delete, erase_request: {method: DELETE, path: "/tickets/{record.id}"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := startCompany(t, m, map[string]string{"T_HELPDESK_URL": down.URL, "T_HELPDESK_TOKEN": "t"})
	ctx := context.Background()
	if _, err := requests.Start(ctx, e.Client, input("RETRY-1", "ann@example.com")); err != nil {
		t.Fatal(err)
	}
	var seen requests.Retrying
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		v, err := requests.Show(ctx, e.Client, "RETRY-1", requests.WithFailures(e.Keys.FailureConverter()))
		if err != nil {
			return false, err.Error()
		}
		for _, r := range v.Retrying {
			if r.Activity == "Discover" && r.Attempt >= 2 {
				seen = r
				return true, ""
			}
		}
		return false, fmt.Sprintf("not retrying yet: %+v", v.Retrying)
	})
	if seen.MaxAttempts != 10 || !strings.Contains(seen.LastError, "502") || seen.NextAt.IsZero() ||
		!strings.Contains(seen.String(), "Discover: attempt 2 of 10; last error: ") {
		t.Fatalf("retrying: %+v (%s)", seen, seen)
	}
	// Without the key, the kind of error only: the message stays sealed.
	v, err := requests.Show(ctx, e.Client, "RETRY-1")
	if err != nil || len(v.Retrying) == 0 || strings.Contains(v.Retrying[0].LastError, "502") || !strings.Contains(v.Retrying[0].LastError, "encrypted") {
		t.Fatalf("without the key: %+v, %v", v.Retrying, err)
	}
}
