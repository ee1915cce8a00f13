package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/internal/mailwave"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// TestAcmeOnPostgresAndMariaDB runs the demo company's data map, unchanged
// but for the SQL driver, with its SQL systems on the real PostgreSQL and
// MariaDB and its SaaS system on Mailwave: an access request returns Jane's
// data from every system with its purposes and recipients, and an erasure
// leaves only what legal holds keep, each system verified.
func TestAcmeOnPostgresAndMariaDB(t *testing.T) {
	for _, driver := range []string{"postgres", "mysql"} {
		t.Run(driver, func(t *testing.T) { runAcme(t, driver) })
	}
}

func runAcme(t *testing.T, driver string) {
	ctx := context.Background()
	m, err := config.Parse(builtInMap, acmeMap)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	dbs := map[string]*sqlx.DB{}
	var saas *mailwave.Server
	for i, s := range m.Systems {
		switch s.Connector {
		case "sql":
			dsn := testenv.MySQLDatabase(t)
			if driver == "postgres" {
				dsn = testenv.PostgresSchema(t)
			}
			seed, err := acmeSeeds.ReadFile("acme/" + s.Name + ".sql")
			if err != nil {
				t.Fatal(err)
			}
			if err := runScript(ctx, driver, dsn, string(seed)); err != nil {
				t.Fatalf("seed %s on %s: %v", s.Name, driver, err)
			}
			m.Systems[i].SQL.Driver = driver
			env[s.SQL.DSNEnv] = dsn
			db, err := sqlx.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			dbs[s.Name] = db
		case "http":
			if saas, err = newSaaS("", s.Name); err != nil {
				t.Fatal(err)
			}
			saas.Token = "acme-test-token"
			ts := httptest.NewServer(saas)
			t.Cleanup(ts.Close)
			env[s.HTTP.BaseURLEnv], env[s.HTTP.Auth.TokenEnv] = ts.URL, saas.Token
		}
	}
	// The demo map covers its own schema: scan finds nothing.
	if found, err := engine.Scan(ctx, m, func(k string) string { return env[k] }); err != nil || len(found) != 0 {
		t.Fatalf("scan of the demo on %s: %+v, %v", driver, found, err)
	}
	systems, closeSystems, err := engine.OpenSystems(ctx, m, func(k string) string { return env[k] }, mustKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeSystems()
	// The demo is what companies copy: every column it finds the subject
	// by, or follows a reference through, has its index.
	for _, sys := range systems {
		if w, ok := sys.Connector.(interface{ Warnings() []string }); ok && len(w.Warnings()) > 0 {
			t.Errorf("%s on %s: %s", sys.Name, driver, strings.Join(w.Warnings(), "; "))
		}
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SyncDepartments(ctx, m.StoreDepartments()); err != nil {
		t.Fatal(err)
	}
	e := testengine.StartEngine(t, st, systems...)

	jane := func(id string, kind domain.RequestType) workflows.RequestInput {
		// The e-mail alone: the customer number and phone that billing and
		// the CRM key on are found in Jane's CRM row.
		email, _ := domain.NewIdentity(domain.Email, "jane@example.com")
		received := time.Now().Add(-24 * time.Hour)
		return workflows.RequestInput{RequestID: id, Type: kind, Regulation: domain.GDPR, Identities: []domain.Identity{email},
			ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), RequestedBy: "cli:test", IdentityVerified: true}
	}
	approve := func(dep, who string) workflows.Decision {
		return workflows.Decision{Department: dep, Decision: "approve", Approver: who, Via: "cli:test"}
	}

	// Access: Sales signs off (the map asks it to); every system exports.
	res := e.RunLinked(t, jane("ACME-ACC", domain.Access), []int{1}, approve("Sales", "sales.lead@acme.example"))
	if !strings.Contains(fmt.Sprint(res.Timeline), "the subject's records hold 1 more identities, for compliance to confirm (1: customer_id in crm customers.customer_no)") {
		t.Errorf("timeline does not tell the linked identities: %+v", res.Timeline)
	}
	if path := os.Getenv("DSR_RECORD_LINKED_HISTORY"); path != "" && driver == "postgres" {
		testengine.RecordHistory(t, e.RawClient, "dsr-ACME-ACC", path)
	}
	found := map[string]int64{}
	for _, p := range res.Systems {
		found[p.System] = p.Found
		// The demo map classifies every column it exports.
		if strings.Contains(p.Done, "does not classify") {
			t.Errorf("%s: %s", p.System, p.Done)
		}
	}
	want := map[string]int64{"crm": 3, "billing": 6, "marketing": 3, "web-analytics": 3, "support": 1, "newsletter-platform": 5}
	for sys, n := range want {
		if found[sys] != n {
			t.Errorf("access found %d records in %s, want %d (all: %v)", found[sys], sys, n, found)
		}
	}
	files := testenv.Unzip(t, res.Package, st, e.Keys)
	var manifest struct {
		Systems []struct {
			System     string   `json:"system"`
			Purposes   []string `json:"purposes"`
			Recipients []string `json:"recipients"`
			File       string   `json:"file"`
		} `json:"systems"`
	}
	if err := json.Unmarshal([]byte(files["manifest.json"]), &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Systems) != len(want) {
		t.Fatalf("manifest has %d systems, want %d: %s", len(manifest.Systems), len(want), files["manifest.json"])
	}
	for _, s := range manifest.Systems {
		if len(s.Purposes) == 0 || files[s.File] == "" {
			t.Errorf("%s: purposes %v, file %q", s.System, s.Purposes, s.File)
		}
		if s.System == "newsletter-platform" && (len(s.Recipients) != 1 || s.Recipients[0] != "Mailwave Inc. (processor)") {
			t.Errorf("newsletter recipients: %v", s.Recipients)
		}
	}
	// The page Jane reads: her data by category in words, and the facts
	// the map declares beyond the tables.
	for _, want := range []string{
		`<h2>Newsletter platform <small>(held by our Marketing team)</small></h2>`,
		"To Mailwave Inc., United States, protected by the EU standard contractual clauses",
		"lists of event visitors bought from EventLists Ltd",
		"Which campaigns you receive is chosen automatically",
		"<strong>Location</strong>: city, street",
		"Harbour Road</td>", "shipping address",
		"complain to the data protection supervisory authority",
	} {
		if !strings.Contains(files["report.html"], want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	for file, words := range map[string][]string{
		"systems/crm.json":                 {"Harbour Road", "+442079460958"},
		"systems/billing.json":             {"Walking boots", "4999"},
		"systems/newsletter-platform.json": {"Jane (2024 import)", "summer-sale"},
	} {
		for _, w := range words {
			if !strings.Contains(files[file], w) {
				t.Errorf("%s lacks %q", file, w)
			}
		}
	}
	for _, other := range []string{"Bob", "E. Jane"} {
		for name, body := range files {
			if strings.Contains(body, other) {
				t.Errorf("%s holds %s's data", name, other)
			}
		}
	}

	// Erasure: every holding department signs off; legal holds keep what
	// they must, and the verification pass finds nothing else.
	res = e.RunLinked(t, jane("ACME-ERA", domain.Erasure), []int{1},
		approve("Analytics", "analytics.lead@acme.example"), approve("Finance", "controller@acme.example"),
		approve("Marketing", "marketing.lead@acme.example"), approve("Sales", "sales.lead@acme.example"),
		approve("Support", "support.lead@acme.example"))
	for _, p := range res.Systems {
		if p.Found > 0 && !p.Verified {
			t.Errorf("%s not verified: %+v", p.System, p)
		}
	}
	count := func(system, query string) int {
		var n int
		if err := dbs[system].Get(&n, query); err != nil {
			t.Fatalf("%s: %s: %v", system, query, err)
		}
		return n
	}
	for _, c := range []struct {
		system, query string
		want          int
	}{
		{"crm", `SELECT COUNT(*) FROM customers`, 1}, // Bob
		{"crm", `SELECT COUNT(*) FROM addresses`, 1},
		{"billing", `SELECT COUNT(*) FROM orders WHERE LENGTH(customer_no) = 64 AND shipping_name = 'xxxx xxx' AND shipping_address IS NULL`, 2},
		{"billing", `SELECT COUNT(*) FROM order_items`, 3}, // kept: commercial law
		{"billing", `SELECT COUNT(*) FROM invoices WHERE billing_name = '[erased]' AND LENGTH(customer_no) = 64 AND amount_cents IN (4999, 1250)`, 2},
		{"billing", `SELECT COUNT(*) FROM invoices WHERE billing_name = 'Bob Stone'`, 1},
		{"marketing", `SELECT COUNT(*) FROM subscriptions`, 1},
		{"marketing", `SELECT COUNT(*) FROM campaign_clicks`, 1},
		{"web-analytics", `SELECT COUNT(*) FROM page_views`, 1},
		{"support", `SELECT COUNT(*) FROM tickets WHERE email IS NULL AND body IS NULL`, 1},
		{"support", `SELECT COUNT(*) FROM tickets WHERE email = 'bob@example.com'`, 1},
	} {
		if got := count(c.system, c.query); got != c.want {
			t.Errorf("%s: %s = %d, want %d", c.system, c.query, got, c.want)
		}
	}
	var left []string
	for _, c := range saas.Contacts() {
		left = append(left, c.ID)
	}
	if strings.Join(left, ",") != "mw-201,mw-301" || len(saas.Events()) != 1 {
		t.Errorf("Mailwave after erasure: contacts %v, %d events", left, len(saas.Events()))
	}

	runAcmeRights(t, e, count, saas)
}

// runAcmeRights has Bob exercise each of the new rights on the demo
// company: every one runs to the end, and changes what it should and
// nothing else.
func runAcmeRights(t *testing.T, e *testengine.Engine, count func(system, query string) int, saas *mailwave.Server) {
	bob := func(id string, kind domain.RequestType, reg domain.Regulation) workflows.RequestInput {
		email, _ := domain.NewIdentity(domain.Email, "bob@example.com")
		received := time.Now().Add(-time.Hour)
		return workflows.RequestInput{RequestID: id, Type: kind, Regulation: reg, Identities: []domain.Identity{email},
			ReceivedAt: received, DueAt: domain.DueFor(kind, reg, received), RequestedBy: "cli:test", IdentityVerified: true}
	}
	decide := func(dep, who, basis string) workflows.Decision {
		if basis == "" {
			return workflows.Decision{Department: dep, Decision: "approve", Approver: who, Via: "cli:test"}
		}
		return workflows.Decision{Department: dep, Decision: "object", Approver: who, LegalBasis: basis, Via: "cli:test"}
	}
	check := func(what, system, query string, want int) {
		t.Helper()
		if got := count(system, query); got != want {
			t.Errorf("%s: %s: %s = %d, want %d", what, system, query, got, want)
		}
	}

	// An opt-out of sale and sharing: the marketing system's sharing flag,
	// and nothing in the newsletter platform, which does not share.
	out := bob("BOB-OUT", domain.OptOut, domain.CCPA)
	out.Scope = &domain.Scope{Channel: "Global Privacy Control"}
	e.RunLinked(t, out, []int{1})
	check("opt-out", "marketing", `SELECT COUNT(*) FROM subscriptions WHERE email = 'bob@example.com' AND share_consent = FALSE AND newsletter_consent = TRUE`, 1)

	// A limit of sensitive data: the offers from inferred health interests.
	limit := bob("BOB-LIM", domain.LimitSensitive, domain.CCPA)
	limit.Scope = &domain.Scope{Channel: "web form"}
	e.RunLinked(t, limit, []int{1})
	check("limit", "marketing", `SELECT COUNT(*) FROM subscriptions WHERE email = 'bob@example.com' AND health_offers_consent = FALSE AND share_consent = FALSE AND newsletter_consent = TRUE`, 1)

	// An objection to direct marketing: the newsletter in both systems.
	obj := bob("BOB-OBJ", domain.Objection, domain.GDPR)
	obj.Scope = &domain.Scope{DirectMarketing: true, Channel: "e-mail"}
	e.RunLinked(t, obj, []int{1})
	check("objection", "marketing", `SELECT COUNT(*) FROM subscriptions WHERE email = 'bob@example.com' AND newsletter_consent = FALSE`, 1)
	for _, c := range saas.Contacts() {
		if c.ID == "mw-201" && c.Lists["newsletter"] {
			t.Errorf("objection: Mailwave still sends Bob the newsletter: %+v", c.Lists)
		}
	}

	// A restriction of every purpose, then its lifting.
	res := bob("BOB-RES", domain.Restriction, domain.GDPR)
	res.Scope = &domain.Scope{Purposes: []string{domain.AllPurposes}, Grounds: "accuracy contested"}
	state := e.RunLinked(t, res, []int{1})
	check("restriction", "crm", `SELECT COUNT(*) FROM customers WHERE email = 'bob@example.com' AND restricted = TRUE`, 1)
	if !strings.Contains(fmt.Sprint(state.Timeline), "billing holds the subject's data for order-fulfilment, accounting but records no restriction; Finance is told") {
		t.Errorf("restriction: the timeline does not say where no flag is declared: %+v", state.Timeline)
	}
	lift := bob("BOB-LIFT", domain.Restriction, domain.GDPR)
	lift.Scope = &domain.Scope{Purposes: []string{domain.AllPurposes}, Lift: true}
	e.RunLinked(t, lift, []int{1})
	check("lift", "crm", `SELECT COUNT(*) FROM customers WHERE restricted = TRUE`, 0)

	// A correction of Bob's address, refused by Support with its reason.
	fix := bob("BOB-FIX", domain.Rectification, domain.GDPR)
	fix.Corrections = []domain.Correction{{Field: "email", Value: "bob.stone@example.com"}}
	state = e.RunLinked(t, fix, []int{1}, decide("Analytics", "analytics.lead@acme.example", ""), decide("Marketing", "marketing.lead@acme.example", ""),
		decide("Sales", "sales.lead@acme.example", ""), decide("Support", "support.lead@acme.example", "a ticket keeps the address it was written from"))
	check("correction", "crm", `SELECT COUNT(*) FROM customers WHERE email = 'bob.stone@example.com' AND customer_no = 'C-1002'`, 1)
	check("correction", "marketing", `SELECT COUNT(*) FROM subscriptions WHERE email = 'bob.stone@example.com'`, 1)
	check("correction", "web-analytics", `SELECT COUNT(*) FROM page_views WHERE visitor_email = 'bob.stone@example.com'`, 1)
	check("refused correction", "support", `SELECT COUNT(*) FROM tickets WHERE email = 'bob@example.com'`, 1)
	for _, p := range state.Systems {
		if p.System == "support" && (!p.Exempt || p.Done != "") {
			t.Errorf("support corrected although it refused: %+v", p)
		}
	}
}

// mustKeys is the test keyring, for the map's hmac strategies.
func mustKeys(t *testing.T) *keyring.Keyring {
	k, err := keyring.New(testenv.TestKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A data folder seeded before the restriction flag and the consent to
// sharing existed gets them at start, and keeps its rows.
func TestOldDemoDataIsUpgraded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := map[string]string{
		"crm":       "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT);\nINSERT INTO customers VALUES (1, 'jane@example.com')",
		"marketing": "CREATE TABLE subscriptions (id INTEGER PRIMARY KEY, email TEXT);\nINSERT INTO subscriptions VALUES (1, 'jane@example.com')",
	}
	for system, script := range old {
		path := filepath.Join(dir, system+".db")
		if err := runScript(ctx, "sqlite", "file:"+path, script); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second start finds the column there
			if _, err := seedSQLite(ctx, path, system); err != nil {
				t.Fatalf("%s: %v", system, err)
			}
		}
		db, err := sqlx.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		q := map[string]string{"crm": `SELECT COUNT(*) FROM customers WHERE restricted = FALSE`, "marketing": `SELECT COUNT(*) FROM subscriptions WHERE share_consent = TRUE AND health_offers_consent = TRUE`}[system]
		var n int
		if err := db.Get(&n, q); err != nil || n != 1 {
			t.Fatalf("%s after the upgrade: %d, %v", system, n, err)
		}
	}
}
