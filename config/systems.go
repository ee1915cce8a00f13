package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dsrengine/dsr/domain"
)

var (
	systemName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	tableName  = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	envName    = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	purpose    = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
)

var (
	connectorTypes = []string{"sql", "http", "redis", "manual"}
	sqlDrivers     = []string{"postgres", "mysql", "sqlite"}
	strategies     = []string{"delete", "update", "keep", "null", "mask", "hmac"}
)

// validateSystems checks every system against the departments (by lower-case
// name) and itself. Whether the tables and columns exist is checked when
// the connector connects, since that needs the database.
func (f *File) validateSystems(departments map[string]int) error {
	names := map[string]int{}
	for i, s := range f.Systems {
		field := fmt.Sprintf("systems[%d]", i)
		fail := func(sub, format string, args ...any) error {
			return &Error{File: f.path, Line: f.lineOf(field+sub, s.line), Field: field + sub, Msg: fmt.Sprintf(format, args...)}
		}
		if !systemName.MatchString(s.Name) {
			return fail(".name", "%q must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter", s.Name)
		}
		if first, dup := names[s.Name]; dup {
			return fail(".name", "%q is declared twice (also at systems[%d])", s.Name, first)
		}
		names[s.Name] = i
		if _, ok := departments[strings.ToLower(s.Department)]; !ok {
			return fail(".department", "%q is not a department of this data map", s.Department)
		}
		if !slices.Contains(connectorTypes, s.Connector) {
			return fail(".connector", "%q must be one of %s", s.Connector, strings.Join(connectorTypes, ", "))
		}
		for j, p := range s.Purposes {
			if !purpose.MatchString(p) {
				return fail(fmt.Sprintf(".purposes[%d]", j), "%q must be a purpose name of lower-case letters, digits, '_' or '-'", p)
			}
		}
		if len(s.Purposes) == 0 || strings.TrimSpace(s.LegalBasis) == "" || strings.TrimSpace(s.Retention) == "" {
			return fail("", "purposes, legal_basis and retention are required: the access package tells the subject why the data is held and for how long")
		}
		for j, c := range s.Categories {
			if !purpose.MatchString(c) {
				return fail(fmt.Sprintf(".categories[%d]", j), "%q must be a category name of lower-case letters, digits, '_' or '-'", c)
			}
		}
		for j, t := range s.Transfers {
			switch {
			case strings.TrimSpace(t.To) == "":
				return fail(fmt.Sprintf(".transfers[%d].to", j), "is missing: the recipient and the country the data goes to")
			case strings.TrimSpace(t.Safeguard) == "":
				return fail(fmt.Sprintf(".transfers[%d].safeguard", j), "is missing: the subject is told how the transfer is protected (an adequacy decision, standard contractual clauses, binding corporate rules)")
			}
		}
		for j, k := range s.SignOffFor {
			// Erasure, rectification and an objection on other grounds
			// always need the department; an opt-out, a limit and an
			// objection to direct marketing never wait for one.
			if !slices.Contains(optionalSignOff, domain.RequestType(k)) {
				return fail(fmt.Sprintf(".signoff_for[%d]", j), "%q must be one of %s", k, domain.JoinNames(optionalSignOff))
			}
		}
		if s.RateLimit != "" {
			if s.Connector == "manual" {
				return fail(".rate_limit", "a manual system is worked by people: there is nothing to rate-limit")
			}
			if _, err := ParseRate(s.RateLimit); err != nil {
				return fail(".rate_limit", "%v", err)
			}
		}
		if other := foreignSettings(s); other != "" {
			return fail("."+other, "belongs to %s systems; this one is %s", connectorOf[other], s.Connector)
		}
		validate := map[string]func(System, func(string, string, ...any) error) error{
			"sql": f.validateSQL, "http": f.validateHTTP, "redis": f.validateRedis, "manual": f.validateManual,
		}[s.Connector]
		if err := validate(s, fail); err != nil {
			return err
		}
	}
	return nil
}

func (f *File) validateSQL(s System, fail func(string, string, ...any) error) error {
	if s.SQL == nil {
		return fail(".sql", "an sql system needs driver and dsn_env")
	}
	if !slices.Contains(sqlDrivers, s.SQL.Driver) {
		return fail(".sql.driver", "%q must be one of %s", s.SQL.Driver, strings.Join(sqlDrivers, ", "))
	}
	if !envName.MatchString(s.SQL.DSNEnv) {
		return fail(".sql.dsn_env", "%q must name an environment variable (the connection string is a secret and stays out of this file)", s.SQL.DSNEnv)
	}
	if len(s.Tables) == 0 {
		return fail(".tables", "an sql system needs at least one table")
	}
	tables := map[string]bool{}
	for j, t := range s.Tables {
		tf := fmt.Sprintf(".tables[%d]", j)
		if !tableName.MatchString(t.Name) {
			return fail(tf+".name", "%q is not a plain table name (or schema.table)", t.Name)
		}
		if tables[strings.ToLower(t.Name)] {
			return fail(tf+".name", "table %q is declared twice", t.Name)
		}
		tables[strings.ToLower(t.Name)] = true
	}
	for j, t := range s.Tables {
		if err := f.validateTable(t, fmt.Sprintf(".tables[%d]", j), s, tables, fail); err != nil {
			return err
		}
	}
	return checkVia(s.Tables, fail)
}

// validateTable checks one table of an SQL system; tables holds the
// system's table names, lower-cased.
func (f *File) validateTable(t Table, tf string, s System, tables map[string]bool, fail func(string, string, ...any) error) error {
	plain := func(field, col string) error {
		if !identifier.MatchString(col) {
			return fail(field, "%q is not a plain column name", col)
		}
		return nil
	}
	if len(t.PrimaryKey) == 0 {
		return fail(tf+".primary_key", "is missing: the column (or list of columns) that identifies one row")
	}
	for k, col := range t.PrimaryKey {
		if err := plain(tf+".primary_key", col); err != nil {
			return err
		}
		if slices.Contains(t.PrimaryKey[:k], col) {
			return fail(tf+".primary_key", "%q is listed twice", col)
		}
	}
	if t.Reference.Kind != 0 {
		return fail(tf+".reference", "was replaced by via, a list of links written child.column -> parent.column; for example reference: {table: customers, column: customer_id, references: id} on addresses is now via: [addresses.customer_id -> customers.id]")
	}
	if len(t.Identity) == 0 && len(t.Via) == 0 {
		return fail(tf+".identity", "table %q is unreachable: it needs an identity column (email, phone, customer_id) or a link (via) to a table that has one", t.Name)
	}
	for _, kind := range sortedKeys(t.Identity) {
		if !f.knownKind(kind) {
			return fail(tf+".identity."+kind, "unknown identity kind; use %s", f.kindNames())
		}
		if len(t.Identity[kind]) == 0 {
			return fail(tf+".identity."+kind, "names no column")
		}
		for _, col := range t.Identity[kind] {
			if err := plain(tf+".identity."+kind, col); err != nil {
				return err
			}
		}
	}
	var childCols []string // columns of this table that hold a link's key
	for k, v := range t.Via {
		vf := fmt.Sprintf("%s.via[%d]", tf, k)
		e, err := ParseLink(v)
		if err != nil {
			return fail(vf, "%q: %v", v, err)
		}
		self := strings.ToLower(t.Name)
		switch {
		case strings.EqualFold(e.Child, e.Parent):
			return fail(vf, "%q joins %s to itself: a row of the subject's cannot make another row of the same table theirs", v, t.Name)
		case strings.EqualFold(e.Child, self):
			childCols = append(childCols, e.ChildColumn)
			if !tables[strings.ToLower(e.Parent)] {
				return fail(vf, "%q is not a table of this system", e.Parent)
			}
		case strings.EqualFold(e.Parent, self):
			if !tables[strings.ToLower(e.Child)] {
				return fail(vf, "%q is not a table of this system", e.Child)
			}
		default:
			return fail(vf, "%q does not involve table %s; a link is written on one of the two tables it joins", v, t.Name)
		}
	}
	for k, kind := range t.Links {
		if _, ok := t.Identity[kind]; !ok {
			return fail(fmt.Sprintf("%s.links[%d]", tf, k), "%q is not an identity column of table %q: a link is read from one of its identity columns", kind, t.Name)
		}
	}
	for _, col := range sortedKeys(t.Fields) {
		if err := plain(tf+".fields", col); err != nil {
			return err
		}
	}
	if t.Erase == "" {
		return fail(tf+".erase", "is missing; one of %s (write \"null\" in quotes: a bare null is YAML for nothing)", strings.Join(strategies, ", "))
	}
	if t.Erase == "hash" {
		return fail(tf+".erase", "hash was an unsalted SHA-256, which anyone can reverse by hashing guesses of the value; use hmac, keyed per system")
	}
	if !slices.Contains(strategies, t.Erase) {
		return fail(tf+".erase", "%q must be one of %s", t.Erase, strings.Join(strategies, ", "))
	}
	if err := f.validateStrategies(t.EraseFields, t.Erase, tf+".erase_fields", fail); err != nil {
		return err
	}
	if err := f.validateStrategies(t.Shared, "", tf+".shared", fail); err != nil {
		return err
	}
	switch t.Erase {
	case "delete":
		if len(t.EraseFields) > 0 {
			return fail(tf+".erase_fields", "delete removes whole rows; erase_fields apply to update, null, mask and hmac (shared says what becomes of rows others still point at)")
		}
	case "keep":
		if strings.TrimSpace(t.LegalHold) == "" {
			return fail(tf+".legal_hold", "erase: keep needs the legal hold that requires keeping the rows")
		}
		if len(t.EraseFields) > 0 || len(t.Shared) > 0 {
			return fail(tf+".erase_fields", "erase: keep changes nothing; erase_fields and shared apply to the other strategies")
		}
	default:
		if len(t.EraseFields) == 0 {
			return fail(tf+".erase_fields", "erase: %s needs the columns to change", t.Erase)
		}
		// The rows stay; they must no longer point at the subject.
		cols := t.EraseFields.Columns()
		for _, kind := range sortedKeys(t.Identity) {
			for _, col := range t.Identity[kind] {
				if !slices.Contains(cols, col) {
					return fail(tf+".erase_fields", "must include the identity column %q: rows kept after erasure may not identify the subject", col)
				}
			}
		}
		for _, col := range childCols {
			if !slices.Contains(cols, col) {
				return fail(tf+".erase_fields", "must include the link column %q: rows kept after erasure may not lead to the subject", col)
			}
		}
	}
	for _, p := range sortedKeys(t.Consent) {
		if !slices.Contains(s.Purposes, p) {
			return fail(tf+".consent."+p, "purpose %q is not among the system's purposes", p)
		}
		if err := plain(tf+".consent."+p, t.Consent[p]); err != nil {
			return err
		}
	}
	if (len(t.Restriction) > 0 || len(t.Correct) > 0) && len(t.Identity) == 0 {
		return fail(tf+".identity", "table %q declares restriction or correct but no identity column: only rows that are the subject's by their own identity are changed, since a row reached through a link may be another person's too", t.Name)
	}
	for _, p := range sortedKeys(t.Restriction) {
		if p != domain.AllPurposes && !slices.Contains(s.Purposes, p) {
			return fail(tf+".restriction."+p, "purpose %q is not among the system's purposes (or all)", p)
		}
		if err := plain(tf+".restriction."+p, t.Restriction[p]); err != nil {
			return err
		}
	}
	for _, field := range sortedKeys(t.Correct) {
		if !purpose.MatchString(field) {
			return fail(tf+".correct."+field, "%q must be a field name of lower-case letters, digits, '_' or '-', as requests name it", field)
		}
		col := t.Correct[field]
		if err := plain(tf+".correct."+field, col); err != nil {
			return err
		}
		if slices.Contains(t.PrimaryKey, col) || slices.ContainsFunc(childCols, func(c string) bool { return strings.EqualFold(c, col) }) {
			return fail(tf+".correct."+field, "%q is a key or link column: correcting it would move the row's other data to another record", col)
		}
	}
	return nil
}

// optionalSignOff are the request types a system may ask its department
// to sign off.
var optionalSignOff = []domain.RequestType{domain.Access, domain.Portability, domain.OptIn, domain.Withdrawal, domain.Restriction}

// purposeKinds are the kinds of purpose the rights act on.
var purposeKinds = []string{"marketing", "sale", "sharing", "sensitive"}

// validatePurposeKinds checks purpose_kinds against the systems: every
// purpose named is one some system declares, every system that sells or
// shares names a sale or sharing purpose (else an opt-out could not reach
// it), and every system with an API records consent to its purposes of a
// kind, since the rights withdraw them there.
func (f *File) validatePurposeKinds() error {
	declared := map[string]bool{}
	for _, s := range f.Systems {
		for _, p := range s.Purposes {
			declared[p] = true
		}
	}
	for _, kind := range sortedKeys(f.PurposeKinds) {
		field := "purpose_kinds." + kind
		fail := func(format string, args ...any) error {
			return &Error{File: f.path, Line: f.lineOf(field, 0), Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		if !slices.Contains(purposeKinds, kind) {
			return fail("%q must be one of %s", kind, strings.Join(purposeKinds, ", "))
		}
		for _, p := range f.PurposeKinds[kind] {
			if !declared[p] {
				return fail("%q is not a purpose of any system", p)
			}
		}
	}
	for i, s := range f.Systems {
		field := fmt.Sprintf("systems[%d]", i)
		kinds := f.KindsOf(s.Purposes)
		if s.SoldOrShared && !slices.ContainsFunc(s.Purposes, func(p string) bool {
			return slices.Contains(kinds[p], "sale") || slices.Contains(kinds[p], "sharing")
		}) {
			return &Error{File: f.path, Line: f.lineOf(field+".sold_or_shared", s.line), Field: field + ".sold_or_shared",
				Msg: "a system that sells or shares data lists the purpose it does so for, and purpose_kinds names it sale or sharing: an opt-out of sale and sharing withdraws that purpose here"}
		}
		for _, p := range s.Purposes {
			if !s.SoldOrShared && (slices.Contains(kinds[p], "sale") || slices.Contains(kinds[p], "sharing")) {
				return &Error{File: f.path, Line: f.lineOf(field+".sold_or_shared", s.line), Field: field + ".sold_or_shared",
					Msg: fmt.Sprintf("purpose %q is %s, so this system sells or shares data: say sold_or_shared: true, which the access report tells the subject", p, strings.Join(kinds[p], " and "))}
			}
		}
		if s.Connector == "manual" {
			continue // a person does it, from the task's instructions
		}
		for _, p := range s.Purposes {
			if len(kinds[p]) == 0 || recordsConsent(s, p) {
				continue
			}
			return &Error{File: f.path, Line: f.lineOf(field+".purposes", s.line), Field: field + ".purposes",
				Msg: fmt.Sprintf("purpose %q is %s, so a right withdraws it, but no table or object of this system records consent to it (consent: {%s: column})", p, strings.Join(kinds[p], " and "), p)}
		}
	}
	return nil
}

// KindsOf gives each purpose's kinds (marketing, sale, sharing, sensitive).
func (f *File) KindsOf(purposes []string) map[string][]string {
	out := map[string][]string{}
	for _, kind := range purposeKinds {
		for _, p := range f.PurposeKinds[kind] {
			if slices.Contains(purposes, p) {
				out[p] = append(out[p], kind)
			}
		}
	}
	return out
}

func recordsConsent(s System, purpose string) bool {
	for _, t := range s.Tables {
		if _, ok := t.Consent[purpose]; ok {
			return true
		}
	}
	for _, o := range s.Objects {
		if _, ok := o.Consent[purpose]; ok {
			return true
		}
	}
	return false
}

// validateStrategies checks erase_fields or shared; in the list form each
// column takes strategy (which must then be null, mask or hmac).
func (f *File) validateStrategies(fs FieldStrategies, strategy, field string, fail func(string, string, ...any) error) error {
	seen := map[string]bool{}
	for k, fl := range fs {
		ff := fmt.Sprintf("%s.%s", field, fl.Column)
		if fl.Strategy == "" {
			ff = fmt.Sprintf("%s[%d]", field, k)
		}
		if !identifier.MatchString(fl.Column) {
			return fail(ff, "%q is not a plain column name", fl.Column)
		}
		if seen[fl.Column] {
			return fail(ff, "%q is listed twice", fl.Column)
		}
		seen[fl.Column] = true
		st := fl.Strategy
		if st == "" {
			st = strategy
		}
		switch st {
		case "null", "mask", "hmac":
		case "set":
			if fl.Strategy == "" {
				return fail(ff, "a fixed value is written {set: value}")
			}
		case "hash":
			return fail(ff, "hash was an unsalted SHA-256, which anyone can reverse by hashing guesses of the value; use hmac, keyed per system")
		case "update", "":
			return fail(ff, "says no strategy: write the columns as a mapping, e.g. {%s: null}, or one of mask, hmac, {set: value}", fl.Column)
		default:
			return fail(ff, "%q must be null, mask, hmac or {set: value}", st)
		}
	}
	return nil
}

// Link is a parsed via entry: Child.ChildColumn holds Parent.ParentColumn.
type Link struct {
	Child, ChildColumn, Parent, ParentColumn string
}

// ParseLink reads "orders.customer_id -> customers.id"; a table may be
// schema-qualified ("sales.orders.customer_id").
func ParseLink(s string) (Link, error) {
	from, to, ok := strings.Cut(s, "->")
	if !ok {
		return Link{}, fmt.Errorf("a link is written child_table.column -> parent_table.column")
	}
	var l Link
	var err1, err2 error
	l.Child, l.ChildColumn, err1 = splitColumn(strings.TrimSpace(from))
	l.Parent, l.ParentColumn, err2 = splitColumn(strings.TrimSpace(to))
	if err := errors.Join(err1, err2); err != nil {
		return Link{}, err
	}
	return l, nil
}

func splitColumn(s string) (string, string, error) {
	dot := strings.LastIndexByte(s, '.')
	if dot < 0 || !tableName.MatchString(s[:dot]) || !identifier.MatchString(s[dot+1:]) {
		return "", "", fmt.Errorf("%q must be table.column (or schema.table.column), plain names only", s)
	}
	return s[:dot], s[dot+1:], nil
}

// checkReferences refuses references to unknown tables and cycles; with
// neither, every chain ends at a table with an identity column.
func (f *File) validateRedis(s System, fail func(string, string, ...any) error) error {
	if s.Redis == nil || !envName.MatchString(s.Redis.URLEnv) {
		return fail(".redis.url_env", "a redis system names the environment variable that holds its redis:// URL")
	}
	if len(s.Keys) == 0 {
		return fail(".keys", "a redis system needs at least one key pattern")
	}
	for j, k := range s.Keys {
		kf := fmt.Sprintf(".keys[%d]", j)
		var kinds []string
		for _, kind := range f.kinds() {
			if n := strings.Count(k.Pattern, "{"+kind+"}"); n > 0 {
				kinds = append(kinds, strings.Repeat(kind+" ", n))
			}
		}
		if len(strings.Fields(strings.Join(kinds, ""))) != 1 {
			return fail(kf+".pattern", "%q must hold exactly one identity placeholder, e.g. {email} (kinds: %s)", k.Pattern, f.kindNames())
		}
		for _, kind := range sortedKeys(k.Links) {
			if !f.knownKind(kind) {
				return fail(kf+".links."+kind, "unknown identity kind; use %s", f.kindNames())
			}
			if strings.TrimSpace(k.Links[kind]) == "" {
				return fail(kf+".links."+kind, "names the hash field that holds the %s", kind)
			}
		}
		for _, field := range sortedKeys(k.Correct) {
			if !purpose.MatchString(field) {
				return fail(kf+".correct."+field, "%q must be a field name of lower-case letters, digits, '_' or '-', as requests name it", field)
			}
			if strings.TrimSpace(k.Correct[field]) == "" {
				return fail(kf+".correct."+field, "names the hash field that holds the %s", field)
			}
		}
		switch k.Erase {
		case "delete":
		case "keep":
			if strings.TrimSpace(k.LegalHold) == "" {
				return fail(kf+".legal_hold", "erase: keep needs the legal hold that requires keeping the keys")
			}
		default:
			return fail(kf+".erase", "%q must be delete or keep", k.Erase)
		}
	}
	return nil
}

// connectorOf says which connector each kind of setting belongs to.
var connectorOf = map[string]string{"sql": "sql", "tables": "sql", "http": "http", "objects": "http", "redis": "redis", "keys": "redis", "manual": "manual"}

// foreignSettings names a setting of another connector type, or "": a
// stray "tables:" under an http system is a mistake, not something to ignore.
func foreignSettings(s System) string {
	set := map[string]bool{"sql": s.SQL != nil, "tables": len(s.Tables) > 0, "http": s.HTTP != nil, "objects": len(s.Objects) > 0,
		"redis": s.Redis != nil, "keys": len(s.Keys) > 0, "manual": s.Manual != nil}
	for _, k := range []string{"sql", "tables", "http", "objects", "redis", "keys", "manual"} {
		if set[k] && connectorOf[k] != s.Connector {
			return k
		}
	}
	return ""
}

// checkVia refuses links that go round in a circle: each table must be
// reached, in the end, from one with an identity column.
func checkVia(tables []Table, fail func(string, string, ...any) error) error {
	sources := map[string][]string{} // table → the tables it is reached from
	for _, t := range tables {
		self := strings.ToLower(t.Name)
		for _, v := range t.Via {
			l, _ := ParseLink(v)
			other := strings.ToLower(l.Parent)
			if strings.EqualFold(l.Parent, self) {
				other = strings.ToLower(l.Child)
			}
			sources[self] = append(sources[self], other)
		}
	}
	for i, t := range tables {
		var walk func(name string, path []string) []string
		walk = func(name string, path []string) []string {
			if slices.Contains(path, name) {
				return append(path, name)
			}
			for _, src := range sources[name] {
				if cycle := walk(src, append(slices.Clone(path), name)); cycle != nil {
					return cycle
				}
			}
			return nil
		}
		if cycle := walk(strings.ToLower(t.Name), nil); cycle != nil && cycle[0] == strings.ToLower(t.Name) {
			return fail(fmt.Sprintf(".tables[%d].via", i), "links go round in a circle: %s", strings.Join(cycle, " → "))
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// FieldCategories maps each data category the system holds to the fields
// that hold it, as the data map declares them (tables' and objects'
// fields, and the system's own categories, which name no field).
func (s System) FieldCategories() map[string][]string {
	out := map[string][]string{}
	add := func(fields map[string][]string) {
		for field, cats := range fields {
			for _, c := range cats {
				if !slices.Contains(out[c], field) {
					out[c] = append(out[c], field)
				}
			}
		}
	}
	for _, t := range s.Tables {
		add(t.Fields)
	}
	for _, o := range s.Objects {
		add(o.Fields)
	}
	for _, c := range s.Categories {
		if _, ok := out[c]; !ok {
			out[c] = nil
		}
	}
	for c := range out {
		slices.Sort(out[c])
	}
	return out
}

// Variable is an environment variable the data map names: where, and
// what it holds.
type Variable struct {
	// Name is the variable; Field says where its system names it, such as
	// sql.dsn_env, and What what it holds.
	Name, Field, What string
	// System, Index and Line are its system's name, place in the list and
	// line in the file.
	System      string
	Index, Line int
}

// Variables lists every environment variable the map's systems read (their
// connection strings, base URLs and credentials), in the file's order: the
// one list that both the connectors' start and a deployment's check use.
func (f *File) Variables() []Variable {
	var out []Variable
	for i, s := range f.Systems {
		add := func(field, name, what string) {
			if name != "" {
				out = append(out, Variable{Name: name, Field: field, What: what, System: s.Name, Index: i, Line: s.Line()})
			}
		}
		if s.SQL != nil {
			add("sql.dsn_env", s.SQL.DSNEnv, "connection string")
		}
		if s.Redis != nil {
			add("redis.url_env", s.Redis.URLEnv, "redis:// URL")
		}
		if h := s.HTTP; h != nil {
			add("http.base_url_env", h.BaseURLEnv, "API's base URL")
			add("http.auth.token_env", h.Auth.TokenEnv, "bearer token")
			add("http.auth.username_env", h.Auth.UsernameEnv, "user name")
			add("http.auth.password_env", h.Auth.PasswordEnv, "password")
			add("http.auth.key_env", h.Auth.KeyEnv, "API key")
		}
	}
	return out
}

// MissingVariables names, one error each with the file, the line, the
// system and the field, the map's variables that getenv finds empty.
func (f *File) MissingVariables(getenv func(string) string) error {
	var errs []error
	for _, v := range f.Variables() {
		if getenv(v.Name) == "" {
			errs = append(errs, fmt.Errorf("%s:%d: systems[%d] (%s): environment variable %s is not set (it holds the %s), named by %s",
				f.Path(), v.Line, v.Index, v.System, v.Name, v.What, v.Field))
		}
	}
	return errors.Join(errs...)
}

var ratePattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)/(s|m|h)$`)

// ParseRate reads a rate such as "5/s", "30/m" or "100/h" as a number per
// second.
func ParseRate(v string) (float64, error) {
	m := ratePattern.FindStringSubmatch(v)
	if m == nil {
		return 0, fmt.Errorf("%q is not a rate: a number per s, m or h, such as 5/s or 30/m", v)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: the rate must be more than zero", v)
	}
	return n / map[string]float64{"s": 1, "m": 60, "h": 3600}[m[2]], nil
}
