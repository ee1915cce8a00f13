package sql

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// What the connector reads from each database's catalog. Names come back
// lower-cased; a table outside the default schema is read in its own.

// column is one column as the catalog describes it.
type column struct {
	Name     string
	Type     string
	Kind     columnKind
	Nullable bool
	MaxLen   int64 // 0: no limit, or not text
}

type columnKind int

const (
	kindOther columnKind = iota
	kindText
	kindNumber
)

// hmacLen is the length of an hmac pseudonym: SHA-256 in hex.
const hmacLen = 64

func (col column) describe() string {
	if col.MaxLen > 0 {
		return fmt.Sprintf("%s(%d)", col.Type, col.MaxLen)
	}
	return col.Type
}

func kindOf(dataType string) columnKind {
	t := strings.ToLower(dataType)
	switch {
	case strings.Contains(t, "char"), strings.Contains(t, "text"), strings.Contains(t, "clob"), t == "citext", t == "":
		// SQLite columns without a declared type hold text as readily as anything.
		return kindText
	case strings.Contains(t, "int"), strings.Contains(t, "numeric"), strings.Contains(t, "decimal"),
		strings.Contains(t, "real"), strings.Contains(t, "double"), strings.Contains(t, "float"):
		return kindNumber
	}
	return kindOther
}

// columns lists a table's columns by lower-cased name: SQLite would read a
// quoted unknown column as a string literal, so selecting it is no test of
// its existence.
func (c *Connector) columns(ctx context.Context, name string) (map[string]column, error) {
	schema, tbl := c.split(name)
	type row struct {
		Name     string `db:"name"`
		Type     string `db:"type"`
		Nullable bool   `db:"nullable"`
		MaxLen   *int64 `db:"maxlen"`
	}
	var rows []row
	var err error
	switch c.driver {
	case "sqlite":
		err = c.db.SelectContext(ctx, &rows, `SELECT name, type, "notnull" = 0 AND pk = 0 AS nullable, NULL AS maxlen FROM pragma_table_info(?, ?)`, tbl, schema)
	case "postgres":
		err = c.db.SelectContext(ctx, &rows, `SELECT column_name AS name, data_type AS type, is_nullable = 'YES' AS nullable, character_maximum_length AS maxlen
			FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`, schema, tbl)
	default:
		err = c.db.SelectContext(ctx, &rows, `SELECT column_name AS name, data_type AS type, is_nullable = 'YES' AS nullable, character_maximum_length AS maxlen
			FROM information_schema.columns WHERE table_schema = ? AND table_name = ?`, schema, tbl)
	}
	if err != nil {
		return nil, err
	}
	out := map[string]column{}
	for _, r := range rows {
		col := column{Name: strings.ToLower(r.Name), Type: strings.ToLower(r.Type), Kind: kindOf(r.Type), Nullable: r.Nullable}
		if r.MaxLen != nil && col.Kind == kindText {
			col.MaxLen = *r.MaxLen
		}
		if c.driver == "sqlite" {
			// SQLite keeps the declared length but never enforces it.
			col.Type, _, _ = strings.Cut(col.Type, "(")
		}
		out[col.Name] = col
	}
	return out, nil
}

// uniqueKeys lists the column sets of a table's primary key and unique
// constraints (or unique indexes), lower-cased, from the catalog.
func (c *Connector) uniqueKeys(ctx context.Context, name string) ([][]string, error) {
	schema, tbl := c.split(name)
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
		err = c.db.SelectContext(ctx, &parts, `SELECT 'primary' AS idx, name AS col FROM pragma_table_info(?, ?) WHERE pk > 0 ORDER BY pk`, tbl, schema)
		if err == nil {
			var more []part
			err = c.db.SelectContext(ctx, &more, `SELECT il.name AS idx, ii.name AS col FROM pragma_index_list(?, ?) AS il, pragma_index_info(il.name, ?) AS ii
				WHERE il."unique" = 1 ORDER BY il.name, ii.seqno`, tbl, schema, schema)
			parts = append(parts, more...)
		}
	case "postgres":
		err = c.db.SelectContext(ctx, &parts, `SELECT tc.constraint_name AS idx, kcu.column_name AS col
			FROM information_schema.table_constraints tc
			JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name
			WHERE tc.table_schema = $1 AND tc.table_name = $2 AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE')
			ORDER BY tc.constraint_name, kcu.ordinal_position`, schema, tbl)
	default:
		err = c.db.SelectContext(ctx, &parts, `SELECT index_name AS idx, column_name AS col FROM information_schema.statistics
			WHERE table_schema = ? AND table_name = ? AND non_unique = 0 ORDER BY index_name, seq_in_index`, schema, tbl)
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

// leadingColumns are the lower-cased columns that lead an index of the
// table (the primary key included): the columns an equality can be
// looked up by.
func (c *Connector) leadingColumns(ctx context.Context, schema, tbl string) (map[string]bool, error) {
	var cols []string
	var err error
	switch c.driver {
	case "sqlite":
		err = c.db.SelectContext(ctx, &cols, `SELECT name FROM pragma_table_info(?, ?) WHERE pk = 1
			UNION SELECT ii.name FROM pragma_index_list(?, ?) AS il, pragma_index_info(il.name, ?) AS ii WHERE ii.seqno = 0`, tbl, schema, tbl, schema, schema)
	case "postgres":
		err = c.db.SelectContext(ctx, &cols, `SELECT a.attname FROM pg_index i
			JOIN pg_class cl ON cl.oid = i.indrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
			JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attnum = i.indkey[0]
			WHERE n.nspname = $1 AND cl.relname = $2`, schema, tbl)
	default:
		err = c.db.SelectContext(ctx, &cols, `SELECT column_name FROM information_schema.statistics
			WHERE table_schema = ? AND table_name = ? AND seq_in_index = 1`, schema, tbl)
	}
	out := map[string]bool{}
	for _, col := range cols {
		out[strings.ToLower(col)] = true
	}
	return out, err
}

// checkIndexes names every column that finds the subject's rows, or that
// a reference is followed by, and leads no index. Each erasure batch and
// each export looks rows up by these columns; without an index, every
// lookup reads the whole table, and an erasure's time grows with the
// square of the subject's rows.
func (c *Connector) checkIndexes(ctx context.Context) ([]string, error) {
	type need struct{ schema, table, name, column, why string }
	var needs []need
	for _, t := range c.tables {
		schema, name := c.split(t.Name)
		for _, kind := range kinds(t.Table) {
			for _, col := range t.Identity[kind] {
				needs = append(needs, need{schema, name, t.Name, col, "finds the subject's rows by " + string(kind)})
			}
		}
		for _, r := range t.refs {
			needs = append(needs, need{r.schema, r.table, r.name, r.childCols[0], "points at " + t.Name})
		}
	}
	indexed, seen := map[string]map[string]bool{}, map[string]bool{}
	var out []string
	for _, n := range needs {
		id := strings.ToLower(n.schema + "." + n.table)
		if indexed[id] == nil {
			cols, err := c.leadingColumns(ctx, n.schema, n.table)
			if err != nil {
				return nil, fmt.Errorf("table %s: %w", n.name, err)
			}
			indexed[id] = cols
		}
		col := strings.ToLower(n.column)
		if indexed[id][col] || seen[id+"."+col] {
			continue
		}
		seen[id+"."+col] = true
		out = append(out, fmt.Sprintf("table %s: no index leads with %s, which %s; erasure and export read the whole table for each batch (CREATE INDEX ON %s (%s))",
			n.name, n.column, n.why, n.name, n.column))
	}
	return out, nil
}

// foreignKey is one constraint from the catalog, its columns in order.
type foreignKey struct {
	ChildSchema, ChildTable string
	Child, Parent           string // canonical names
	ChildCols, ParentCols   []string
}

func (fk foreignKey) childName(defaultSchema string) string {
	if strings.EqualFold(fk.ChildSchema, defaultSchema) {
		return fk.ChildTable
	}
	return fk.ChildSchema + "." + fk.ChildTable
}

// foreignKeys reads every foreign key into the schemas of the mapped
// tables, whichever table holds it: an unmapped table's reference to a
// subject's row matters as much as a mapped one's.
func (c *Connector) foreignKeys(ctx context.Context) ([]foreignKey, error) {
	var schemas []string
	for _, t := range c.tables {
		s, _ := c.split(t.Name)
		if !slices.Contains(schemas, s) {
			schemas = append(schemas, s)
		}
	}
	type part struct {
		Name         string `db:"name"`
		ChildSchema  string `db:"child_schema"`
		ChildTable   string `db:"child_table"`
		ChildCol     string `db:"child_col"`
		ParentSchema string `db:"parent_schema"`
		ParentTable  string `db:"parent_table"`
		ParentCol    string `db:"parent_col"`
	}
	var parts []part
	switch c.driver {
	case "postgres":
		if err := c.db.SelectContext(ctx, &parts, `SELECT con.oid::text AS name, cn.nspname AS child_schema, cl.relname AS child_table, ca.attname AS child_col,
				pn.nspname AS parent_schema, pl.relname AS parent_table, pa.attname AS parent_col
			FROM pg_constraint con
			JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = cl.relnamespace
			JOIN pg_class pl ON pl.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pl.relnamespace
			CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(child_att, parent_att, ord)
			JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.child_att
			JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.parent_att
			WHERE con.contype = 'f' AND pn.nspname = ANY($1)
			ORDER BY con.oid, k.ord`, pq.Array(schemas)); err != nil {
			return nil, err
		}
	case "mysql":
		q, args, err := sqlx.In(`SELECT CONCAT(k.constraint_schema, '.', k.table_name, '.', k.constraint_name) AS name, k.table_schema AS child_schema, k.table_name AS child_table,
				k.column_name AS child_col, k.referenced_table_schema AS parent_schema, k.referenced_table_name AS parent_table, k.referenced_column_name AS parent_col
			FROM information_schema.key_column_usage k
			WHERE k.referenced_table_name IS NOT NULL AND k.referenced_table_schema IN (?)
			ORDER BY k.table_schema, k.table_name, k.constraint_name, k.ordinal_position`, schemas)
		if err != nil {
			return nil, err
		}
		if err := c.db.SelectContext(ctx, &parts, q, args...); err != nil {
			return nil, err
		}
	default:
		// SQLite keeps foreign keys per table, always within one schema.
		for _, s := range schemas {
			var names []string
			if err := c.db.SelectContext(ctx, &names, `SELECT name FROM pragma_table_list WHERE schema = ? AND type = 'table'`, s); err != nil {
				return nil, err
			}
			for _, n := range names {
				var more []part
				if err := c.db.SelectContext(ctx, &more, `SELECT ? || '.' || id AS name, ? AS child_schema, ? AS child_table, "from" AS child_col,
						? AS parent_schema, "table" AS parent_table, COALESCE("to", '') AS parent_col
					FROM pragma_foreign_key_list(?, ?) ORDER BY id, seq`, n, s, n, s, n, s); err != nil {
					return nil, err
				}
				parts = append(parts, more...)
			}
		}
	}
	var out []foreignKey
	last := ""
	for _, p := range parts {
		if p.Name != last {
			last = p.Name
			out = append(out, foreignKey{ChildSchema: p.ChildSchema, ChildTable: p.ChildTable,
				Child: strings.ToLower(p.ChildSchema + "." + p.ChildTable), Parent: strings.ToLower(p.ParentSchema + "." + p.ParentTable)})
		}
		fk := &out[len(out)-1]
		fk.ChildCols = append(fk.ChildCols, strings.ToLower(p.ChildCol))
		fk.ParentCols = append(fk.ParentCols, strings.ToLower(p.ParentCol))
	}
	// SQLite leaves "to" empty for a reference to the primary key.
	for i, fk := range out {
		if slices.Contains(fk.ParentCols, "") {
			if p := c.byName[fk.Parent]; p != nil {
				out[i].ParentCols = lower(p.Key)
			}
		}
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
