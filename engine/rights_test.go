package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/workflows"
)

// rightsSchema: Jane, Kim, Lee and Max each exercise one right; Bob must
// never change.
var rightsSchema = []string{
	`CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(200), name VARCHAR(200), restricted BOOLEAN NOT NULL DEFAULT FALSE)`,
	`CREATE TABLE subscribers (id INT PRIMARY KEY, email VARCHAR(200), newsletter_ok BOOLEAN NOT NULL, share_ok BOOLEAN NOT NULL)`,
	`CREATE TABLE page_views (id INT PRIMARY KEY, visitor_email VARCHAR(200), page VARCHAR(100))`,
	`INSERT INTO customers (id, email, name) VALUES (1, 'jane@example.com', 'Jane Doe'), (2, 'bob@example.com', 'Bob'), (3, 'kim@example.com', 'Kim'),
		(4, 'lee@example.com', 'Lee'), (5, 'max@example.com', 'Max')`,
	`INSERT INTO subscribers VALUES (10, 'jane@example.com', TRUE, TRUE), (11, 'bob@example.com', TRUE, TRUE), (13, 'lee@example.com', TRUE, TRUE),
		(14, 'max@example.com', TRUE, TRUE)`,
	`INSERT INTO page_views VALUES (20, 'jane@example.com', '/boots'), (21, 'bob@example.com', '/socks'), (24, 'max@example.com', '/hats')`,
}

const rightsMap = `
departments:
  - {name: Sales, approvers: [sales.lead@acme.example]}
  - {name: Marketing, approvers: [marketing.lead@acme.example]}
  - {name: Analytics, approvers: [analytics.lead@acme.example]}
purpose_kinds:
  marketing: [newsletter]
  sharing: [ad-audiences]
erasure: {evidence_hold: "0", resurrection_checks: []}
systems:
  - name: crm
    department: Sales
    connector: sql
    sql: {driver: DRIVER, dsn_env: T_DSN}
    purposes: [customer-relationship]
    legal_basis: contract
    recipients: [PayCo Payments Ltd (processor)]
    retention: 6 years
    tables:
      - name: customers
        primary_key: id
        identity: {email: email}
        fields: {email: [contact], name: [contact]}
        erase: delete
        correct: {email: email, name: name}
        restriction: {all: restricted}
  - name: mailing
    department: Marketing
    connector: sql
    sql: {driver: DRIVER, dsn_env: T_DSN}
    purposes: [newsletter, ad-audiences]
    legal_basis: consent
    sold_or_shared: true
    retention: until consent is withdrawn
    tables:
      - name: subscribers
        primary_key: id
        identity: {email: email}
        fields: {email: [contact]}
        erase: delete
        consent: {newsletter: newsletter_ok, ad-audiences: share_ok}
        correct: {email: email}
  - name: analytics
    department: Analytics
    connector: sql
    sql: {driver: DRIVER, dsn_env: T_DSN}
    purposes: [site-analytics]
    legal_basis: legitimate interest
    retention: 13 months
    tables:
      - name: page_views
        primary_key: id
        identity: {email: visitor_email}
        fields: {page: [behaviour]}
        erase: delete
        correct: {email: visitor_email}
`

// TestRightsOnRealDatabases runs each new right end to end on the real
// Temporal server, the store on PostgreSQL, and the company's systems on
// PostgreSQL and on MariaDB: a correction applied where its departments
// approve and refused, with the reason, where one objects; a restriction
// set and later lifted; an objection to direct marketing; an opt-out that
// reaches the system that shares data and no other. Bob never changes.
func TestRightsOnRealDatabases(t *testing.T) {
	for _, db := range []struct{ driver, dsn string }{{"postgres", testenv.PostgresSchema(t)}, {"mysql", testenv.MySQLDatabase(t)}} {
		t.Run(db.driver, func(t *testing.T) {
			ctx := context.Background()
			conn := exec(t, db.driver, db.dsn, rightsSchema...)
			m, systems := openMap(t, "rights.yaml", strings.ReplaceAll(rightsMap, "DRIVER", db.driver), db.dsn)
			st := openPostgres(t)
			if err := st.SyncDepartments(ctx, m.StoreDepartments()); err != nil {
				t.Fatal(err)
			}
			e := testengine.StartEngine(t, st, systems...)
			bob := snapshot(t, conn, "customers", "id") // every row, to compare Bob's afterwards
			query := func(q string) string {
				t.Helper()
				var s string
				if err := conn.Get(&s, conn.Rebind(q)); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return s
			}
			request := func(id, email string, typ domain.RequestType, reg domain.Regulation) workflows.RequestInput {
				in := input(id, email)
				in.Type, in.Regulation = typ, reg
				in.DueAt = domain.DueFor(typ, reg, in.ReceivedAt)
				return in
			}

			// Rectification: Sales and Marketing approve, Analytics refuses.
			fix := request("FIX-1", "jane@example.com", domain.Rectification, domain.GDPR)
			fix.Corrections = []domain.Correction{{Field: "email", Value: "jane.smith@example.com", Evidence: "mail from the new address"}, {Field: "name", Value: "Jane Smith"}}
			res := e.Run(t, fix,
				workflows.Decision{Department: "Sales", Decision: "approve", Approver: "sales.lead@acme.example", Via: "cli:test"},
				workflows.Decision{Department: "Marketing", Decision: "approve", Approver: "marketing.lead@acme.example", Via: "cli:test"},
				workflows.Decision{Department: "Analytics", Decision: "object", Approver: "analytics.lead@acme.example", LegalBasis: "page views record past visits as they happened", Via: "cli:test"})
			if got := query(`SELECT CONCAT(email, '/', name) FROM customers WHERE id = 1`); got != "jane.smith@example.com/Jane Smith" {
				t.Fatalf("crm: %s", got)
			}
			if got := query(`SELECT email FROM subscribers WHERE id = 10`); got != "jane.smith@example.com" {
				t.Fatalf("mailing: %s", got)
			}
			if got := query(`SELECT visitor_email FROM page_views WHERE id = 20`); got != "jane@example.com" {
				t.Fatalf("analytics corrected although it refused: %s", got)
			}
			answer := lastNotice(t, st, "FIX-1", "subject", "answer")
			for _, want := range []string{"correct email, name", "crm: corrected 1 in customers.name, corrected 1 in customers.email",
				"mailing: corrected 1 in subscribers.email", "Refused: analytics (page views record past visits as they happened)"} {
				if !strings.Contains(answer, want) {
					t.Errorf("the answer lacks %q: %s", want, answer)
				}
			}
			if strings.Contains(answer, "jane.smith") || strings.Contains(answer, "Jane Smith") {
				t.Errorf("the answer repeats the new values: %s", answer)
			}
			if n := lastNotice(t, st, "FIX-1", "Sales", "recipients"); !strings.Contains(n, "PayCo Payments Ltd") {
				t.Errorf("the recipients notice: %q", n)
			}
			for _, p := range res.Systems {
				if p.System != "analytics" && !p.Verified {
					t.Errorf("%s is not verified: %+v", p.System, p)
				}
			}

			// Restriction, then its lifting by a later request.
			kim := request("RES-1", "kim@example.com", domain.Restriction, domain.GDPR)
			kim.Scope = &domain.Scope{Purposes: []string{"customer-relationship"}, Grounds: "accuracy contested"}
			e.Run(t, kim)
			if got := query(`SELECT CASE WHEN restricted THEN 'yes' ELSE 'no' END FROM customers WHERE id = 3`); got != "yes" {
				t.Fatalf("Kim is not restricted: %s", got)
			}
			// The CRM's one flag stops every purpose: lifting one purpose
			// leaves it set (and says so), lifting all clears it.
			lift := request("RES-2", "kim@example.com", domain.Restriction, domain.GDPR)
			lift.Scope = &domain.Scope{Purposes: []string{"customer-relationship"}, Lift: true}
			res = e.Run(t, lift)
			if got := query(`SELECT CASE WHEN restricted THEN 'yes' ELSE 'no' END FROM customers WHERE id = 3`); got != "yes" {
				t.Fatalf("lifting one purpose cleared the flag of every purpose: %s", got)
			}
			if !strings.Contains(fmt.Sprint(res.Timeline), "crm holds the subject's data for customer-relationship but keeps its restriction of every purpose until every purpose (all) is lifted; Sales is told") {
				t.Fatalf("the timeline does not say the flag stays: %+v", res.Timeline)
			}
			liftAll := request("RES-3", "kim@example.com", domain.Restriction, domain.GDPR)
			liftAll.Scope = &domain.Scope{Purposes: []string{domain.AllPurposes}, Lift: true}
			e.Run(t, liftAll)
			if got := query(`SELECT CASE WHEN restricted THEN 'yes' ELSE 'no' END FROM customers WHERE id = 3`); got != "no" {
				t.Fatalf("Kim's restriction is not lifted: %s", got)
			}

			// Objections on other grounds go to the departments: refused for
			// Kim, with the reason; upheld for Max, whose processing stops.
			kimObj := request("OBJ-2", "kim@example.com", domain.Objection, domain.GDPR)
			kimObj.Scope = &domain.Scope{Purposes: []string{"customer-relationship"}, Grounds: "I no longer wish to be profiled"}
			res = e.Run(t, kimObj, workflows.Decision{Department: "Sales", Decision: "object", Approver: "sales.lead@acme.example",
				LegalBasis: "compelling legitimate grounds: the open contract needs it", Via: "cli:test"})
			if got := query(`SELECT CASE WHEN restricted THEN 'yes' ELSE 'no' END FROM customers WHERE id = 3`); got != "no" {
				t.Fatalf("a refused objection restricted Kim: %s", got)
			}
			if a := lastNotice(t, st, "OBJ-2", "subject", "answer"); !strings.Contains(a, "Refused: crm (compelling legitimate grounds: the open contract needs it)") {
				t.Fatalf("the refused objection's answer: %s", a)
			}
			maxObj := request("OBJ-3", "max@example.com", domain.Objection, domain.GDPR)
			maxObj.Scope = &domain.Scope{Purposes: []string{"customer-relationship"}, Grounds: "I moved abroad"}
			e.Run(t, maxObj, workflows.Decision{Department: "Sales", Decision: "approve", Approver: "sales.lead@acme.example", Via: "cli:test"})
			if got := query(`SELECT CASE WHEN restricted THEN 'yes' ELSE 'no' END FROM customers WHERE id = 5`); got != "yes" {
				t.Fatalf("an upheld objection did not stop Max's processing: %s", got)
			}

			// Objection to direct marketing: no sign-off, every marketing
			// purpose withdrawn, suppressed for marketing only.
			lee := request("OBJ-1", "lee@example.com", domain.Objection, domain.UKGDPR)
			lee.Scope = &domain.Scope{DirectMarketing: true, Channel: "e-mail"}
			if res := e.Run(t, lee); len(res.SignOffs) != 0 {
				t.Fatalf("an objection to direct marketing waited for sign-off: %+v", res.SignOffs)
			}
			if got := query(`SELECT CONCAT(CASE WHEN newsletter_ok THEN 'in' ELSE 'out' END, CASE WHEN share_ok THEN '/shared' ELSE '/not' END) FROM subscribers WHERE id = 13`); got != "out/shared" {
				t.Fatalf("Lee's flags: %s", got)
			}
			leeHash := e.Keys.Hash("email", "lee@example.com")
			if ok, err := st.SuppressedFor(ctx, "marketing", "email", leeHash); err != nil || !ok {
				t.Fatalf("Lee is not suppressed for marketing: %v", err)
			}
			if ok, err := st.Suppressed(ctx, "email", leeHash); err != nil || ok {
				t.Fatalf("Lee is suppressed as if erased: %v", err)
			}
			r, _ := st.GetRequest(ctx, "OBJ-1")
			if c, err := st.CurrentConsent(ctx, r.SubjectID, "newsletter"); err != nil || c.State != "withdrawn" || c.Channel != "e-mail" {
				t.Fatalf("Lee's ledger: %+v, %v", c, err)
			}

			// Opt-out of sale and sharing, unverified as the law allows: only
			// the system that shares data changes.
			max := request("OUT-1", "max@example.com", domain.OptOut, domain.CCPA)
			max.Scope = &domain.Scope{Channel: "Global Privacy Control"}
			max.IdentityVerified = false
			res = e.Run(t, max)
			if got := query(`SELECT CONCAT(CASE WHEN newsletter_ok THEN 'in' ELSE 'out' END, CASE WHEN share_ok THEN '/shared' ELSE '/not' END) FROM subscribers WHERE id = 14`); got != "in/not" {
				t.Fatalf("Max's flags: %s", got)
			}
			for _, p := range res.Systems {
				if (p.Done != "") != (p.System == "mailing") {
					t.Errorf("the opt-out reached %s: %+v", p.System, p)
				}
			}
			if want := domain.DueFor(domain.OptOut, domain.CCPA, max.ReceivedAt); !res.DueAt.Equal(want) || res.DueAt.Sub(max.ReceivedAt) < 15*24*time.Hour {
				t.Fatalf("due %s, want %s (15 business days)", res.DueAt, want)
			}
			r, _ = st.GetRequest(ctx, "OUT-1")
			if c, err := st.CurrentConsent(ctx, r.SubjectID, "ad-audiences"); err != nil || c.State != "withdrawn" || c.Channel != "Global Privacy Control" {
				t.Fatalf("Max's ledger: %+v, %v", c, err)
			}

			// DSR_RECORD_RIGHTS_HISTORIES (a folder) records each right's run
			// for the replay test.
			if dir := os.Getenv("DSR_RECORD_RIGHTS_HISTORIES"); dir != "" && db.driver == "postgres" {
				for id, name := range map[string]string{"FIX-1": "rectification", "RES-1": "restriction", "OBJ-1": "objection-marketing", "OUT-1": "opt-out-unverified"} {
					testengine.RecordHistory(t, e.RawClient, domain.WorkflowID(id), filepath.Join(dir, "request-v13-"+name+".json"))
				}
			}

			// Bob's rows are as they were.
			after := snapshot(t, conn, "customers", "id")
			if after["2"] != bob["2"] {
				t.Fatalf("Bob changed: %s -> %s", bob["2"], after["2"])
			}
			if got := query(`SELECT CONCAT(email, CASE WHEN newsletter_ok THEN '/in' ELSE '/out' END, CASE WHEN share_ok THEN '/shared' ELSE '/not' END) FROM subscribers WHERE id = 11`); got != "bob@example.com/in/shared" {
				t.Fatalf("Bob's subscription changed: %s", got)
			}
		})
	}
}

// lastNotice is the text of the last notice of a kind to a recipient
// about a request, as the console's inbox holds it.
func lastNotice(t *testing.T, st interface {
	Inbox(ctx context.Context, to string, limit int) ([]records.InboxEntry, error)
}, requestID, to, kind string) string {
	t.Helper()
	list, err := st.Inbox(context.Background(), to, 1000)
	if err != nil {
		t.Fatal(err)
	}
	text := ""
	for _, n := range list {
		if n.RequestID == requestID && n.Kind == kind {
			text = n.Text
		}
	}
	return text
}
