package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/dsrengine/dsr/domain"
)

var (
	systemName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	envName    = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	purpose    = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
)

var (
	connectorTypes = []string{"sql", "http", "redis", "manual"}
	sqlDrivers     = []string{"postgres", "mysql", "sqlite"}
	strategies     = []string{"delete", "null", "mask", "hash", "keep"}
)

// validateSystems checks every system against the departments (by lower-case
// name) and itself. Whether the tables and columns exist is checked when
// the connector connects, since that needs the database.
func (f *File) validateSystems(departments map[string]int) error {
	names := map[string]int{}
	for i, s := range f.Systems {
		field := fmt.Sprintf("systems[%d]", i)
		fail := func(sub, format string, args ...any) error {
			return &Error{File: f.path, Line: s.line, Field: field + sub, Msg: fmt.Sprintf(format, args...)}
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
		for j, k := range s.SignOffFor {
			if t, err := domain.ParseRequestType(k); err != nil || string(t) != k {
				return fail(fmt.Sprintf(".signoff_for[%d]", j), "%q must be one of %s", k, "access, portability, opt_in, withdrawal")
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
		if !identifier.MatchString(t.Name) {
			return fail(tf+".name", "%q is not a plain table name", t.Name)
		}
		if tables[t.Name] {
			return fail(tf+".name", "table %q is declared twice", t.Name)
		}
		tables[t.Name] = true
		if len(t.PrimaryKey) == 0 {
			return fail(tf+".primary_key", "is missing: the column (or list of columns) that identifies one row")
		}
		for k, col := range t.PrimaryKey {
			if !identifier.MatchString(col) {
				return fail(tf+".primary_key", "%q is not a plain column name", col)
			}
			if slices.Contains(t.PrimaryKey[:k], col) {
				return fail(tf+".primary_key", "%q is listed twice", col)
			}
		}
		if len(t.Identity) == 0 && t.Reference == nil {
			return fail(tf+".identity", "table %q is unreachable: it needs an identity column (email, phone, customer_id) or a reference to a table that has one", t.Name)
		}
		if r := t.Reference; r != nil && (!identifier.MatchString(r.Table) || !identifier.MatchString(r.Column) || !identifier.MatchString(r.References)) {
			return fail(tf+".reference", "table, column and references must be plain names")
		}
		for _, kind := range sortedKeys(t.Identity) {
			if !slices.Contains(domain.IdentityKinds, domain.IdentityKind(kind)) {
				return fail(tf+".identity."+kind, "unknown identity kind; use email, phone or customer_id")
			}
			if !identifier.MatchString(t.Identity[kind]) {
				return fail(tf+".identity."+kind, "%q is not a plain column name", t.Identity[kind])
			}
		}
		for k, kind := range t.Links {
			if _, ok := t.Identity[kind]; !ok {
				return fail(fmt.Sprintf("%s.links[%d]", tf, k), "%q is not an identity column of table %q: a link is read from one of its identity columns", kind, t.Name)
			}
		}
		for _, col := range sortedKeys(t.Fields) {
			if !identifier.MatchString(col) {
				return fail(tf+".fields", "%q is not a plain column name", col)
			}
		}
		if t.Erase == "" {
			return fail(tf+".erase", "is missing; one of %s (write \"null\" in quotes: a bare null is YAML for nothing)", strings.Join(strategies, ", "))
		}
		if !slices.Contains(strategies, t.Erase) {
			return fail(tf+".erase", "%q must be one of %s", t.Erase, strings.Join(strategies, ", "))
		}
		switch t.Erase {
		case "delete":
			if len(t.EraseFields) > 0 {
				return fail(tf+".erase_fields", "delete removes whole rows; erase_fields apply to null, mask and hash")
			}
		case "keep":
			if strings.TrimSpace(t.LegalHold) == "" {
				return fail(tf+".legal_hold", "erase: keep needs the legal hold that requires keeping the rows")
			}
		default:
			if len(t.EraseFields) == 0 {
				return fail(tf+".erase_fields", "erase: %s needs the columns to %s", t.Erase, t.Erase)
			}
			for k, col := range t.EraseFields {
				if !identifier.MatchString(col) {
					return fail(fmt.Sprintf("%s.erase_fields[%d]", tf, k), "%q is not a plain column name", col)
				}
			}
			// The rows stay; they must no longer point at the subject.
			for _, kind := range sortedKeys(t.Identity) {
				if !slices.Contains(t.EraseFields, t.Identity[kind]) {
					return fail(tf+".erase_fields", "must include the identity column %q: rows kept after erasure may not identify the subject", t.Identity[kind])
				}
			}
			if t.Reference != nil && !slices.Contains(t.EraseFields, t.Reference.Column) {
				return fail(tf+".erase_fields", "must include the reference column %q: rows kept after erasure may not lead to the subject", t.Reference.Column)
			}
		}
		for _, p := range sortedKeys(t.Consent) {
			if !slices.Contains(s.Purposes, p) {
				return fail(tf+".consent."+p, "purpose %q is not among the system's purposes", p)
			}
			if !identifier.MatchString(t.Consent[p]) {
				return fail(tf+".consent."+p, "%q is not a plain column name", t.Consent[p])
			}
		}
	}
	return checkReferences(s.Tables, fail)
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
		for _, kind := range domain.IdentityKinds {
			if n := strings.Count(k.Pattern, "{"+string(kind)+"}"); n > 0 {
				kinds = append(kinds, strings.Repeat(string(kind)+" ", n))
			}
		}
		if len(strings.Fields(strings.Join(kinds, ""))) != 1 {
			return fail(kf+".pattern", "%q must hold exactly one of {email}, {phone} or {customer_id}", k.Pattern)
		}
		for _, kind := range sortedKeys(k.Links) {
			if !slices.Contains(domain.IdentityKinds, domain.IdentityKind(kind)) {
				return fail(kf+".links."+kind, "unknown identity kind; use email, phone or customer_id")
			}
			if strings.TrimSpace(k.Links[kind]) == "" {
				return fail(kf+".links."+kind, "names the hash field that holds the %s", kind)
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

func checkReferences(tables []Table, fail func(string, string, ...any) error) error {
	byName := map[string]int{}
	for i, t := range tables {
		byName[t.Name] = i
	}
	for i, t := range tables {
		seen := []string{t.Name}
		for cur := t; cur.Reference != nil; {
			j, ok := byName[cur.Reference.Table]
			if !ok {
				return fail(fmt.Sprintf(".tables[%d].reference.table", i), "%q is not a table of this system", cur.Reference.Table)
			}
			cur = tables[j]
			if slices.Contains(seen, cur.Name) {
				return fail(fmt.Sprintf(".tables[%d].reference", i), "reference cycle: %s", strings.Join(append(seen, cur.Name), " → "))
			}
			seen = append(seen, cur.Name)
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
