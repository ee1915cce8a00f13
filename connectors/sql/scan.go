package sql

import (
	"context"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Scan compares a system's catalog with its tables in the data map. It
// reports columns that look personal but that the map does not declare,
// by their names and by a bounded sample of their values, and what the
// map declares but the schema no longer has. A finding never holds a
// value: only names and counts.

// Finding is one thing Scan found.
type Finding struct {
	Table  string `json:"table"`
	Column string `json:"column,omitempty"`
	// Kind is unmapped_column, unmapped_table, missing_table or missing_column.
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// ScanSample is how many non-empty values of a column Scan reads.
const ScanSample = 200

// personalName matches column names that usually hold personal data, as
// whole words of a snake_case or camelCase name.
var personalName = regexp.MustCompile(`(^|_)(e?mail|email_address|phone|mobile|tel|telephone|fax|name|first_?name|last_?name|full_?name|surname|forename|` +
	`address|street|city|postcode|post_code|zip|zipcode|birth|birthday|dob|date_of_birth|age|gender|sex|ip|ip_address|ipv4|ipv6|mac|device_id|` +
	`card|card_number|pan|cvv|iban|bic|account_number|ssn|nino|passport|national_id|tax_id|tin|licen[cs]e|latitude|longitude|lat|lng|lon|geo|location|` +
	`user_agent|cookie|ssn|health|diagnosis|religion|ethnicity)($|_)`)

var valueShapes = []struct {
	name  string
	match func(string) bool
}{
	{"e-mail addresses", regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$`).MatchString},
	{"phone numbers", func(v string) bool {
		// International or grouped for reading: plain digit runs are more
		// often ids than phone numbers.
		return phoneShape.MatchString(v) && digits(v) >= 8 && digits(v) <= 15 &&
			(strings.HasPrefix(v, "+") || strings.HasPrefix(v, "00") || strings.ContainsAny(v, " ()"))
	}},
	{"IBANs", isIBAN},
	{"payment card numbers", isCard},
}

var phoneShape = regexp.MustCompile(`^\+?[0-9][0-9 ().-]{6,18}[0-9]$`)

func digits(v string) int {
	n := 0
	for _, r := range v {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

func isCard(v string) bool {
	s := strings.NewReplacer(" ", "", "-", "").Replace(v)
	if len(s) < 13 || len(s) > 19 || digits(s) != len(s) {
		return false
	}
	sum := 0
	for i := range s {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

var ibanShape = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$`)

func isIBAN(v string) bool {
	s := strings.ToUpper(strings.ReplaceAll(v, " ", ""))
	if !ibanShape.MatchString(s) {
		return false
	}
	var b strings.Builder
	for _, r := range s[4:] + s[:4] {
		if r >= 'A' && r <= 'Z' {
			fmt.Fprintf(&b, "%d", r-'A'+10)
		} else {
			b.WriteRune(r)
		}
	}
	n, ok := new(big.Int).SetString(b.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

// Scan connects to the system and compares. It never changes anything.
func Scan(ctx context.Context, driver, dsn string, tables []Table) ([]Finding, error) {
	db, err := sqlx.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	c := &Connector{db: db, driver: driver, byName: map[string]*table{}}
	if err := c.db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := c.db.GetContext(ctx, &c.schema, map[string]string{
		"postgres": `SELECT current_schema()`, "mysql": `SELECT DATABASE()`, "sqlite": `SELECT 'main'`}[driver]); err != nil {
		return nil, fmt.Errorf("read the default schema: %w", err)
	}
	schemas := []string{c.schema}
	mapped := map[string]*table{}
	for _, t := range tables {
		mt := &table{Table: t, id: c.canonical(t.Name)}
		mapped[mt.id] = mt
		if s, _ := c.split(t.Name); !slices.Contains(schemas, s) {
			schemas = append(schemas, s)
		}
	}
	var out []Finding
	for _, t := range tables {
		cols, err := c.columns(ctx, t.Name)
		if err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", t.Name, err)
		}
		if len(cols) == 0 {
			out = append(out, Finding{Table: t.Name, Kind: "missing_table", Reason: "the map declares it; the database has no such table"})
			continue
		}
		declared := declaredColumns(t)
		for _, col := range declared {
			if _, ok := cols[strings.ToLower(col)]; !ok {
				out = append(out, Finding{Table: t.Name, Column: col, Kind: "missing_column", Reason: "the map uses it; the table has no such column"})
			}
		}
		for _, col := range sortedColumns(cols) {
			if slices.ContainsFunc(declared, func(d string) bool { return strings.EqualFold(d, col.Name) }) {
				continue
			}
			reason, err := c.looksPersonal(ctx, t.Name, col)
			if err != nil {
				return nil, err
			}
			if reason != "" {
				out = append(out, Finding{Table: t.Name, Column: col.Name, Kind: "unmapped_column", Reason: reason})
			}
		}
	}
	for _, s := range schemas {
		names, err := c.tableNames(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("list the tables of %s: %w", s, err)
		}
		for _, name := range names {
			if mapped[strings.ToLower(s+"."+name)] != nil {
				continue
			}
			display := name
			if s != c.schema {
				display = s + "." + name
			}
			cols, err := c.columns(ctx, display)
			if err != nil {
				return nil, fmt.Errorf("read columns of %s: %w", display, err)
			}
			for _, col := range sortedColumns(cols) {
				reason, err := c.looksPersonal(ctx, display, col)
				if err != nil {
					return nil, err
				}
				if reason != "" {
					out = append(out, Finding{Table: display, Column: col.Name, Kind: "unmapped_table", Reason: reason + "; the map does not declare the table"})
				}
			}
		}
	}
	return out, nil
}

// declaredColumns are every column the map names in a table: those it
// uses, and those it classifies.
func declaredColumns(t Table) []string {
	cols := usedColumns(t, func(name string) bool { return strings.EqualFold(name, t.Name) })
	for col := range t.Categories {
		cols = append(cols, col)
	}
	slices.Sort(cols)
	return slices.Compact(cols)
}

func sortedColumns(cols map[string]column) []column {
	out := make([]column, 0, len(cols))
	for _, c := range cols {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b column) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// looksPersonal says why a column looks personal, or "": by its name, or
// by the share of its sampled values that have a personal shape. The
// values are read, tested and dropped; none is kept or printed.
func (c *Connector) looksPersonal(ctx context.Context, table string, col column) (string, error) {
	if personalName.MatchString(snake(col.Name)) {
		return "its name suggests personal data", nil
	}
	if col.Kind != kindText {
		return "", nil
	}
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s IS NOT NULL LIMIT %d", c.quote(col.Name), c.quoteName(table), c.quote(col.Name), ScanSample)
	var values []string
	if err := c.db.SelectContext(ctx, &values, q); err != nil {
		return "", fmt.Errorf("sample %s.%s: %w", table, col.Name, err)
	}
	n := 0
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			n++
		}
	}
	for _, shape := range valueShapes {
		hits := 0
		for _, v := range values {
			if shape.match(strings.TrimSpace(v)) {
				hits++
			}
		}
		if hits > 0 && hits*2 >= n {
			return fmt.Sprintf("%d of %d sampled values look like %s", hits, n, shape.name), nil
		}
	}
	return "", nil
}

// snake lower-cases a camelCase name into snake_case words.
func snake(name string) string {
	var b strings.Builder
	for i, r := range name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}

// tableNames lists the base tables of a schema.
func (c *Connector) tableNames(ctx context.Context, schema string) ([]string, error) {
	var names []string
	var err error
	switch c.driver {
	case "sqlite":
		err = c.db.SelectContext(ctx, &names, `SELECT name FROM pragma_table_list WHERE schema = ? AND type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`, schema)
	case "postgres":
		err = c.db.SelectContext(ctx, &names, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`, schema)
	default:
		err = c.db.SelectContext(ctx, &names, `SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name`, schema)
	}
	return names, err
}
