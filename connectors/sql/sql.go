// Package sql is the connector for relational systems: PostgreSQL,
// MySQL/MariaDB and SQLite through sqlx. Every value travels as a query
// parameter; every identifier comes from the validated data map or the
// database's own catalog and is quoted for its dialect. Erasure runs in
// bounded batches, each in its own transaction, so a subject with a
// million rows neither times out nor locks a table for minutes.
//
// The catalog is the other half of the map: at Open the connector reads
// each table's columns, keys and foreign keys, refuses a map the schema
// cannot satisfy, and orders erasure so that no constraint is violated.
package sql

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers "mysql"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"  // registers "postgres"
	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// Table is one table as the connector needs it (see config.Table).
type Table struct {
	// Name is the table, or schema.table for a table outside the
	// connection's default schema (database, on MariaDB).
	Name string
	// Key is the columns that identify one row: the table's primary key or
	// a unique constraint, checked against the catalog at Open. Every
	// erasure batch addresses rows by all of them.
	Key []string
	// Identity maps each identity kind to the columns that hold it; a row
	// is the subject's when any of them equals one of the subject's values.
	Identity map[domain.IdentityKind][]string
	// Erase is delete, update (Fields) or keep (LegalHold).
	Erase     string
	Fields    []Field
	LegalHold string
	// Shared is what becomes of a row that is the subject's but still
	// referenced by other people's rows (an address two customers share):
	// it is never deleted. With no Shared fields it is kept as it is.
	Shared  []Field
	Consent map[string]string
	// Restriction maps purposes ("all" for every one) to the boolean
	// column that records the subject's restriction of them.
	Restriction map[string]string
	// Correct maps the fields a rectification names to their column.
	Correct map[string]string
	// Via are the links that reach this table from the subject's rows of
	// another table, in either direction.
	Via []Edge
	// Links are the identity kinds whose columns the data map trusts for
	// linking the subject's other identities.
	Links []domain.IdentityKind
	// Categories maps the columns the map classifies to their data
	// categories; the access package flags every other column.
	Categories map[string][]string
}

// Field is what erasure writes into one column.
type Field struct {
	Column string
	// Strategy is null, set (Value), mask (same shape: letters become x,
	// digits 0) or hmac (HMAC-SHA-256 under the system's key, in hex: the
	// same value always gives the same pseudonym within the system, and
	// nobody without the key can test a guess).
	Strategy string
	Value    string
}

// Edge is a link between two tables: Child.ChildColumn holds the value of
// Parent.ParentColumn (orders.customer_id → customers.id). The table that
// declares it is one of the two: as the child, its rows are reached from
// the subject's parent rows; as the parent (customers.address_id →
// addresses.id declared on addresses), from the subject's child rows.
type Edge struct {
	Child, ChildColumn, Parent, ParentColumn string
}

func (e Edge) String() string {
	return e.Child + "." + e.ChildColumn + " -> " + e.Parent + "." + e.ParentColumn
}

// Connector reaches one SQL system.
type Connector struct {
	db     *sqlx.DB
	driver string
	schema string // the connection's default schema (database on MariaDB)
	tables []*table
	order  []*table // erasure order: every table before the tables it references
	// BatchSize is the first erasure transaction's number of rows. Later
	// batches grow or shrink so that each transaction takes about
	// BatchTarget, between minBatch and MaxBatch rows: a fixed size is
	// either slow on a large table (hundreds of round trips, each reading
	// the subject's remaining keys) or holds locks too long on a slow one.
	// A zero BatchTarget keeps every batch at BatchSize.
	BatchSize   int
	MaxBatch    int
	BatchTarget time.Duration
	// Heartbeat is called between batches so long erasures stay alive.
	Heartbeat func(ctx context.Context, progress string)
	hmacKey   []byte
	byName    map[string]*table
	warnings  []string
}

// Warnings are what Open found that works but will be slow: a column the
// subject's rows are found by, or a reference is followed by, that leads
// no index.
func (c *Connector) Warnings() []string { return c.warnings }

// table is a mapped table with what the catalog says about it.
type table struct {
	Table
	id      string            // canonical schema.table, lower-cased
	columns map[string]column // by lower-cased name
	// refs are every way another row can point at a row of this table:
	// the catalog's foreign keys and the map's links, mapped or not.
	refs []ref
}

// ref is one way rows of another table point at rows of a table.
type ref struct {
	from       string // the quoted, qualified referencing table
	name       string // its name, for reports
	schema     string // and as the catalog knows it
	table      string
	child      *table // nil when the map does not declare it
	childCols  []string
	parentCols []string
	enforced   bool // a foreign key of the schema, not only a link of the map
}

// Option tunes Open.
type Option func(*Connector)

// WithHMACKey sets the key of the hmac strategy; without one, a map that
// uses hmac is refused at Open. Each system gets its own key, so a
// pseudonym in one system cannot be joined with another's.
func WithHMACKey(key []byte) Option { return func(c *Connector) { c.hmacKey = key } }

// Open connects and checks the map against the catalog: every table,
// column and key exists, every key is unique, and every strategy can be
// carried out under the schema's constraints. A wrong map fails at start,
// not in the middle of an erasure.
func Open(ctx context.Context, driver, dsn string, tables []Table, opts ...Option) (*Connector, error) {
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
	c := &Connector{db: db, driver: driver, BatchSize: 500, MaxBatch: 10_000, BatchTarget: 500 * time.Millisecond, byName: map[string]*table{}}
	for _, o := range opts {
		o(c)
	}
	if err := c.load(ctx, tables); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

func (c *Connector) load(ctx context.Context, tables []Table) error {
	if err := c.db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := c.db.GetContext(ctx, &c.schema, map[string]string{
		"postgres": `SELECT current_schema()`, "mysql": `SELECT DATABASE()`, "sqlite": `SELECT 'main'`}[c.driver]); err != nil {
		return fmt.Errorf("read the default schema: %w", err)
	}
	for _, t := range tables {
		mt := &table{Table: t, id: c.canonical(t.Name)}
		if _, dup := c.byName[mt.id]; dup {
			return fmt.Errorf("%w: table %s is declared twice", connectors.ErrBadConfig, t.Name)
		}
		c.tables = append(c.tables, mt)
		c.byName[mt.id] = mt
	}
	for _, t := range c.tables {
		if err := c.checkTable(ctx, t); err != nil {
			return err
		}
	}
	fks, err := c.foreignKeys(ctx)
	if err != nil {
		return fmt.Errorf("read the foreign keys: %w", err)
	}
	if err := c.linkTables(fks); err != nil {
		return err
	}
	if c.order, err = c.erasureOrder(); err != nil {
		return err
	}
	if c.warnings, err = c.checkIndexes(ctx); err != nil {
		return fmt.Errorf("read the indexes: %w", err)
	}
	return nil
}

// checkTable holds one table's declarations against the catalog.
func (c *Connector) checkTable(ctx context.Context, t *table) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: table %s: %s", connectors.ErrBadConfig, t.Name, fmt.Sprintf(format, args...))
	}
	if len(t.Key) == 0 {
		return bad("has no key")
	}
	cols, err := c.columns(ctx, t.Name)
	if err != nil {
		return fmt.Errorf("read columns of %s: %w", t.Name, err)
	}
	if len(cols) == 0 {
		return fmt.Errorf("%w: table %s does not exist", connectors.ErrBadConfig, t.Name)
	}
	t.columns = cols
	need := usedColumns(t.Table, func(name string) bool { return c.canonical(name) == t.id })
	for _, col := range need {
		if _, ok := cols[strings.ToLower(col)]; !ok {
			return fmt.Errorf("%w: table %s has no column %s", connectors.ErrBadConfig, t.Name, col)
		}
	}
	unique, err := c.uniqueKeys(ctx, t.Name)
	if err != nil {
		return fmt.Errorf("read the keys of %s: %w", t.Name, err)
	}
	if !slices.ContainsFunc(unique, func(k []string) bool { return sameColumns(k, t.Key) }) {
		return bad("primary_key (%s) is neither its primary key nor a unique constraint, so a row could not be told from another person's; the table's keys are %s",
			strings.Join(t.Key, ", "), describeKeys(unique))
	}
	for _, f := range append(slices.Clone(t.Fields), t.Shared...) {
		col := cols[strings.ToLower(f.Column)]
		switch f.Strategy {
		case "null":
			if !col.Nullable {
				return bad("erasure sets %s to null, but the column is NOT NULL; set a fixed value, mask or hmac it instead", f.Column)
			}
		case "mask":
			if col.Kind == kindOther {
				return bad("erasure masks %s, but it is a %s column: a mask keeps the shape of text and numbers only; use null or a fixed value", f.Column, col.Type)
			}
		case "hmac":
			if col.Kind != kindText || (col.MaxLen > 0 && col.MaxLen < hmacLen) {
				return bad("erasure writes an hmac into %s, which needs a text column of at least %d characters; it is %s", f.Column, hmacLen, col.describe())
			}
			if len(c.hmacKey) == 0 {
				return bad("erasure writes an hmac into %s, but the connector has no key for it", f.Column)
			}
		case "set":
		default:
			return bad("unknown erase strategy %q for %s", f.Strategy, f.Column)
		}
	}
	return nil
}

// linkTables resolves the map's links and collects, for every table, each
// way another row can point at its rows.
func (c *Connector) linkTables(fks []foreignKey) error {
	for _, t := range c.tables {
		for _, e := range t.Via {
			child, parent := c.byName[c.canonical(e.Child)], c.byName[c.canonical(e.Parent)]
			if child == nil || parent == nil || (child != t && parent != t) {
				return fmt.Errorf("%w: table %s: link %s must join it to a table the map declares", connectors.ErrBadConfig, t.Name, e)
			}
		}
	}
	for _, fk := range fks {
		parent := c.byName[fk.Parent]
		if parent == nil {
			continue
		}
		// A foreign key that is not to a mapped table's unique columns
		// still points at its rows: any non-key reference is kept as is.
		parent.refs = append(parent.refs, ref{from: c.quoteQualified(fk.ChildSchema, fk.ChildTable), name: fk.childName(c.schema), schema: fk.ChildSchema, table: fk.ChildTable,
			child: c.byName[fk.Child], childCols: fk.ChildCols, parentCols: fk.ParentCols, enforced: true})
	}
	// A link the map declares but the schema does not enforce still points.
	for _, t := range c.tables {
		for _, e := range t.Via {
			child, parent := c.byName[c.canonical(e.Child)], c.byName[c.canonical(e.Parent)]
			schema, name := c.split(child.Name)
			r := ref{from: c.quoteName(child.Name), name: child.Name, schema: schema, table: name, child: child, childCols: []string{e.ChildColumn}, parentCols: []string{e.ParentColumn}}
			if !slices.ContainsFunc(parent.refs, func(o ref) bool {
				return o.child == child && sameColumns(o.childCols, r.childCols) && sameColumns(o.parentCols, r.parentCols)
			}) {
				parent.refs = append(parent.refs, r)
			}
		}
	}
	// A foreign key column holds a parent's key or nothing: a mask or a
	// pseudonym there points at no row, and the database refuses it.
	for _, t := range c.tables {
		for _, r := range t.refs {
			if !r.enforced || r.child == nil {
				continue
			}
			for _, f := range append(slices.Clone(r.child.Fields), r.child.Shared...) {
				if f.Strategy != "null" && slices.Contains(r.childCols, strings.ToLower(f.Column)) {
					return fmt.Errorf("%w: table %s: erasure writes a %s value into %s, a foreign key to %s; only null erases a reference",
						connectors.ErrBadConfig, r.child.Name, f.Strategy, f.Column, t.Name)
				}
			}
		}
	}
	return nil
}

// erasureOrder puts every table before the deleted tables its foreign
// keys reference, so a parent row is deleted after its children, and
// where it can, before the other tables its links reach it from. Foreign keys among
// deleted tables that form a cycle cannot be satisfied in any order:
// refused, naming the tables.
func (c *Connector) erasureOrder() ([]*table, error) {
	hard, soft := map[*table][]*table{}, map[*table][]*table{} // parent → the children that go first
	for _, t := range c.tables {
		for _, r := range t.refs {
			if r.child == nil || r.child == t {
				continue
			}
			// A delete must wait for the children that drop their reference;
			// a child that keeps it keeps the row instead.
			if r.enforced && t.Erase == "delete" && dropsRef(r.child, r.childCols) {
				hard[t] = append(hard[t], r.child)
			} else {
				soft[t] = append(soft[t], r.child)
			}
		}
	}
	var order []*table
	done := map[*table]bool{}
	waiting := func(t *table, on map[*table][]*table) bool {
		return slices.ContainsFunc(on[t], func(ch *table) bool { return !done[ch] })
	}
	for len(order) < len(c.tables) {
		next := slices.IndexFunc(c.tables, func(t *table) bool { return !done[t] && !waiting(t, hard) && !waiting(t, soft) })
		if next < 0 {
			// Links alone may go both ways (a customer's address, and the
			// address's owner): the transaction of each batch copes.
			next = slices.IndexFunc(c.tables, func(t *table) bool { return !done[t] && !waiting(t, hard) })
		}
		if next < 0 {
			var cycle []string
			var deletes bool
			for _, t := range c.tables {
				if !done[t] {
					cycle = append(cycle, t.Name)
					deletes = deletes || t.Erase == "delete"
				}
			}
			if deletes {
				return nil, fmt.Errorf("%w: the foreign keys of tables %s reference each other, and erase deletes from them: no order of deletes satisfies the constraints; erase one of them by update or keep",
					connectors.ErrBadConfig, strings.Join(cycle, ", "))
			}
			next = slices.IndexFunc(c.tables, func(t *table) bool { return !done[t] })
		}
		order, done[c.tables[next]] = append(order, c.tables[next]), true
	}
	return order, nil
}

// Close releases the connections.
func (c *Connector) Close() error { return c.db.Close() }

func (c *Connector) heartbeat(ctx context.Context, progress string) {
	if c.Heartbeat != nil {
		c.Heartbeat(ctx, progress)
	}
}

// split parts a declared name into schema and table; the schema is the
// connection's default when none is given.
func (c *Connector) split(name string) (string, string) {
	if s, t, ok := strings.Cut(name, "."); ok {
		return s, t
	}
	return c.schema, name
}

// canonical is how the connector recognises a table, declared or read
// from the catalog.
func (c *Connector) canonical(name string) string {
	s, t := c.split(name)
	return strings.ToLower(s + "." + t)
}

func (c *Connector) quote(id string) string {
	if c.driver == "mysql" {
		return "`" + strings.ReplaceAll(id, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(id, `"`, `""`) + `"`
}

// quoteName quotes a declared table name, schema and all.
func (c *Connector) quoteName(name string) string {
	if s, t, ok := strings.Cut(name, "."); ok {
		return c.quote(s) + "." + c.quote(t)
	}
	return c.quote(name)
}

func (c *Connector) quoteQualified(schema, name string) string {
	return c.quote(schema) + "." + c.quote(name)
}

func (c *Connector) quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = c.quote(id)
	}
	return strings.Join(q, ", ")
}

// usedColumns are the columns the map reads or writes in a table, in a
// fixed order: the key, the identity columns, the erase and shared fields,
// the consent flags, and the table's side of each link (isSelf says
// whether a link's table name is this table).
func usedColumns(t Table, isSelf func(name string) bool) []string {
	cols := slices.Clone(t.Key)
	for _, kind := range kinds(t) {
		cols = append(cols, t.Identity[kind]...)
	}
	for _, f := range append(slices.Clone(t.Fields), t.Shared...) {
		cols = append(cols, f.Column)
	}
	for _, p := range sortedPurposes(t) {
		cols = append(cols, t.Consent[p])
	}
	for _, p := range connectors.KeysOf(t.Restriction) {
		cols = append(cols, t.Restriction[p])
	}
	for _, f := range connectors.KeysOf(t.Correct) {
		cols = append(cols, t.Correct[f])
	}
	for _, e := range t.Via {
		if isSelf(e.Child) {
			cols = append(cols, e.ChildColumn)
		} else {
			cols = append(cols, e.ParentColumn)
		}
	}
	return cols
}

// kinds lists a table's identity kinds in a fixed order.
func kinds(t Table) []domain.IdentityKind {
	out := make([]domain.IdentityKind, 0, len(t.Identity))
	for k := range t.Identity {
		out = append(out, k)
	}
	slices.Sort(out)
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

func lower(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = strings.ToLower(c)
	}
	return out
}
