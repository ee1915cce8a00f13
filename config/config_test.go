package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDataMap(t *testing.T) {
	good := `departments:
  - name: Finance
    channel: "#finance"
    approvers: [U0123456789, controller@acme.example]
  - name: Sales
    approvers: [sales@acme.example]
`
	f, err := Parse("acme.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	deps := f.StoreDepartments()
	if len(deps) != 2 || deps[0].Name != "Finance" || len(deps[0].Approvers) != 2 || deps[1].Channel != "" {
		t.Fatalf("departments = %+v", deps)
	}

	tests := []struct {
		name, yaml, want string
	}{
		{"empty", ``, "acme.yaml: file is empty"},
		{"syntax", "departments: [", "acme.yaml:1: did not find expected node content"},
		{"unknown field", "departments:\n  - name: Sales\n    aprovers: [a@b.co]\n", `acme.yaml:3: departments[0].aprovers: unknown field "aprovers" in a department`},
		{"unknown top field", "deparments: []\n", `acme.yaml:1: deparments: unknown field "deparments" at the top level`},
		{"unknown block field", "departments:\n  - name: Sales\n    aprovers:\n      - a@b.co\n", `acme.yaml:3: departments[0].aprovers: unknown field "aprovers" in a department`},
		{"bad name", "departments:\n  - name: \"\"\n    approvers: [a@b.co]\n", `acme.yaml:2: departments[0].name: "" must be`},
		{"duplicate", "departments:\n  - name: Sales\n    approvers: [a@b.co]\n  - name: sales\n    approvers: [a@b.co]\n", `acme.yaml:4: departments[1].name: "sales" is declared twice (also at departments[0])`},
		{"no approvers", "departments:\n  - name: Sales\n", "acme.yaml:2: departments[0].approvers: at least one approver is required"},
		{"bad approver", "departments:\n  - name: Sales\n    approvers: [bob]\n", `acme.yaml:3: departments[0].approvers[0]: "bob" must be a Slack user id`},
		{"bad channel", "departments:\n  - name: Sales\n    channel: sales team\n    approvers: [a@b.co]\n", `departments[0].channel: "sales team" must be a Slack channel`},
		{"wrong type", "departments: {name: Sales}\n", "acme.yaml:1: departments: a mapping was given; this field takes a list of departments"},
		{"compliance channel", "compliance: {channel: privacy team}\n", `acme.yaml: compliance.channel: "privacy team" must be a Slack channel`},
		{"compliance lead", "compliance: {channel: \"#privacy\", lead: boss}\n", `acme.yaml: compliance.lead: "boss" must be a Slack user id`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("acme.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file err = %v", err)
	}
}

func TestSettings(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "map.yaml")
	os.WriteFile(cfg, []byte("departments: []\n"), 0o600)
	goodKey := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string // substrings of the error; none means valid
	}{
		{"valid from env", map[string]string{"DATABASE_URL": "postgres://dsr@db:5432/dsr", "DSR_CONFIG": cfg, "DSR_MASTER_KEY": goodKey, "DSR_EXPORT_DIR": dir}, nil, nil},
		{"flags override env", map[string]string{"DATABASE_URL": "mysql://x", "DSR_CONFIG": cfg, "DSR_MASTER_KEY": goodKey, "DSR_EXPORT_DIR": dir}, []string{"--database-url", "postgres://dsr@db/dsr"}, nil},
		{"everything missing", nil, nil, []string{"--database-url (DATABASE_URL): required", "--config (DSR_CONFIG): required", "DSR_MASTER_KEY or --master-key-file (DSR_MASTER_KEY_FILE), or a KMS-wrapped key (--master-key-wrapped-file): required", "--export-dir (DSR_EXPORT_DIR): required"}},
		{"bad values", map[string]string{"DATABASE_URL": "sqlite://x.db", "DSR_CONFIG": filepath.Join(dir, "nope.yaml"), "DSR_MASTER_KEY": "c2hvcnQ=", "DSR_TEMPORAL_ADDRESS": "localhost", "DSR_LOG_LEVEL": "loud", "DSR_EXPORT_DIR": cfg},
			nil, []string{"--export-dir (DSR_EXPORT_DIR): " + cfg + " is not a directory", `--database-url (DATABASE_URL): scheme "sqlite"`, "--config (DSR_CONFIG): cannot read", "DSR_MASTER_KEY: must decode to 32 bytes", `--temporal-address (DSR_TEMPORAL_ADDRESS): "localhost" is not host:port`, `--log-level (DSR_LOG_LEVEL): "loud"`}},
		{"tls half", map[string]string{"DATABASE_URL": "postgres://h/d", "DSR_CONFIG": cfg, "DSR_MASTER_KEY": goodKey, "DSR_TEMPORAL_TLS_CERT": cfg}, nil, []string{"give both or neither"}},
		{"two keys", map[string]string{"DATABASE_URL": "postgres://h/d", "DSR_CONFIG": cfg, "DSR_MASTER_KEY": goodKey}, []string{"--master-key-file", cfg}, []string{"give one, not both"}},
		{"bad namespace", map[string]string{"DATABASE_URL": "postgres://h/d", "DSR_CONFIG": cfg, "DSR_MASTER_KEY": goodKey}, []string{"--namespace", "no spaces"}, []string{`--namespace (DSR_NAMESPACE): "no spaces"`}},
		{"codec origin with a path", map[string]string{"DATABASE_URL": "postgres://h/d", "DSR_CONFIG": cfg, "DSR_MASTER_KEY": goodKey, "DSR_EXPORT_DIR": dir},
			[]string{"--codec-origins", "https://ui.example.com, https://ui.example.com/namespaces"}, []string{`--codec-origins (DSR_CODEC_ORIGINS): "https://ui.example.com/namespaces" is not an origin`}},
		{"trusted proxies", map[string]string{"DATABASE_URL": "postgres://h/d", "DSR_CONFIG": cfg, "DSR_MASTER_KEY": goodKey, "DSR_EXPORT_DIR": dir},
			[]string{"--trusted-proxies", "10.0.0.0/8, 192.168.1.1, 2001:db8::/48"}, nil},
		{"callback give-up too short", map[string]string{"DATABASE_URL": "postgres://h/d", "DSR_CONFIG": cfg, "DSR_MASTER_KEY": goodKey, "DSR_EXPORT_DIR": dir},
			[]string{"--callback-give-up", "5s"}, []string{`--callback-give-up (DSR_CALLBACK_GIVE_UP): "5s" must be a duration from 1m to 720h`}},
		{"workflow cache that is not a size", map[string]string{"DATABASE_URL": "postgres://h/d", "DSR_CONFIG": cfg, "DSR_MASTER_KEY": goodKey, "DSR_EXPORT_DIR": dir},
			[]string{"--workflow-cache", "0"}, []string{`--workflow-cache (DSR_WORKFLOW_CACHE): "0" is not a number of requests from 1 to 1000000`}},
		{"a proxy that is not a network", map[string]string{"DATABASE_URL": "postgres://h/d", "DSR_CONFIG": cfg, "DSR_MASTER_KEY": goodKey, "DSR_EXPORT_DIR": dir},
			[]string{"--trusted-proxies", "10.0.0.0/33"}, []string{`--trusted-proxies (DSR_TRUSTED_PROXIES): "10.0.0.0/33" is neither an address nor a network`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"DATABASE_URL", "DSR_CONFIG", "DSR_MASTER_KEY", "DSR_MASTER_KEY_FILE", "DSR_TEMPORAL_ADDRESS", "DSR_LOG_LEVEL", "DSR_TEMPORAL_TLS_CERT", "DSR_NAMESPACE", "DSR_EXPORT_DIR"} {
				t.Setenv(k, tt.env[k])
				if _, ok := tt.env[k]; !ok {
					os.Unsetenv(k)
				}
			}
			var s Settings
			fs := flag.NewFlagSet("worker", flag.ContinueOnError)
			s.Bind(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := s.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if len(s.MasterKey()) != 32 {
					t.Fatal("master key not decoded")
				}
				return
			}
			if err == nil {
				t.Fatal("invalid settings accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

const goodSystems = `departments:
  - name: Sales
    approvers: [sales@acme.example]
systems:
  - name: crm
    department: Sales
    connector: sql
    sql: {driver: sqlite, dsn_env: ACME_CRM_DSN}
    purposes: [customer-relationship, newsletter]
    legal_basis: contract
    recipients: [MailCo Ltd (processor)]
    retention: 6 years
    signoff_for: [access]
    tables:
      - name: customers
        primary_key: id
        identity: {email: email, customer_id: customer_no}
        fields: {name: [contact]}
        erase: delete
        consent: {newsletter: newsletter}
      - name: invoices
        primary_key: id
        identity: {customer_id: customer_no}
        erase: mask
        erase_fields: [customer_no, billing_name]
        legal_hold: tax law keeps invoices for 10 years
      - name: addresses
        primary_key: id
        via: [addresses.customer_id -> customers.id]
        erase: delete
      - name: deliveries
        primary_key: id
        via: [deliveries.address_id -> addresses.id]
        erase: delete
`

func TestParseSystems(t *testing.T) {
	f, err := Parse("map.yaml", []byte(goodSystems))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Systems) != 1 || len(f.Systems[0].Tables) != 4 || f.Systems[0].Tables[1].LegalHold == "" || f.Systems[0].Tables[3].Via[0] != "deliveries.address_id -> addresses.id" {
		t.Fatalf("systems = %+v", f.Systems)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown department", "department: Sales", "department: Legal", `map.yaml:6: systems[0].department: "Legal" is not a department`},
		{"unknown connector", "connector: sql", "connector: ftp", `systems[0].connector: "ftp" must be one of sql`},
		{"secret in file", "dsn_env: ACME_CRM_DSN", "dsn_env: postgres://u:pw@h/db", `systems[0].sql.dsn_env: "postgres://u:pw@h/db" must name an environment variable`},
		{"unknown driver", "driver: sqlite", "driver: oracle", `systems[0].sql.driver: "oracle"`},
		{"no purposes", "purposes: [customer-relationship, newsletter]", "purposes: []", "purposes, legal_basis and retention are required"},
		{"bad signoff kind", "signoff_for: [access]", "signoff_for: [everything]", `systems[0].signoff_for[0]: "everything"`},
		{"transfer without safeguard", "signoff_for: [access]", "signoff_for: [access]\n    transfers: [{to: \"ScoreCo Inc., United States\"}]", `map.yaml:14: systems[0].transfers[0].safeguard: is missing`},
		{"transfer to no one", "signoff_for: [access]", "signoff_for: [access]\n    transfers: [{safeguard: adequacy decision}]", `systems[0].transfers[0].to: is missing`},
		{"category not a name", "signoff_for: [access]", "signoff_for: [access]\n    categories: [\"Contact Details\"]", `systems[0].categories[0]: "Contact Details" must be a category name`},
		{"automated decisions as a list", "signoff_for: [access]", "signoff_for: [access]\n    automated_decisions: [scoring]", `systems[0].automated_decisions: a list was given`},
		{"unreachable table", "identity: {customer_id: customer_no}\n", "identity: {}\n", `systems[0].tables[1].identity: table "invoices" is unreachable`},
		{"unknown identity kind", "identity: {email: email, customer_id: customer_no}", "identity: {ssn: ssn}", "systems[0].tables[0].identity.ssn: unknown identity kind"},
		{"injection in a column", "primary_key: id\n        identity: {email", "primary_key: \"id; DROP TABLE x\"\n        identity: {email", `systems[0].tables[0].primary_key: "id; DROP TABLE x" is not a plain column name`},
		{"unknown strategy", "erase: delete", "erase: shred", `systems[0].tables[0].erase: "shred"`},
		{"text for a list", "legal_basis: contract", "legal_basis: [contract, consent]", "map.yaml:10: systems[0].legal_basis: a list was given; this field takes a single value (text)"},
		{"list for a mapping", "identity: {email: email, customer_id: customer_no}", "identity: [email]", "systems[0].tables[0].identity: a list was given; this field takes a mapping, e.g. {key: value}"},
		{"key column twice", "primary_key: id\n        identity: {email", "primary_key: [id, id]\n        identity: {email", `systems[0].tables[0].primary_key: "id" is listed twice`},
		{"key as a mapping", "primary_key: id\n        identity: {email", "primary_key: {id: x}\n        identity: {email", `map.yaml:16: systems[0].tables[0].primary_key: a column name, or a list of column names, is expected here`},
		{"bare yaml null", "erase: delete", "erase: null", `systems[0].tables[0].erase: is missing; one of delete, update, keep, null, mask, hmac (write "null" in quotes`},
		{"mask keeps identity", "erase_fields: [customer_no, billing_name]", "erase_fields: [billing_name]", `must include the identity column "customer_no"`},
		{"keep without hold", "erase: mask\n        erase_fields: [customer_no, billing_name]\n        legal_hold: tax law keeps invoices for 10 years", "erase: keep", "erase: keep needs the legal hold"},
		{"consent for unknown purpose", "consent: {newsletter: newsletter}", "consent: {profiling: profiling}", `purpose "profiling" is not among the system's purposes`},
		{"duplicate table", "name: invoices", "name: customers", `table "customers" is declared twice`},
		{"no tables", "    tables:\n", "    tablez:\n", `unknown field "tablez" in a system`},
		{"link to unknown table", "via: [addresses.customer_id -> customers.id]", "via: [addresses.customer_id -> clients.id]", `map.yaml:29: systems[0].tables[2].via[0]: "clients" is not a table of this system`},
		{"link without arrow", "via: [addresses.customer_id -> customers.id]", "via: [addresses.customer_id = customers.id]", `systems[0].tables[2].via[0]: "addresses.customer_id = customers.id": a link is written child_table.column -> parent_table.column`},
		{"link without column", "via: [addresses.customer_id -> customers.id]", "via: [addresses -> customers.id]", `"addresses" must be table.column (or schema.table.column)`},
		{"link elsewhere", "via: [addresses.customer_id -> customers.id]", "via: [invoices.customer_no -> customers.id]", `does not involve table addresses`},
		{"link to itself", "via: [addresses.customer_id -> customers.id]", "via: [addresses.parent_id -> addresses.id]", `joins addresses to itself`},
		{"links in a circle", "via: [addresses.customer_id -> customers.id]", "via: [addresses.delivery_id -> deliveries.id]", "systems[0].tables[2].via: links go round in a circle: addresses → deliveries → addresses"},
		{"unreachable", "via: [deliveries.address_id -> addresses.id]\n", "\n", `table "deliveries" is unreachable`},
		{"link not an identity column", "identity: {email: email, customer_id: customer_no}", "identity: {email: email, customer_id: customer_no}\n        links: [phone]",
			`systems[0].tables[0].links[0]: "phone" is not an identity column of table "customers"`},
		{"masked child keeps the link", "via: [addresses.customer_id -> customers.id]\n        erase: delete", "via: [addresses.customer_id -> customers.id]\n        erase: mask\n        erase_fields: [city]", `must include the link column "customer_id"`},
		{"the first map's reference", "via: [addresses.customer_id -> customers.id]", "reference: {table: customers, column: customer_id, references: id}",
			`map.yaml:29: systems[0].tables[2].reference: was replaced by via`},
		{"unsalted hash", "erase: mask\n        erase_fields: [customer_no", "erase: hash\n        erase_fields: [customer_no", `systems[0].tables[1].erase: hash was an unsalted SHA-256`},
		{"update without strategies", "erase: mask\n        erase_fields: [customer_no", "erase: update\n        erase_fields: [customer_no", `systems[0].tables[1].erase_fields[0]: says no strategy`},
		{"unknown field strategy", "erase_fields: [customer_no, billing_name]", "erase_fields: {customer_no: null, billing_name: shred}", `map.yaml:25: systems[0].tables[1].erase_fields.billing_name: "shred" must be null, mask, hmac or {set: value}`},
		{"fixed value badly written", "erase_fields: [customer_no, billing_name]", "erase_fields: {customer_no: null, billing_name: {put: x}}", `map.yaml:25: systems[0].tables[1].erase_fields: billing_name: null, mask, hmac or {set: value} is expected here`},
		{"column twice", "erase_fields: [customer_no, billing_name]", "erase_fields: [customer_no, customer_no]", `systems[0].tables[1].erase_fields[1]: "customer_no" is listed twice`},
		{"schema too deep", "name: invoices", "name: a.b.invoices", `"a.b.invoices" is not a plain table name (or schema.table)`},
		{"no identity column", "identity: {email: email, customer_id: customer_no}", "identity: {email: [], customer_id: customer_no}", `systems[0].tables[0].identity.email: names no column`},
		{"unknown kind lists the map's", "identity: {email: email, customer_id: customer_no}", "identity: {loyalty: card_no}", "unknown identity kind; use email, phone, customer_id"},
		{"an error points at the table's own field", "erase_fields: [customer_no, billing_name]", "erase_fields: [billing_name]", `map.yaml:25: systems[0].tables[1].erase_fields: must include`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(goodSystems, tt.old) {
				t.Fatalf("test edits %q, which the map lacks", tt.old)
			}
			_, err := Parse("map.yaml", []byte(strings.Replace(goodSystems, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant %q", err, tt.want)
			}
		})
	}
}

func TestReminders(t *testing.T) {
	base := "departments: []\n"
	f, err := Parse("m.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := f.ReminderPolicy(); err != nil || !p.Halfway || len(p.Before) != 2 || p.EscalateEvery != 24*time.Hour {
		t.Fatalf("default policy = %+v, %v", p, err)
	}
	f, err = Parse("m.yaml", []byte(base+"reminders:\n  halfway: false\n  before: [10d, 36h]\n  escalate_every: 12h\n  close_unverified_after: 14d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := f.ReminderPolicy(); err != nil || p.Halfway || p.Before[0] != 240*time.Hour || p.Before[1] != 36*time.Hour || p.EscalateEvery != 12*time.Hour ||
		p.CloseUnverifiedAfter != 14*24*time.Hour {
		t.Fatalf("policy = %+v, %v", p, err)
	}
	for yaml, want := range map[string]string{
		"reminders:\n  before: [soon]\n  escalate_every: 1d\n":                `m.yaml: reminders.before[0]: "soon" is not a duration`,
		"reminders:\n  before: [1d]\n":                                        "m.yaml: reminders.escalate_every: is missing",
		"reminders:\n  escalate_every: 10m\n":                                 "m.yaml: reminders.escalate_every: must be at least 1h",
		"reminders:\n  before: [-2d]\n  escalate_every: 1d\n":                 `reminders.before[0]: "-2d" is not a whole number of days`,
		"reminders:\n  escalate_every: 1d\n  close_unverified_after: 2h\n":    "m.yaml: reminders.close_unverified_after: must be at least 1d",
		"reminders:\n  escalate_every: 1d\n  close_unverified_after: month\n": `reminders.close_unverified_after: "month" is not a duration`,
	} {
		if _, err := Parse("m.yaml", []byte(base+yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", yaml, err, want)
		}
	}
}

func TestParseRedisSystems(t *testing.T) {
	good := `departments:
  - name: Sales
    approvers: [sales@acme.example]
systems:
  - name: sessions
    department: Sales
    connector: redis
    redis: {url_env: SESSIONS_URL}
    purposes: [login]
    legal_basis: contract
    retention: 30 days
    keys:
      - {pattern: "session:{email}:*", erase: delete}
      - {pattern: "fraud:{customer_id}", erase: keep, legal_hold: fraud prevention}
`
	if _, err := Parse("r.yaml", []byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string][2]string{
		"no placeholder":    {`session:{email}:*`, `session:*`},
		"two placeholders":  {`session:{email}:*`, `session:{email}:{phone}`},
		"bad strategy":      {`erase: delete}`, `erase: mask}`},
		"keep needs hold":   {`erase: keep, legal_hold: fraud prevention}`, `erase: keep}`},
		"no url variable":   {`redis: {url_env: SESSIONS_URL}`, `redis: {url_env: "redis://h:6379"}`},
		"unknown link kind": {`erase: delete}`, `erase: delete, links: {ssn: ssn}}`},
		"empty link field":  {`erase: delete}`, `erase: delete, links: {customer_id: ""}}`},
	} {
		_, err := Parse("r.yaml", []byte(strings.Replace(good, tc[0], tc[1], 1)))
		want := map[string]string{
			"no placeholder": "systems[0].keys[0].pattern", "two placeholders": "exactly one identity placeholder",
			"bad strategy": `"mask" must be delete or keep`, "keep needs hold": "keys[1].legal_hold", "no url variable": "systems[0].redis.url_env",
			"unknown link kind": "systems[0].keys[0].links.ssn: unknown identity kind", "empty link field": "systems[0].keys[0].links.customer_id: names the hash field",
		}[name]
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
	}
}

// TestDataMapV2Forms: the map's own identity kinds, several columns per
// kind, schema-qualified tables and per-field strategies, read as written;
// and each way to get them wrong named with its line.
func TestDataMapV2Forms(t *testing.T) {
	const good = `departments:
  - {name: Sales, approvers: [sales@acme.example]}
identity_kinds:
  - {name: loyalty_id, pattern: 'L[0-9]{8}', uppercase: true}
systems:
  - name: shop
    department: Sales
    connector: sql
    sql: {driver: postgres, dsn_env: SHOP_DSN}
    purposes: [orders]
    legal_basis: contract
    retention: 6 years
    tables:
      - name: sales.customers
        primary_key: id
        identity: {email: [email, alt_email], loyalty_id: loyalty_no}
        erase: update
        erase_fields: {email: hmac, alt_email: null, loyalty_no: ~, name: mask, status: {set: erased}}
        legal_hold: contract records
      - name: addresses
        primary_key: id
        via: [sales.customers.address_id -> addresses.id]
        erase: delete
        shared: {city: mask}
`
	f, err := Parse("v2.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Systems[0].Tables[0]
	if got := fmt.Sprint(c.Identity["email"], c.EraseFields); got != "[email alt_email] [{email hmac } {alt_email null } {loyalty_no null } {name mask } {status set erased}]" {
		t.Fatalf("read as %s", got)
	}
	kinds, err := f.CustomKinds()
	if err != nil || len(kinds) != 1 || !kinds[0].Pattern.MatchString("L12345678") || kinds[0].Pattern.MatchString("xL12345678") {
		t.Fatalf("kinds %+v, %v", kinds, err)
	}
	l, err := ParseLink(f.Systems[0].Tables[1].Via[0])
	if err != nil || l != (Link{Child: "sales.customers", ChildColumn: "address_id", Parent: "addresses", ParentColumn: "id"}) {
		t.Fatalf("link %+v, %v", l, err)
	}
	for _, tt := range []struct{ name, old, new, want string }{
		{"kind is built in", "name: loyalty_id, pattern", "name: email, pattern", `v2.yaml:4: identity_kinds[0].name: identity kind "email" is built in`},
		{"kind pattern broken", "pattern: 'L[0-9]{8}'", "pattern: 'L[0-9'", `v2.yaml:4: identity_kinds[0].pattern: "L[0-9" is not a regular expression`},
		{"kind without pattern", "pattern: 'L[0-9]{8}', ", "", `identity_kinds[0].pattern: is missing`},
		{"kind badly named", "name: loyalty_id, pattern", "name: Loyalty-ID, pattern", `identity kind "Loyalty-ID" must be 1-32 lower-case letters`},
		{"undeclared kind", "loyalty_id: loyalty_no}", "member_id: loyalty_no}", `v2.yaml:16: systems[0].tables[0].identity.member_id: unknown identity kind; use email, phone, customer_id, loyalty_id`},
		{"identity column left as it was", "alt_email: null, ", "", `must include the identity column "alt_email"`},
		{"shared on a kept table", "erase: delete\n        shared", "erase: keep\n        legal_hold: x\n        shared", `erase: keep changes nothing`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.old) {
				t.Fatalf("test edits %q, which the map lacks", tt.old)
			}
			_, err := Parse("v2.yaml", []byte(strings.Replace(good, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant %q", err, tt.want)
			}
		})
	}
}

// TestPackagesAndErasure: the download policy and the evidence hold have
// defaults, take durations and counts within bounds, and name the file,
// line and field when wrong.
func TestPackagesAndErasure(t *testing.T) {
	base := "departments: []\n"
	f, err := Parse("m.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := f.PackagePolicy(); err != nil || p.ExpireAfter != 30*24*time.Hour || p.Downloads != 5 {
		t.Fatalf("default packages = %+v, %v", p, err)
	}
	if a, err := f.Aftercare(); err != nil || a.Hold != 30*24*time.Hour || len(a.Checks) != 2 || a.Checks[0] != 7*24*time.Hour || a.Checks[1] != 30*24*time.Hour {
		t.Fatalf("default aftercare = %+v, %v", a, err)
	}
	f, err = Parse("m.yaml", []byte(base+"packages: {expire_after: 7d, downloads: 2}\nerasure: {evidence_hold: 60d, resurrection_checks: [1d, 60d]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := f.PackagePolicy(); p.ExpireAfter != 7*24*time.Hour || p.Downloads != 2 {
		t.Fatalf("packages = %+v", p)
	}
	if a, _ := f.Aftercare(); a.Hold != 60*24*time.Hour || len(a.Checks) != 2 || a.Checks[0] != 24*time.Hour {
		t.Fatalf("aftercare = %+v", a)
	}
	f, _ = Parse("m.yaml", []byte(base+"erasure: {evidence_hold: \"0\", resurrection_checks: []}\n"))
	if a, err := f.Aftercare(); err != nil || a.Hold != 0 || len(a.Checks) != 0 {
		t.Fatalf("no hold, no checks = %+v, %v", a, err)
	}
	for yaml, want := range map[string]string{
		"packages:\n  expire_after: 10m\n":   `m.yaml:3: packages.expire_after: "10m" must be between 1h and 365d`,
		"packages:\n  expire_after: 400d\n":  `packages.expire_after: "400d" must be between 1h and 365d`,
		"packages:\n  expire_after: soon\n":  `packages.expire_after: "soon" is not a duration`,
		"packages:\n  downloads: 1000\n":     `m.yaml:3: packages.downloads: 1000 must be between 1 and 100`,
		"packages:\n  downloads: many\n":     `downloads`,
		"erasure:\n  evidence_hold: 10y\n":   `m.yaml:3: erasure.evidence_hold: "10y" is not a duration`,
		"erasure:\n  evidence_hold: 3000d\n": `erasure.evidence_hold: "3000d" is longer than 6 years`,
		"erasure:\n  hold_evidence: 30d\n":   `unknown field "hold_evidence"`,
	} {
		if _, err := Parse("m.yaml", []byte(base+yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", yaml, err, want)
		}
	}
}
