package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// A company whose CRM runs on PostgreSQL, whose marketing runs on MariaDB
// and whose sessions are in Redis.
const twoDatabases = `departments:
  - name: Sales
    approvers: [sales.lead@acme.example]
  - name: Marketing
    approvers: [marketing.lead@acme.example]
systems:
  - name: crm
    department: Sales
    connector: sql
    sql: {driver: postgres, dsn_env: T_CRM_DSN}
    purposes: [customer-relationship]
    legal_basis: contract
    retention: 6 years
    signoff_for: [access]
    tables:
      - {name: customers, primary_key: id, identity: {email: email, customer_id: customer_no}, erase: delete}
      - name: invoices
        primary_key: id
        identity: {customer_id: customer_no}
        erase: mask
        erase_fields: [customer_no, billing_name]
        legal_hold: tax law keeps invoices 10 years
  - name: marketing
    department: Marketing
    connector: sql
    sql: {driver: mysql, dsn_env: T_MARKETING_DSN}
    purposes: [newsletter]
    legal_basis: consent
    retention: until withdrawn
    signoff_for: [opt_in]
    tables:
      - {name: subscriptions, primary_key: id, identity: {email: email}, erase: delete, consent: {newsletter: newsletter_consent}}
  - name: sessions
    department: Sales
    connector: redis
    redis: {url_env: T_SESSIONS_URL}
    purposes: [login]
    legal_basis: contract
    retention: 30 days
    keys:
      - {pattern: "PREFIXsession:{email}:*", erase: delete}
`

func exec(t *testing.T, driver, dsn string, stmts ...string) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return db
}

// TestEveryKindOnRealDatabases runs access, erasure and opt-in end to end:
// real Temporal, the store on PostgreSQL, and the company's systems on
// PostgreSQL and MariaDB through the SQL connector.
func TestEveryKindOnRealDatabases(t *testing.T) {
	crmDSN, mktDSN := testenv.PostgresSchema(t), testenv.MySQLDatabase(t)
	crm := exec(t, "postgres", crmDSN,
		`CREATE TABLE customers (id INT PRIMARY KEY, email TEXT, customer_no TEXT, name TEXT)`,
		`CREATE TABLE invoices (id INT PRIMARY KEY, customer_no TEXT, billing_name TEXT, amount_cents INT)`,
		`INSERT INTO customers VALUES (1, 'kim@example.com', 'C-9', 'Kim'), (2, 'lee@example.com', 'C-8', 'Lee')`,
		`INSERT INTO invoices VALUES (1, 'C-9', 'Kim', 100), (2, 'C-9', 'Kim', 200), (3, 'C-8', 'Lee', 300)`)
	mkt := exec(t, "mysql", mktDSN,
		`CREATE TABLE subscriptions (id INT PRIMARY KEY, email VARCHAR(200), newsletter_consent BOOLEAN NOT NULL DEFAULT FALSE)`,
		`INSERT INTO subscriptions VALUES (1, 'kim@example.com', FALSE), (2, 'lee@example.com', TRUE)`)

	redisURL, prefix := testenv.RedisPrefix(t)
	rdb := testenv.RedisClient(t, redisURL)
	rdb.Set(context.Background(), prefix+"session:kim@example.com:1", "cart=boots", time.Hour)
	rdb.Set(context.Background(), prefix+"session:lee@example.com:1", "cart=socks", time.Hour)

	m, err := config.Parse("two.yaml", []byte(strings.ReplaceAll(twoDatabases, "PREFIX", prefix)))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"T_CRM_DSN": crmDSN, "T_MARKETING_DSN": mktDSN, "T_SESSIONS_URL": redisURL}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, _, err := engine.OpenSystems(ctx, m, func(string) string { return "" }, nil); err == nil || !strings.Contains(err.Error(), "two.yaml:7: systems[0] (crm): environment variable T_CRM_DSN is not set") {
		t.Fatalf("missing DSN: %v", err)
	}
	e, st := startCompany(t, m, env)

	run := func(in workflows.RequestInput, decisions ...workflows.Decision) workflows.RequestState {
		t.Helper()
		return e.Run(t, in, decisions...)
	}
	sales := workflows.Decision{Department: "Sales", Decision: "approve", Approver: "sales.lead@acme.example", Via: "cli:test"}
	marketing := workflows.Decision{Department: "Marketing", Decision: "approve", Approver: "marketing.lead@acme.example", Via: "cli:test"}

	// Opt-in: Marketing signs off (the map asks for it), consent lands in MariaDB.
	opt := input("KIM-OPT", "kim@example.com")
	opt.Type = domain.OptIn
	opt.Consent = &domain.ConsentChange{Purpose: "newsletter", Channel: "web form", WordingVersion: "v1"}
	run(opt, marketing)
	var consent bool
	if err := mkt.Get(&consent, `SELECT newsletter_consent FROM subscriptions WHERE id = 1`); err != nil || !consent {
		t.Fatalf("consent in MariaDB: %v %v", consent, err)
	}

	// Access: Sales signs off; both systems export.
	acc := input("KIM-ACC", "kim@example.com")
	cust, _ := domain.NewIdentity(domain.CustomerID, "C-9")
	acc.Identities = append(acc.Identities, cust)
	res := run(acc, sales)
	if len(res.Systems) != 3 || res.Systems[0].Found != 3 || res.Systems[1].Found != 1 || res.Systems[2].Found != 1 || res.Package == "" {
		t.Fatalf("access: %+v", res.Systems)
	}
	// The map gives no categories for the CRM's columns: exported all the
	// same, and named for the map's owner.
	if done := res.Systems[0].Done; done != "exported 3 records; 3 columns the data map does not classify: customers.name, invoices.amount_cents, invoices.billing_name" {
		t.Fatalf("crm export: %q", done)
	}

	// Erasure: both departments sign off; rows deleted or masked, amounts kept.
	era := acc
	era.RequestID, era.Type = "KIM-ERA", domain.Erasure
	res = run(era, sales, marketing)
	for _, p := range res.Systems {
		if !p.Verified {
			t.Fatalf("erasure not verified in %s: %+v", p.System, p)
		}
	}
	var n int
	if err := crm.Get(&n, `SELECT COUNT(*) FROM customers`); err != nil || n != 1 {
		t.Fatalf("customers left: %d %v", n, err)
	}
	if err := crm.Get(&n, `SELECT SUM(amount_cents) FROM invoices WHERE billing_name = 'xxx' AND customer_no = 'x-0'`); err != nil || n != 300 {
		t.Fatalf("masked invoice amounts: %d %v", n, err)
	}
	if err := mkt.Get(&n, `SELECT COUNT(*) FROM subscriptions`); err != nil || n != 1 {
		t.Fatalf("subscriptions left: %d %v", n, err)
	}
	if keys, err := rdb.Keys(ctx, prefix+"*").Result(); err != nil || len(keys) != 1 || keys[0] != prefix+"session:lee@example.com:1" {
		t.Fatalf("redis keys left: %v, %v", keys, err)
	}
	if ok, err := st.Suppressed(ctx, "email", e.Keys.Hash("email", "kim@example.com")); !ok || err != nil {
		t.Fatalf("not suppressed: %v %v", ok, err)
	}
	if _, err := requests.Show(ctx, e.Client, "KIM-NONE"); !errors.Is(err, requests.ErrNotFound) {
		t.Fatal(err)
	}
	if path := os.Getenv("DSR_RECORD_CONSENT_HISTORY"); path != "" {
		testengine.RecordHistory(t, e.RawClient, "dsr-KIM-OPT", path)
	}
	// An erasure whose systems' activities ran on their connector classes'
	// queues (SQL and Redis): request-v14-system-queues.json.
	if path := os.Getenv("DSR_RECORD_QUEUES_HISTORY"); path != "" {
		testengine.RecordHistory(t, e.RawClient, "dsr-KIM-ERA", path)
	}
}

// TestOpenSystemsNamesWhatIsMissing: an http system's URL and secrets come
// from the environment, and a missing one is named with the system's line.
func TestOpenSystemsNamesWhatIsMissing(t *testing.T) {
	m, err := config.Parse("saas.yaml", []byte(`departments:
  - name: Support
    approvers: [support@acme.example]
systems:
  - name: archive
    department: Support
    connector: manual
    manual: {location: "cabinet 1", instructions: {access: copy, erasure: shred}}
    purposes: [support]
    legal_basis: contract
    retention: 2 years
  - name: helpdesk
    department: Support
    connector: http
    http:
      base_url_env: T_HELPDESK_URL
      auth: {type: basic, username_env: T_HELPDESK_USER, password_env: T_HELPDESK_PASSWORD}
    purposes: [support]
    legal_basis: contract
    retention: 2 years
    objects:
      - {name: tickets, lookup: {path: "/tickets?requester={email}", match: requester}, erase: delete, erase_request: {method: DELETE, path: "/tickets/{record.id}"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "saas.yaml:12: systems[1] (helpdesk): environment variable T_HELPDESK_URL is not set (it holds the API's base URL)"},
		{map[string]string{"T_HELPDESK_URL": "https://helpdesk.example", "T_HELPDESK_USER": "dsr"}, "environment variable T_HELPDESK_PASSWORD is not set (it holds the password)"},
		{map[string]string{"T_HELPDESK_URL": "http://helpdesk.example", "T_HELPDESK_USER": "dsr", "T_HELPDESK_PASSWORD": "pw"}, "base URL must use https"},
	} {
		_, _, err := engine.OpenSystems(context.Background(), m, func(k string) string { return tc.env[k] }, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: %v, want %q", tc.env, err, tc.want)
		}
	}
	systems, closeAll, err := engine.OpenSystems(context.Background(), m, func(k string) string {
		return map[string]string{"T_HELPDESK_URL": "https://helpdesk.example", "T_HELPDESK_USER": "dsr", "T_HELPDESK_PASSWORD": "pw"}[k]
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	if len(systems) != 2 || systems[0].Manual == nil || systems[0].Connector != nil || systems[1].Connector == nil {
		t.Fatalf("systems = %+v", systems)
	}
}

// A company whose customers table has a check the erased value breaks:
// the database refuses the update, for good.
const refusingCompany = `departments:
  - name: Sales
    approvers: [sales.lead@acme.example]
systems:
  - name: crm
    department: Sales
    connector: sql
    sql: {driver: DRIVER, dsn_env: T_CRM_DSN}
    purposes: [customer-relationship]
    legal_basis: contract
    retention: 6 years
    tables:
      - {name: customers, primary_key: id, identity: {email: email}, erase: update, erase_fields: {email: {set: erased}}, legal_hold: contract}
`

// TestRefusalNeedsAttentionAtOnce: a check constraint refuses the erasure,
// on PostgreSQL and on MariaDB. It is not retried: the request is in
// needs_attention after one attempt, and the timeline and the
// department's notice carry the database's message, without the
// subject's values.
func TestRefusalNeedsAttentionAtOnce(t *testing.T) {
	for _, db := range []struct{ driver, dsn string }{{"postgres", testenv.PostgresSchema(t)}, {"mysql", testenv.MySQLDatabase(t)}} {
		t.Run(db.driver, func(t *testing.T) {
			exec(t, db.driver, db.dsn,
				`CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(200), CONSTRAINT email_shape CHECK (email LIKE '%@%'))`,
				`INSERT INTO customers VALUES (1, 'uma@example.com')`)
			m, err := config.Parse("refusing.yaml", []byte(strings.ReplaceAll(refusingCompany, "DRIVER", db.driver)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			e, st := startCompany(t, m, map[string]string{"T_CRM_DSN": db.dsn})
			in := input("REFUSED-1", "uma@example.com")
			in.Type = domain.Erasure
			if _, err := requests.Start(ctx, e.Client, in); err != nil {
				t.Fatal(err)
			}
			e.WaitFor(t, "REFUSED-1", domain.StatusAwaitingSignOff)
			if err := requests.Decide(testengine.Approver(ctx, "sales.lead@acme.example", "test"), e.Client, "REFUSED-1", workflows.Decision{Department: "Sales", Decision: "approve"}); err != nil {
				t.Fatal(err)
			}
			v := e.WaitFor(t, "REFUSED-1", domain.StatusNeedsAttention)
			note := v.Timeline[len(v.Timeline)-1].Note
			if !strings.Contains(note, "crm: refused by the database: erase in customers") || !strings.Contains(strings.ToLower(note), "email_shape") ||
				strings.Contains(note, "uma@") || strings.Contains(note, "activity error") {
				t.Fatalf("the timeline says: %q", note)
			}
			// One attempt: the erase activity's start event is its first and last.
			it := e.Client.GetWorkflowHistory(ctx, "dsr-REFUSED-1", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			erases := 0
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					t.Fatal(err)
				}
				if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "Erase" {
					erases++
				}
				if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() != 1 {
					t.Fatalf("an activity ran %d attempts", a.GetAttempt())
				}
			}
			if erases != 1 {
				t.Fatalf("%d erase activities scheduled", erases)
			}
			// The notice follows the status: the wait is for the notice.
			testenv.Eventually(t, testenv.Wait, func() (bool, string) {
				notes, err := st.Inbox(ctx, "Sales", 10)
				for _, n := range notes {
					if n.Kind == "needs-attention" {
						ok := strings.Contains(n.Text, "refused by the database") && !strings.Contains(n.Text, "cannot reach") && !strings.Contains(n.Text, "uma@")
						return ok, fmt.Sprintf("Sales was told: %q", n.Text)
					}
				}
				return false, fmt.Sprintf("Sales has no needs-attention notice: %+v, %v", notes, err)
			})
		})
	}
}

// startCompany opens the data map's systems with the environment env and
// runs the engine on them, its store on PostgreSQL with the map's
// departments. Cleanups run in reverse: the engine stops before the store
// and the systems close.
func startCompany(t *testing.T, m *config.File, env map[string]string) (*testengine.Engine, *store.Store) {
	t.Helper()
	systems, closeSystems, err := engine.OpenSystems(context.Background(), m, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeSystems() })
	st := openPostgres(t)
	if err := st.SyncDepartments(context.Background(), m.StoreDepartments()); err != nil {
		t.Fatal(err)
	}
	return testengine.StartEngine(t, st, systems...), st
}
