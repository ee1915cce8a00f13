package engine_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// Jane's CRM row (PostgreSQL) holds her customer number, assigned by the
// CRM, and a phone number she typed: Bob's, whose shop order (MariaDB) is
// keyed by it. Her session (Redis) names her work address, and the help
// desk (HTTP) holds the household's shared phone, Bob's again. The map
// trusts the CRM's customer number, the session's address and the help
// desk's phone as links, but not the CRM's phone column.
const linkedCompany = `departments:
  - name: Sales
    approvers: [sales.lead@acme.example]
systems:
  - name: crm
    department: Sales
    connector: sql
    sql: {driver: postgres, dsn_env: T_CRM_DSN}
    purposes: [customer-relationship]
    legal_basis: contract
    retention: 6 years
    tables:
      - name: customers
        primary_key: id
        identity: {email: email, phone: phone, customer_id: customer_no}
        links: [customer_id]
        erase: delete
      - name: invoices
        primary_key: id
        identity: {customer_id: customer_no}
        erase: mask
        erase_fields: [customer_no, billing_name]
        legal_hold: tax law keeps invoices 10 years
  - name: shop
    department: Sales
    connector: sql
    sql: {driver: mysql, dsn_env: T_SHOP_DSN}
    purposes: [orders]
    legal_basis: contract
    retention: 6 years
    tables:
      - {name: orders, primary_key: id, identity: {customer_id: customer_no, phone: phone}, erase: delete}
  - name: sessions
    department: Sales
    connector: redis
    redis: {url_env: T_SESSIONS_URL}
    purposes: [login]
    legal_basis: contract
    retention: 30 days
    keys:
      - {pattern: "PREFIXsession:{email}", erase: delete, links: {email: work_email}}
  - name: helpdesk
    department: Sales
    connector: http
    http: {base_url_env: T_HELPDESK_URL, auth: {type: none}}
    purposes: [support]
    legal_basis: contract
    retention: 2 years
    objects:
      - name: contacts
        lookup: {path: "/contacts?email={email}", match: email}
        links: {phone: household.phone}
        erase: delete
        erase_request: {method: DELETE, path: "/contacts/{record.id}"}
`

// helpdesk is a small help-desk API: contacts found by e-mail, deleted by id.
type helpdesk struct {
	mu       sync.Mutex
	contacts map[string]map[string]any
}

func (h *helpdesk) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case r.Method == "GET" && r.URL.Path == "/contacts":
		out := []map[string]any{}
		for _, c := range h.contacts {
			if c["email"] == r.URL.Query().Get("email") {
				out = append(out, c)
			}
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, "/contacts/"):
		delete(h.contacts, strings.TrimPrefix(r.URL.Path, "/contacts/"))
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// TestLinksReachOnlyTheSubject: a link is proposed only from a declared
// field, with where it was found; compliance confirms Jane's and rejects
// the shared phone; her access package holds none of Bob's data, and her
// erasure leaves every row of Bob's, on PostgreSQL, MariaDB, Redis and
// the HTTP system. The erasure's history is recorded for the replay test
// with DSR_RECORD_LINKS_HISTORY=$PWD/workflows/testdata/request-v5-confirmed-links.json.
func TestLinksReachOnlyTheSubject(t *testing.T) {
	const bobPhone = "+442079460000"
	crmDSN, shopDSN := testenv.PostgresSchema(t), testenv.MySQLDatabase(t)
	crm := exec(t, "postgres", crmDSN,
		`CREATE TABLE customers (id INT PRIMARY KEY, email TEXT, phone TEXT, customer_no TEXT, name TEXT)`,
		`CREATE TABLE invoices (id INT PRIMARY KEY, customer_no TEXT, billing_name TEXT)`,
		`INSERT INTO customers VALUES (1, 'jane@example.com', '`+bobPhone+`', 'C-1', 'Jane'), (2, 'bob@example.com', '`+bobPhone+`', 'C-2', 'Bob')`,
		`INSERT INTO invoices VALUES (1, 'C-1', 'Jane'), (2, 'C-2', 'Bob')`)
	shop := exec(t, "mysql", shopDSN,
		`CREATE TABLE orders (id INT PRIMARY KEY, customer_no VARCHAR(20), phone VARCHAR(20), item VARCHAR(50))`,
		`INSERT INTO orders VALUES (1, 'C-1', NULL, 'boots'), (2, NULL, '`+bobPhone+`', 'socks')`)
	redisURL, prefix := testenv.RedisPrefix(t)
	rdb := testenv.RedisClient(t, redisURL)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rdb.HSet(ctx, prefix+"session:jane@example.com", "work_email", "jane@work.example", "cart", "boots")
	rdb.HSet(ctx, prefix+"session:jane@work.example", "cart", "gloves")
	rdb.HSet(ctx, prefix+"session:bob@example.com", "cart", "socks")
	desk := &helpdesk{contacts: map[string]map[string]any{
		"h1": {"id": "h1", "email": "jane@example.com", "household": map[string]any{"phone": bobPhone}},
		"h2": {"id": "h2", "email": "bob@example.com", "household": map[string]any{"phone": bobPhone}},
	}}
	api := httptest.NewServer(desk)
	defer api.Close()

	m, err := config.Parse("linked.yaml", []byte(strings.ReplaceAll(linkedCompany, "PREFIX", prefix)))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"T_CRM_DSN": crmDSN, "T_SHOP_DSN": shopDSN, "T_SESSIONS_URL": redisURL, "T_HELPDESK_URL": api.URL}
	e, _ := startCompany(t, m, env)
	compliance := testengine.Compliance(ctx, "cli:alice")
	sales := testengine.Approver(ctx, "sales.lead@acme.example", "cli:sam")

	// run starts a request for Jane, checks what it proposes, confirms the
	// customer number and the work address, and rejects the shared phone.
	run := func(id string, kind domain.RequestType) workflows.RequestState {
		t.Helper()
		in := input(id, "jane@example.com")
		in.Type = kind
		if _, err := requests.Start(ctx, e.Client, in); err != nil {
			t.Fatal(err)
		}
		v := e.Await(t, id, "linked identities to confirm", func(v requests.View) bool { return v.WaitingFor == "compliance's confirmation of linked identities" })
		var proposed []string
		for _, p := range v.ProposedIdentities {
			proposed = append(proposed, p.Masked+" from "+p.System+" "+p.Location)
		}
		want := []string{"*** from crm customers.customer_no", "**********000 from helpdesk contacts field household.phone",
			"j***@work.example from sessions " + prefix + "session:{email} field work_email"}
		if strings.Join(proposed, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s proposed:\n%s\nwant:\n%s", id, strings.Join(proposed, "\n"), strings.Join(want, "\n"))
		}
		// An approver may not answer for compliance, and nothing unproposed can be confirmed.
		if err := requests.ConfirmIdentities(sales, e.Client, id, workflows.IdentityConfirmation{Confirm: []int{1, 2, 3}}); err == nil {
			t.Fatal("an approver confirmed linked identities")
		}
		if err := requests.ConfirmIdentities(compliance, e.Client, id, workflows.IdentityConfirmation{Confirm: []int{4}}); err == nil {
			t.Fatal("an identity that was never proposed was confirmed")
		}
		if err := requests.ConfirmIdentities(compliance, e.Client, id, workflows.IdentityConfirmation{Confirm: []int{1, 3}, Note: "the phone is the household's"}); err != nil {
			t.Fatal(err)
		}
		if kind == domain.Erasure {
			e.WaitFor(t, id, domain.StatusAwaitingSignOff)
			if err := requests.Decide(sales, e.Client, id, workflows.Decision{Department: "Sales", Decision: "approve"}); err != nil {
				t.Fatal(err)
			}
		}
		return e.Closed(t, id)
	}

	acc := run("LINK-ACC", domain.Access)
	if acc.Status != domain.StatusCompleted {
		t.Fatalf("access: %+v", acc)
	}
	pkg := packageText(t, e.Store, e.Keys, acc.Package)
	for _, want := range []string{"boots", "gloves", "C-1", "jane@work.example"} {
		if !strings.Contains(pkg, want) {
			t.Errorf("the access package lacks Jane's %q", want)
		}
	}
	for _, bob := range []string{"socks", "Bob", "bob@example.com", "C-2"} {
		if strings.Contains(pkg, bob) {
			t.Errorf("the access package holds Bob's %q", bob)
		}
	}

	era := run("LINK-ERA", domain.Erasure)
	if era.Status != domain.StatusCompleted {
		t.Fatalf("erasure: %+v", era)
	}
	count := func(db interface {
		Get(any, string, ...any) error
	}, q string) int {
		var n int
		if err := db.Get(&n, q); err != nil {
			t.Fatal(err)
		}
		return n
	}
	checks := []struct {
		what string
		got  int
		want int
	}{
		{"Jane's CRM row", count(crm, `SELECT count(*) FROM customers WHERE id = 1`), 0},
		{"Bob's CRM row", count(crm, `SELECT count(*) FROM customers WHERE id = 2 AND phone = '`+bobPhone+`' AND customer_no = 'C-2'`), 1},
		{"Jane's invoice, masked", count(crm, `SELECT count(*) FROM invoices WHERE id = 1 AND customer_no <> 'C-1' AND billing_name <> 'Jane'`), 1},
		{"Bob's invoice", count(crm, `SELECT count(*) FROM invoices WHERE id = 2 AND customer_no = 'C-2' AND billing_name = 'Bob'`), 1},
		{"Jane's order", count(shop, `SELECT count(*) FROM orders WHERE id = 1`), 0},
		{"Bob's order, keyed by the phone in Jane's row", count(shop, `SELECT count(*) FROM orders WHERE id = 2`), 1},
		{"Jane's sessions", int(rdb.Exists(ctx, prefix+"session:jane@example.com", prefix+"session:jane@work.example").Val()), 0},
		{"Bob's session", int(rdb.Exists(ctx, prefix+"session:bob@example.com").Val()), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	desk.mu.Lock()
	_, janeLeft := desk.contacts["h1"]
	_, bobLeft := desk.contacts["h2"]
	desk.mu.Unlock()
	if janeLeft || !bobLeft {
		t.Errorf("help desk: Jane's contact left %v, Bob's left %v", janeLeft, bobLeft)
	}
	var rejected []string
	for _, p := range era.ProposedIdentities {
		if p.Decision == "rejected" {
			rejected = append(rejected, string(p.Kind)+" by "+p.Actor)
		}
	}
	if strings.Join(rejected, ",") != "phone by cli:alice via test" {
		t.Errorf("rejections on record: %v", rejected)
	}
	if path := os.Getenv("DSR_RECORD_LINKS_HISTORY"); path != "" {
		testengine.RecordHistory(t, e.RawClient, domain.WorkflowID("LINK-ERA"), path)
	}
}

// packageText is every file of an access package, concatenated.
func packageText(t *testing.T, st *store.Store, keys records.Sealer, location string) string {
	t.Helper()
	files := testenv.Unzip(t, location, st, keys)
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(files)) {
		b.WriteString(files[name])
	}
	return b.String()
}
