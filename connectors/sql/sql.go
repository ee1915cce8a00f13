// Package sql is the connector for relational systems: PostgreSQL,
// MySQL/MariaDB and SQLite through sqlx. Every value travels as a query
// parameter; every identifier comes from the validated data map and is
// quoted for its dialect. Erasure runs in bounded batches, each in its own
// transaction, so a subject with a million rows neither times out nor locks
// a table for minutes.
package sql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	_ "github.com/go-sql-driver/mysql" // registers "mysql"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"  // registers "postgres"
	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// Table is one table as the connector needs it (see config.Table).
type Table struct {
	Name string
	// Key is the columns that identify one row: the table's primary key or
	// a unique constraint, checked against the catalog at Open. Every
	// erasure batch addresses rows by all of them.
	Key         []string
	Identity    map[domain.IdentityKind]string
	Erase       string // delete, null, mask, hash, keep
	EraseFields []string
	LegalHold   string
	Consent     map[string]string
	// Reference reaches the table from another one (see config.Reference).
	Reference *Reference
	// Links are the identity kinds whose columns the data map trusts for
	// linking the subject's other identities.
	Links []domain.IdentityKind
}

// Reference: rows whose Column equals References in the subject's rows of Table.
type Reference struct {
	Table, Column, References string
}

// Connector reaches one SQL system.
type Connector struct {
	db     *sqlx.DB
	driver string
	tables []Table
	// BatchSize bounds each erasure transaction.
	BatchSize int
	// Heartbeat is called between batches so long erasures stay alive.
	Heartbeat func(ctx context.Context, progress string)
	byName    map[string]Table
}

// Open connects and checks that every table and column of the map exists,
// so a wrong map fails at start, not in the middle of an erasure.
func Open(ctx context.Context, driver, dsn string, tables []Table) (*Connector, error) {
	if driver == "mysql" {
		// Matched rather than changed rows, so counts do not depend on
		// whether a value was already set.
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "parseTime=true&clientFoundRows=true"
	}
	db, err := sqlx.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", connectors.ErrBadConfig, err)
	}
	if driver == "sqlite" {
		db.SetMaxOpenConns(1)
	}
	c := &Connector{db: db, driver: driver, tables: tables, BatchSize: 500, byName: map[string]Table{}}
	for _, t := range tables {
		c.byName[t.Name] = t
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	for _, t := range tables {
		if len(t.Key) == 0 {
			db.Close()
			return nil, fmt.Errorf("%w: table %s has no key", connectors.ErrBadConfig, t.Name)
		}
		cols := slices.Clone(t.Key)
		for _, kind := range kinds(t) {
			cols = append(cols, t.Identity[kind])
		}
		cols = append(cols, t.EraseFields...)
		if t.Reference != nil {
			cols = append(cols, t.Reference.Column)
			if _, ok := c.byName[t.Reference.Table]; !ok {
				db.Close()
				return nil, fmt.Errorf("%w: table %s refers to %s, which the map does not declare", connectors.ErrBadConfig, t.Name, t.Reference.Table)
			}
		}
		for _, p := range sortedPurposes(t) {
			cols = append(cols, t.Consent[p])
		}
		have, err := c.columns(ctx, t.Name)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("read columns of %s: %w", t.Name, err)
		}
		for _, col := range cols {
			if !slices.Contains(have, strings.ToLower(col)) {
				db.Close()
				if len(have) == 0 {
					return nil, fmt.Errorf("%w: table %s does not exist", connectors.ErrBadConfig, t.Name)
				}
				return nil, fmt.Errorf("%w: table %s has no column %s", connectors.ErrBadConfig, t.Name, col)
			}
		}
		unique, err := c.uniqueKeys(ctx, t.Name)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("read the keys of %s: %w", t.Name, err)
		}
		if !slices.ContainsFunc(unique, func(k []string) bool { return sameColumns(k, t.Key) }) {
			db.Close()
			return nil, fmt.Errorf("%w: table %s: primary_key (%s) is neither its primary key nor a unique constraint, so a row could not be told from another person's; the table's keys are %s",
				connectors.ErrBadConfig, t.Name, strings.Join(t.Key, ", "), describeKeys(unique))
		}
	}
	return c, nil
}

// uniqueKeys lists the column sets of a table's primary key and unique
// constraints (or unique indexes), lower-cased, from the catalog.
func (c *Connector) uniqueKeys(ctx context.Context, table string) ([][]string, error) {
	type part struct {
		Index  string `db:"idx"`
		Column string `db:"col"`
	}
	var parts []part
	var err error
	switch c.driver {
	case "sqlite":
		// A rowid table's INTEGER PRIMARY KEY is no index; pk > 0 names the
		// primary key's columns in order. Unique indexes come from the list.
		err = c.db.SelectContext(ctx, &parts, `SELECT 'primary' AS idx, name AS col FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, table)
		if err == nil {
			var more []part
			err = c.db.SelectContext(ctx, &more, `SELECT il.name AS idx, ii.name AS col FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii
				WHERE il."unique" = 1 ORDER BY il.name, ii.seqno`, table)
			parts = append(parts, more...)
		}
	case "postgres":
		err = c.db.SelectContext(ctx, &parts, `SELECT tc.constraint_name AS idx, kcu.column_name AS col
			FROM information_schema.table_constraints tc
			JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name
			WHERE tc.table_schema = current_schema() AND tc.table_name = $1 AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE')
			ORDER BY tc.constraint_name, kcu.ordinal_position`, table)
	default:
		err = c.db.SelectContext(ctx, &parts, `SELECT index_name AS idx, column_name AS col FROM information_schema.statistics
			WHERE table_schema = DATABASE() AND table_name = ? AND non_unique = 0 ORDER BY index_name, seq_in_index`, table)
	}
	if err != nil {
		return nil, err
	}
	var out [][]string
	last := ""
	for i, p := range parts {
		if i == 0 || p.Index != last {
			out = append(out, nil)
			last = p.Index
		}
		out[len(out)-1] = append(out[len(out)-1], strings.ToLower(p.Column))
	}
	return out, nil
}

// sameColumns compares a key from the catalog with a declared one, in any order.
func sameColumns(catalog, declared []string) bool {
	if len(catalog) != len(declared) {
		return false
	}
	for _, d := range declared {
		if !slices.Contains(catalog, strings.ToLower(d)) {
			return false
		}
	}
	return true
}

func describeKeys(keys [][]string) string {
	if len(keys) == 0 {
		return "none"
	}
	var out []string
	for _, k := range keys {
		out = append(out, "("+strings.Join(k, ", ")+")")
	}
	return strings.Join(out, ", ")
}

// columns lists a table's columns, lower-cased, from the catalog: SQLite
// would read a quoted unknown column as a string literal, so selecting
// it is no test of its existence.
func (c *Connector) columns(ctx context.Context, table string) ([]string, error) {
	var q string
	switch c.driver {
	case "sqlite":
		q = `SELECT name FROM pragma_table_info(?)`
	case "postgres":
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`
	default:
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?`
	}
	var cols []string
	if err := c.db.SelectContext(ctx, &cols, q, table); err != nil {
		return nil, err
	}
	for i := range cols {
		cols[i] = strings.ToLower(cols[i])
	}
	return cols, nil
}

// Close releases the connections.
func (c *Connector) Close() error { return c.db.Close() }

func (c *Connector) quote(id string) string {
	if c.driver == "mysql" {
		return "`" + strings.ReplaceAll(id, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(id, `"`, `""`) + `"`
}

func (c *Connector) quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = c.quote(id)
	}
	return strings.Join(q, ", ")
}

func kinds(t Table) []domain.IdentityKind {
	var out []domain.IdentityKind
	for _, k := range domain.IdentityKinds {
		if _, ok := t.Identity[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

func sortedPurposes(t Table) []string {
	var out []string
	for p := range t.Consent {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// match is the WHERE clause that finds the subject's rows in a table, and
// its parameters; ok is false when the table has none of the subject's
// identity kinds. Exact equality only: a '%' or '_' in a value is data,
// never a wildcard.
func (c *Connector) match(t Table, subject []domain.Identity) (string, []any, bool) {
	var terms []string
	var args []any
	for _, kind := range kinds(t) {
		for _, id := range subject {
			if id.Kind == kind {
				terms = append(terms, c.quote(t.Identity[kind])+" = ?")
				args = append(args, id.Value)
			}
		}
	}
	// Rows reached from the subject's rows of another table.
	if r := t.Reference; r != nil {
		if where, refArgs, ok := c.match(c.byName[r.Table], subject); ok {
			terms = append(terms, fmt.Sprintf("%s IN (SELECT %s FROM %s WHERE %s)",
				c.quote(r.Column), c.quote(r.References), c.quote(r.Table), where))
			args = append(args, refArgs...)
		}
	}
	if len(terms) == 0 {
		return "", nil, false
	}
	return "(" + strings.Join(terms, " OR ") + ")", args, true
}

// depth is how many references lead from a table to one with an identity.
func (c *Connector) depth(t Table) int {
	d := 0
	for t.Reference != nil && d < len(c.tables) {
		t, d = c.byName[t.Reference.Table], d+1
	}
	return d
}

// erasureOrder puts tables reached through others first: erasing a parent
// first would cut its children off from the subject and leave them behind.
func (c *Connector) erasureOrder() []Table {
	order := slices.Clone(c.tables)
	slices.SortStableFunc(order, func(a, b Table) int { return c.depth(b) - c.depth(a) })
	return order
}

func (c *Connector) heartbeat(ctx context.Context, progress string) {
	if c.Heartbeat != nil {
		c.Heartbeat(ctx, progress)
	}
}

// Discover counts the subject's rows per table. Rows under a legal hold
// that erasure keeps are reported as "held", the rest as "found".
func (c *Connector) discover(ctx context.Context, subject []domain.Identity) (connectors.Result, error) {
	var res connectors.Result
	for _, t := range c.tables {
		where, args, ok := c.match(t, subject)
		if !ok {
			continue
		}
		var n int64
		q := c.db.Rebind(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", c.quote(t.Name), where))
		if err := c.db.GetContext(ctx, &n, q, args...); err != nil {
			return res, fmt.Errorf("count in %s: %w", t.Name, err)
		}
		hold := ""
		if t.Erase == "keep" {
			hold = t.LegalHold
		}
		res.Records = append(res.Records, connectors.Found(t.Name, n, hold))
	}
	return res, nil
}

// Linked reads the link columns of the subject's rows and returns the
// identities there that the subject did not give, in normal form; values
// that are not valid identities (an empty phone, a malformed address) are
// skipped. Columns not declared as links are never read for this.
func (c *Connector) linked(ctx context.Context, subject []domain.Identity) ([]connectors.Link, error) {
	out := connectors.NewLinks(subject)
	for _, t := range c.tables {
		if len(t.Links) == 0 {
			continue
		}
		where, args, ok := c.match(t, subject)
		if !ok {
			continue
		}
		ks := t.Links
		cols := make([]string, len(ks))
		for i, k := range ks {
			cols[i] = c.quote(t.Identity[k])
		}
		q := c.db.Rebind(fmt.Sprintf("SELECT DISTINCT %s FROM %s WHERE %s", strings.Join(cols, ", "), c.quote(t.Name), where))
		rows, err := c.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("linked identities in %s: %w", t.Name, err)
		}
		for rows.Next() {
			vals := make([]sql.NullString, len(ks))
			ptrs := make([]any, len(ks))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("linked identities in %s: %w", t.Name, err)
			}
			for i, v := range vals {
				if v.Valid {
					out.Add(ks[i], v.String, t.Name+"."+t.Identity[ks[i]])
				}
			}
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out.List, nil
}

// Export writes {"table": [rows...]} as JSON.
func (c *Connector) export(ctx context.Context, subject []domain.Identity, w io.Writer) (connectors.Result, error) {
	var res connectors.Result
	out := map[string][]map[string]any{}
	for _, t := range c.tables {
		where, args, ok := c.match(t, subject)
		if !ok {
			continue
		}
		q := c.db.Rebind(fmt.Sprintf("SELECT * FROM %s WHERE %s ORDER BY %s", c.quote(t.Name), where, c.quoteAll(t.Key)))
		rows, err := c.db.QueryxContext(ctx, q, args...)
		if err != nil {
			return res, fmt.Errorf("export %s: %w", t.Name, err)
		}
		list := []map[string]any{}
		for rows.Next() {
			row := map[string]any{}
			if err := rows.MapScan(row); err != nil {
				rows.Close()
				return res, fmt.Errorf("export %s: %w", t.Name, err)
			}
			for k, v := range row {
				if b, ok := v.([]byte); ok {
					row[k] = string(b)
				}
			}
			list = append(list, row)
		}
		if err := rows.Close(); err != nil {
			return res, err
		}
		out[t.Name] = list
		res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: "exported", Count: int64(len(list))})
		c.heartbeat(ctx, "exported "+t.Name)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return res, enc.Encode(out)
}

// Erase applies each table's strategy in batches of BatchSize rows, each
// batch in its own transaction. Once a row no longer matches the subject
// it is never touched again, so erasing twice is a no-op that reports zero.
func (c *Connector) eraseAll(ctx context.Context, subject []domain.Identity, opts connectors.EraseOptions) (connectors.Result, error) {
	var res connectors.Result
	for _, t := range c.erasureOrder() {
		where, args, ok := c.match(t, subject)
		if !ok {
			continue
		}
		if t.Erase == "keep" {
			var n int64
			q := c.db.Rebind(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", c.quote(t.Name), where))
			if err := c.db.GetContext(ctx, &n, q, args...); err != nil {
				return res, fmt.Errorf("count in %s: %w", t.Name, err)
			}
			res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: "kept", Count: n, Reason: t.LegalHold})
			continue
		}
		n, err := c.eraseTable(ctx, t, where, args, opts.DryRun)
		if err != nil {
			return res, err
		}
		action := map[string]string{"delete": "deleted", "null": "nulled", "mask": "masked", "hash": "hashed"}[t.Erase]
		if opts.DryRun {
			action = "would be " + action
		}
		res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: action, Count: n, Fields: t.EraseFields, Reason: t.LegalHold})
	}
	return res, nil
}

func (c *Connector) eraseTable(ctx context.Context, t Table, where string, args []any, dryRun bool) (int64, error) {
	if dryRun {
		var n int64
		q := c.db.Rebind(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", c.quote(t.Name), where))
		return n, c.db.GetContext(ctx, &n, q, args...)
	}
	var matching int64
	count := c.db.Rebind(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", c.quote(t.Name), where))
	if err := c.db.GetContext(ctx, &matching, count, args...); err != nil {
		return 0, err
	}
	selectBatch := c.db.Rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT %d",
		c.quoteAll(t.Key), c.quote(t.Name), where, c.quoteAll(t.Key), c.BatchSize))
	var total int64
	// Every batch makes its rows stop matching, so the loop is bounded; a
	// row that still matches after its batch would otherwise loop forever.
	for batches := matching/int64(c.BatchSize) + 2; batches > 0; batches-- {
		n, err := c.eraseBatch(ctx, t, selectBatch, args)
		if err != nil {
			return total, fmt.Errorf("erase in %s after %d rows: %w", t.Name, total, err)
		}
		total += n
		c.heartbeat(ctx, fmt.Sprintf("%s: %d rows", t.Name, total))
		if n < int64(c.BatchSize) {
			return total, nil
		}
	}
	return total, fmt.Errorf("%w: rows of %s still match the subject after erasure; erase_fields must break every link to the subject", connectors.ErrBadConfig, t.Name)
}

func (c *Connector) eraseBatch(ctx context.Context, t Table, selectBatch string, args []any) (int64, error) {
	tx, err := c.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	keys, err := selectKeys(ctx, tx, selectBatch, args)
	if err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, tx.Commit()
	}
	// Rows are addressed by their whole key: a table keyed by (order,
	// line) must not lose another customer's line 1.
	rowsWhere, keyArgs := c.byKeys(t, keys)
	switch t.Erase {
	case "delete":
		_, err = tx.ExecContext(ctx, tx.Rebind(fmt.Sprintf("DELETE FROM %s WHERE %s", c.quote(t.Name), rowsWhere)), keyArgs...)
	case "null", "mask":
		sets := make([]string, len(t.EraseFields))
		var setArgs []any
		for i, f := range t.EraseFields {
			if t.Erase == "null" {
				sets[i] = c.quote(f) + " = NULL"
			} else {
				sets[i] = c.quote(f) + " = ?"
				setArgs = append(setArgs, "***")
			}
		}
		_, err = tx.ExecContext(ctx, tx.Rebind(fmt.Sprintf("UPDATE %s SET %s WHERE %s", c.quote(t.Name), strings.Join(sets, ", "), rowsWhere)), append(setArgs, keyArgs...)...)
	case "hash":
		err = c.hashRows(ctx, tx, t, keys)
	default:
		err = fmt.Errorf("%w: erase strategy %q", connectors.ErrBadConfig, t.Erase)
	}
	if err != nil {
		return 0, err
	}
	return int64(len(keys)), tx.Commit()
}

// selectKeys reads a batch of rows' keys, each as its values in key order.
func selectKeys(ctx context.Context, tx *sqlx.Tx, q string, args []any) ([][]any, error) {
	rows, err := tx.QueryxContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		key, err := rows.SliceScan()
		if err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	return out, rows.Err()
}

// byKeys is the condition that matches exactly the rows with these keys,
// and its arguments.
func (c *Connector) byKeys(t Table, keys [][]any) (string, []any) {
	var args []any
	if len(t.Key) == 1 {
		for _, k := range keys {
			args = append(args, k[0])
		}
		return fmt.Sprintf("%s IN (%s)", c.quote(t.Key[0]), strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ")), args
	}
	one := make([]string, len(t.Key))
	for i, col := range t.Key {
		one[i] = c.quote(col) + " = ?"
	}
	row := "(" + strings.Join(one, " AND ") + ")"
	rows := make([]string, len(keys))
	for i, k := range keys {
		rows[i] = row
		args = append(args, k...)
	}
	return strings.Join(rows, " OR "), args
}

// hashRows replaces each erase field by the SHA-256 of its value, so
// records stay countable and joinable without saying whose they were.
func (c *Connector) hashRows(ctx context.Context, tx *sqlx.Tx, t Table, keys [][]any) error {
	cols := c.quoteAll(t.EraseFields)
	for _, key := range keys {
		row := map[string]any{}
		one, keyArgs := c.byKeys(t, [][]any{key})
		q := tx.Rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s", cols, c.quote(t.Name), one))
		if err := tx.QueryRowxContext(ctx, q, keyArgs...).MapScan(row); err != nil {
			return err
		}
		sets := make([]string, len(t.EraseFields))
		args := make([]any, 0, len(t.EraseFields)+1)
		for i, f := range t.EraseFields {
			sets[i] = c.quote(f) + " = ?"
			sum := sha256.Sum256([]byte(fmt.Sprint(row[f])))
			args = append(args, "sha256:"+hex.EncodeToString(sum[:]))
		}
		args = append(args, keyArgs...)
		u := tx.Rebind(fmt.Sprintf("UPDATE %s SET %s WHERE %s", c.quote(t.Name), strings.Join(sets, ", "), one))
		if _, err := tx.ExecContext(ctx, u, args...); err != nil {
			return err
		}
	}
	return nil
}

// ApplyConsent sets the consent column of every table that records the
// purpose, on the subject's rows.
func (c *Connector) applyConsent(ctx context.Context, subject []domain.Identity, purpose string, granted bool) (connectors.Result, error) {
	var res connectors.Result
	for _, t := range c.tables {
		col, ok := t.Consent[purpose]
		if !ok {
			continue
		}
		where, args, ok := c.match(t, subject)
		if !ok {
			continue
		}
		q := c.db.Rebind(fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s", c.quote(t.Name), c.quote(col), where))
		r, err := c.db.ExecContext(ctx, q, append([]any{granted}, args...)...)
		if err != nil {
			return res, fmt.Errorf("consent in %s: %w", t.Name, err)
		}
		n, _ := r.RowsAffected()
		action := "consent withdrawn"
		if granted {
			action = "consent granted"
		}
		res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: action, Count: n, Fields: []string{col}})
	}
	if len(res.Records) == 0 {
		return res, errors.New("no table of this system records consent to " + purpose)
	}
	return res, nil
}
