package sql

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// Erasure walks the tables in erasure order (children before parents) and
// erases each table's subject rows in batches. Within a batch's
// transaction it first erases the subject's child rows that point at the
// batch (so no delete violates a constraint), and afterwards the parent
// rows the batch alone led to (an address reached through the customer's
// address_id), which would be out of reach once the batch is gone. A row
// that another person's row still points at is never deleted or changed:
// it is kept, or changed as the table's shared fields say, and reported.

const (
	reasonShared     = "shared with other records: still referenced by rows that are not the subject's"
	reasonReferenced = "still referenced by the subject's rows that are kept"
	// reasonKeptAhead is discovery's word for both: which one applies is
	// known only as erasure goes.
	reasonKeptAhead = "erasure keeps them: still referenced by other people's rows, or by the subject's kept rows"
)

// tally is what erasure did to one table.
type tally struct {
	changed  int64
	kept     map[string]int64 // rows left as they were, by reason
	adjusted map[string]int64 // shared rows changed by the shared fields, by reason
}

// erasure is one Erase call: what was committed, and the batch under way.
type erasure struct {
	c       *Connector
	subject []domain.Identity
	done    map[*table]*tally
	// settled are the rows this erasure updated, kept or adjusted, by
	// table and key, so a row reached twice (by identity and through a
	// link) is changed and counted once.
	settled map[*table]map[string]bool
	// pending is the open batch's work, merged on commit.
	pending     map[*table]*tally
	pendingRows map[*table]map[string]bool
	// active are the rows being erased in the open batch; queue holds the
	// rows it leads to, to erase before it commits.
	active map[*table]map[string]bool
	queue  []reachedRows
}

func (e *erasure) tally(t *table) *tally {
	if e.pending[t] == nil {
		e.pending[t] = &tally{kept: map[string]int64{}, adjusted: map[string]int64{}}
	}
	return e.pending[t]
}

// settle records that the batch has dealt with a row, so no link leads
// to it again. Deleted rows need no record: they cannot be found again.
func (e *erasure) settle(t *table, key []any) {
	if e.pendingRows[t] == nil {
		e.pendingRows[t] = map[string]bool{}
	}
	e.pendingRows[t][keyString(key)] = true
}

func (e *erasure) commit() {
	for t, p := range e.pending {
		d := e.done[t]
		if d == nil {
			d = &tally{kept: map[string]int64{}, adjusted: map[string]int64{}}
			e.done[t] = d
		}
		d.changed += p.changed
		for r, n := range p.kept {
			d.kept[r] += n
		}
		for r, n := range p.adjusted {
			d.adjusted[r] += n
		}
	}
	for t, rows := range e.pendingRows {
		if e.settled[t] == nil {
			e.settled[t] = map[string]bool{}
		}
		for k := range rows {
			e.settled[t][k] = true
		}
	}
	e.pending, e.pendingRows = map[*table]*tally{}, map[*table]map[string]bool{}
}

// eraseAll applies each table's strategy. Once a row no longer matches the
// subject it is never touched again, so erasing twice is a no-op that
// changes nothing and reports only what is kept.
func (c *Connector) eraseAll(ctx context.Context, subject []domain.Identity, opts connectors.EraseOptions) (connectors.Result, error) {
	if opts.DryRun {
		return c.dryRun(ctx, subject)
	}
	e := &erasure{c: c, subject: subject, done: map[*table]*tally{}, settled: map[*table]map[string]bool{},
		pending: map[*table]*tally{}, pendingRows: map[*table]map[string]bool{}, active: map[*table]map[string]bool{}}
	var matched []*table
	for _, t := range c.order {
		where, args, ok := c.match(t, subject)
		if !ok {
			continue
		}
		matched = append(matched, t)
		if err := e.table(ctx, t, where, args); err != nil {
			return e.result(matched), err
		}
	}
	return e.result(matched), nil
}

// table erases one table's subject rows, batch by batch in key order.
func (e *erasure) table(ctx context.Context, t *table, where string, args []any) error {
	c := e.c
	var last []any
	size := max(c.BatchSize, 1)
	for {
		cond, condArgs := where, args
		if last != nil {
			after, afterArgs := c.after(t, last)
			cond, condArgs = cond+" AND "+after, append(slices.Clone(args), afterArgs...)
		}
		q := c.db.Rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT %d",
			c.quoteAll(t.Key), c.quoteName(t.Name), cond, c.quoteAll(t.Key), size))
		began := time.Now()
		n, err := e.batch(ctx, t, q, condArgs, &last)
		if err != nil {
			return fmt.Errorf("erase in %s after %d rows: %w", t.Name, e.count(t), err)
		}
		c.heartbeat(ctx, fmt.Sprintf("%s: %d rows", t.Name, e.count(t)))
		if n < size {
			break
		}
		size = c.nextBatch(t, size, time.Since(began))
	}
	if t.Erase != "update" {
		return nil
	}
	// Updated rows must stop matching; only the shared ones may stay.
	var left int64
	if err := c.db.GetContext(ctx, &left, c.db.Rebind(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", c.quoteName(t.Name), where)), args...); err != nil {
		return fmt.Errorf("erase in %s: recount: %w", t.Name, err)
	}
	var stayed int64
	if d := e.done[t]; d != nil {
		for _, n := range d.kept {
			stayed += n
		}
		for _, n := range d.adjusted {
			stayed += n
		}
	}
	if left > stayed {
		return fmt.Errorf("%w: rows of %s still match the subject after erasure; erase_fields must break every link to the subject", connectors.ErrBadConfig, t.Name)
	}
	return nil
}

// minBatch is the smallest batch adaptation shrinks to; maxParams keeps
// every statement of a batch (the keys, the subject's values) under the
// databases' limits on parameters: 65,535 on PostgreSQL and MariaDB,
// 32,766 on SQLite.
const (
	minBatch  = 50
	maxParams = 30_000
)

// nextBatch sizes the next batch from how long the last one took: twice
// as many rows while a batch takes under half the target, half as many
// once one takes over it. A batch's cost is mostly per statement at first
// and per row later, so doubling converges in a few batches.
func (c *Connector) nextBatch(t *table, size int, took time.Duration) int {
	if c.BatchTarget <= 0 {
		return size
	}
	ceiling := min(max(c.MaxBatch, c.BatchSize), maxParams/len(t.Key))
	switch {
	case took < c.BatchTarget/2:
		return min(size*2, ceiling)
	case took > c.BatchTarget:
		return max(size/2, min(minBatch, size))
	}
	return size
}

func (e *erasure) count(t *table) int64 {
	if d := e.done[t]; d != nil {
		return d.changed
	}
	return 0
}

// batch erases the rows the query selects in one transaction and returns
// how many it selected; last is set to the last key.
func (e *erasure) batch(ctx context.Context, t *table, q string, args []any, last *[]any) (int, error) {
	tx, err := e.c.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	defer func() { e.pending, e.pendingRows, e.queue = map[*table]*tally{}, map[*table]map[string]bool{}, nil }()
	keys, err := selectKeys(ctx, tx, q, args)
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	// Rows the batch leads to wait in the queue until the rows that led
	// to them are settled, all in the one transaction.
	e.queue = []reachedRows{{t, keys}}
	for len(e.queue) > 0 {
		next := e.queue[0]
		e.queue = e.queue[1:]
		if err := e.rows(ctx, tx, next.table, next.keys, 0); err != nil {
			if next.table != t {
				err = fmt.Errorf("erase in %s: %w", next.table.Name, err)
			}
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	e.commit()
	*last = keys[len(keys)-1]
	return len(keys), nil
}

// rows erases these rows of t, all the subject's, within tx: first the
// subject's rows whose foreign keys point at them, then these rows,
// unless other people's rows still point at them; the rows they alone
// lead to are queued.
func (e *erasure) rows(ctx context.Context, tx *sqlx.Tx, t *table, keys [][]any, depth int) error {
	c := e.c
	if depth > len(c.tables) {
		return fmt.Errorf("%w: foreign keys among %s loop", connectors.ErrBadConfig, t.Name)
	}
	if keys = e.fresh(t, keys); len(keys) == 0 {
		return nil
	}
	if t.Erase == "keep" {
		for _, k := range keys {
			e.settle(t, k)
			e.tally(t).kept[t.LegalHold]++
		}
		return nil
	}
	e.activate(t, keys)
	defer e.deactivate(t, keys)
	// On PostgreSQL a delete goes first and the subject's child rows are
	// looked for only under the rows it could not delete: in the usual
	// batch nothing points at the rows any more, and the search cost a
	// statement per batch reading the child table for every row.
	deleteFirst := t.Erase == "delete" && len(t.Shared) == 0 && len(t.refs) > 0 && c.driver == "postgres"
	if t.Erase == "delete" && !deleteFirst {
		if err := e.eraseChildren(ctx, tx, t, keys, depth); err != nil {
			return err
		}
	}
	// Rows only these rows lead to are found before the change cuts the way.
	after, err := e.reached(ctx, tx, t, keys)
	if err != nil {
		return err
	}
	e.queue = append(e.queue, after...)
	if deleteFirst {
		return e.deleteUnreferenced(ctx, tx, t, keys, depth)
	}
	stay, err := e.stays(ctx, tx, t, keys)
	if err != nil {
		return err
	}
	var change, kept [][]any
	for _, k := range keys {
		if _, ok := stay[keyString(k)]; ok {
			kept = append(kept, k)
			e.settle(t, k)
		} else {
			change = append(change, k)
			if t.Erase != "delete" {
				e.settle(t, k)
			}
		}
	}
	if len(change) > 0 {
		var n int64
		if t.Erase == "delete" {
			where, args := c.byKeys(t, "", change)
			res, err := tx.ExecContext(ctx, tx.Rebind(fmt.Sprintf("DELETE FROM %s WHERE %s", c.quoteName(t.Name), where)), args...)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
		} else if n, err = e.apply(ctx, tx, t, t.Fields, change); err != nil {
			return err
		}
		e.tally(t).changed += n
	}
	for _, k := range kept {
		reason := stay[keyString(k)]
		if len(t.Shared) == 0 {
			e.tally(t).kept[reason]++
			continue
		}
		n, err := e.apply(ctx, tx, t, t.Shared, [][]any{k})
		if err != nil {
			return fmt.Errorf("shared rows: %w", err)
		}
		e.tally(t).adjusted[reason] += n
	}
	return nil
}

// eraseChildren erases the subject's rows whose foreign keys point at
// these rows of t, so that deleting them violates no constraint.
func (e *erasure) eraseChildren(ctx context.Context, tx *sqlx.Tx, t *table, keys [][]any, depth int) error {
	for _, r := range t.refs {
		if !r.enforced || r.child == nil || r.child == t || !dropsRef(r.child, r.childCols) {
			continue
		}
		children, err := e.children(ctx, tx, t, r, keys)
		if err != nil {
			return err
		}
		if len(children) > 0 {
			if err := e.rows(ctx, tx, r.child, children, depth+1); err != nil {
				return fmt.Errorf("erase in %s: %w", r.child.Name, err)
			}
		}
	}
	return nil
}

// stays says which of these rows erasure must keep, and why: rows someone
// else's rows point at; for a delete, also rows the subject's kept rows
// point at through a foreign key.
func (e *erasure) stays(ctx context.Context, tx *sqlx.Tx, t *table, keys [][]any) (map[string]string, error) {
	c := e.c
	stay := map[string]string{}
	if len(t.refs) == 0 || len(keys) == 0 {
		return stay, nil
	}
	where, args := c.byKeys(t, "dsr_t", keys)
	cond, more := c.shared(t, e.subject, false)
	others, err := selectKeys(ctx, tx, tx.Rebind(fmt.Sprintf("SELECT %s FROM %s AS dsr_t WHERE %s AND %s",
		qualify("dsr_t", c.quoteAll(t.Key)), c.quoteName(t.Name), where, cond)), append(args, more...))
	if err != nil {
		return nil, fmt.Errorf("find shared rows: %w", err)
	}
	for _, k := range others {
		stay[keyString(k)] = reasonShared
	}
	if cond := c.referenced(t); t.Erase == "delete" && cond != "" {
		held, err := selectKeys(ctx, tx, tx.Rebind(fmt.Sprintf("SELECT %s FROM %s AS dsr_t WHERE %s AND (%s)",
			qualify("dsr_t", c.quoteAll(t.Key)), c.quoteName(t.Name), where, cond)), args)
		if err != nil {
			return nil, fmt.Errorf("find referenced rows: %w", err)
		}
		for _, k := range held {
			if _, ok := stay[keyString(k)]; !ok {
				stay[keyString(k)] = reasonReferenced
			}
		}
	}
	return stay, nil
}

// deleteUnreferenced deletes, in one statement, the rows that nothing
// else points at, and only then asks why the others stay. Asking first
// cost two more statements per batch, each reading the referencing
// tables for every row; in the usual batch every row goes.
func (e *erasure) deleteUnreferenced(ctx context.Context, tx *sqlx.Tx, t *table, keys [][]any, depth int) error {
	left, err := e.deleteFree(ctx, tx, t, keys)
	if err != nil || len(left) == 0 {
		return err
	}
	// What is left is pointed at: by the subject's own child rows, which
	// go first, or by rows that keep it.
	if err := e.eraseChildren(ctx, tx, t, left, depth); err != nil {
		return err
	}
	if left, err = e.deleteFree(ctx, tx, t, left); err != nil || len(left) == 0 {
		return err
	}
	stay, err := e.stays(ctx, tx, t, left)
	if err != nil {
		return err
	}
	// A row left that neither kind of reference holds was gone before the
	// statement ran: nothing this erasure did, so nothing to count.
	for _, k := range left {
		if reason, ok := stay[keyString(k)]; ok {
			e.settle(t, k)
			e.tally(t).kept[reason]++
		}
	}
	return nil
}

// deleteFree deletes those of these rows of t that nothing points at,
// counts them, and returns the others.
func (e *erasure) deleteFree(ctx context.Context, tx *sqlx.Tx, t *table, keys [][]any) ([][]any, error) {
	c := e.c
	where, args := c.byKeys(t, "dsr_t", keys)
	cond, more := c.shared(t, e.subject, false)
	q := fmt.Sprintf("DELETE FROM %s AS dsr_t WHERE %s AND NOT %s", c.quoteName(t.Name), where, cond)
	if held := c.referenced(t); held != "" {
		q += " AND NOT (" + held + ")"
	}
	gone, err := selectKeys(ctx, tx, tx.Rebind(q+" RETURNING "+qualify("dsr_t", c.quoteAll(t.Key))), append(args, more...))
	if err != nil {
		return nil, err
	}
	e.tally(t).changed += int64(len(gone))
	deleted := make(map[string]bool, len(gone))
	for _, k := range gone {
		deleted[keyString(k)] = true
	}
	var left [][]any
	for _, k := range keys {
		if !deleted[keyString(k)] {
			left = append(left, k)
		}
	}
	return left, nil
}

// fresh leaves out rows this erasure already settled or is settling: a
// row reached twice (by identity and through a link) is erased and
// counted once.
func (e *erasure) fresh(t *table, keys [][]any) [][]any {
	var out [][]any
	for _, k := range keys {
		ks := keyString(k)
		if !e.settled[t][ks] && !e.pendingRows[t][ks] && !e.active[t][ks] {
			out = append(out, k)
		}
	}
	return out
}

// activate marks rows whose erasure is under way, so a link back to them
// (customers.address_id, and addresses.added_by) does not start it again.
func (e *erasure) activate(t *table, keys [][]any) {
	if e.active[t] == nil {
		e.active[t] = map[string]bool{}
	}
	for _, k := range keys {
		e.active[t][keyString(k)] = true
	}
}

func (e *erasure) deactivate(t *table, keys [][]any) {
	for _, k := range keys {
		delete(e.active[t], keyString(k))
	}
}

// children selects the subject's rows of r's child that point at the
// given rows of t.
func (e *erasure) children(ctx context.Context, tx *sqlx.Tx, t *table, r ref, keys [][]any) ([][]any, error) {
	c := e.c
	where, args, ok := c.match(r.child, e.subject)
	if !ok {
		return nil, nil
	}
	join := make([]string, len(r.childCols))
	for i := range r.childCols {
		join[i] = fmt.Sprintf("dsr_r.%s = dsr_t.%s", c.quote(r.childCols[i]), c.quote(r.parentCols[i]))
	}
	// From the batch's rows to the rows pointing at them, and only then
	// "is this row the subject's?", asked of each row by its key: as a
	// plain condition on the child, the match's links were rebuilt for
	// the subject's whole set of parents in every batch.
	byKeys, keyArgs := c.byKeys(t, "dsr_t", keys)
	q := tx.Rebind(fmt.Sprintf("SELECT %s FROM %s AS dsr_r WHERE EXISTS (SELECT 1 FROM %s AS dsr_t WHERE %s AND %s) AND %s ORDER BY %s",
		qualify("dsr_r", c.quoteAll(r.child.Key)), c.quoteName(r.child.Name), c.quoteName(t.Name), strings.Join(join, " AND "), byKeys,
		c.subjects(r.child, where), qualify("dsr_r", c.quoteAll(r.child.Key))))
	out, err := selectKeys(ctx, tx, q, append(keyArgs, args...))
	if err != nil {
		return nil, fmt.Errorf("find the subject's rows of %s that point at %s: %w", r.child.Name, t.Name, err)
	}
	return out, nil
}

type reachedRows struct {
	table *table
	keys  [][]any
}

// reached selects, before the given rows of t change, the rows a link
// reaches from them, whichever table holds the key ("customers.address_id
// -> addresses.id" or "addresses.added_by -> customers.id", both declared
// on addresses). Once the rows are deleted, or updated so that they no
// longer match the subject, nothing leads there any more; so they are
// erased in the same transaction, after these.
func (e *erasure) reached(ctx context.Context, tx *sqlx.Tx, t *table, keys [][]any) ([]reachedRows, error) {
	c := e.c
	var out []reachedRows
	for _, o := range c.tables {
		for _, edge := range o.Via {
			var mine, theirs string
			switch {
			case c.canonical(edge.Parent) == o.id && c.canonical(edge.Child) == t.id:
				mine, theirs = edge.ChildColumn, edge.ParentColumn // t holds the key
			case c.canonical(edge.Child) == o.id && c.canonical(edge.Parent) == t.id:
				mine, theirs = edge.ParentColumn, edge.ChildColumn // o holds it
			default:
				continue
			}
			var q string
			var args []any
			if len(t.Key) == 1 && strings.EqualFold(t.Key[0], mine) {
				// The link holds t's key: the keys themselves are what to
				// look for, by the link's index, with no join back to t
				// (which PostgreSQL planned as a scan of the other table).
				var byKeys string
				byKeys, args = c.byKeysOn(t, "", []string{theirs}, keys)
				q = tx.Rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s", c.quoteAll(o.Key), c.quoteName(o.Name), byKeys, c.quoteAll(o.Key)))
			} else {
				var byKeys string
				byKeys, args = c.byKeys(t, "", keys)
				q = tx.Rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s IN (SELECT %s FROM %s WHERE %s) ORDER BY %s",
					c.quoteAll(o.Key), c.quoteName(o.Name), c.quote(theirs), c.quote(mine), c.quoteName(t.Name), byKeys, c.quoteAll(o.Key)))
			}
			found, err := selectKeys(ctx, tx, q, args)
			if err != nil {
				return nil, fmt.Errorf("find the rows of %s that %s leads to: %w", o.Name, t.Name, err)
			}
			out = append(out, reachedRows{o, found})
		}
	}
	return out, nil
}

// apply writes the fields' strategies into the rows with these keys and
// returns how many rows changed.
func (e *erasure) apply(ctx context.Context, tx *sqlx.Tx, t *table, fields []Field, keys [][]any) (int64, error) {
	c := e.c
	perRow := slices.ContainsFunc(fields, func(f Field) bool { return f.Strategy == "mask" || f.Strategy == "hmac" })
	if !perRow {
		sets := make([]string, len(fields))
		var args []any
		for i, f := range fields {
			if f.Strategy == "null" {
				sets[i] = c.quote(f.Column) + " = NULL"
			} else {
				sets[i] = c.quote(f.Column) + " = ?"
				args = append(args, f.Value)
			}
		}
		where, keyArgs := c.byKeys(t, "", keys)
		res, err := tx.ExecContext(ctx, tx.Rebind(fmt.Sprintf("UPDATE %s SET %s WHERE %s", c.quoteName(t.Name), strings.Join(sets, ", "), where)), append(args, keyArgs...)...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = f.Column
	}
	var total int64
	for _, key := range keys {
		one, keyArgs := c.byKeys(t, "", [][]any{key})
		var old []any
		rows, err := tx.QueryxContext(ctx, tx.Rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s", c.quoteAll(cols), c.quoteName(t.Name), one)), keyArgs...)
		if err != nil {
			return total, err
		}
		if rows.Next() {
			old, err = rows.SliceScan()
		}
		rows.Close()
		if err != nil {
			return total, err
		}
		if old == nil {
			continue // gone since it was selected
		}
		sets := make([]string, len(fields))
		var args []any
		for i, f := range fields {
			switch {
			case f.Strategy == "null":
				sets[i] = c.quote(f.Column) + " = NULL"
				continue
			case f.Strategy == "set":
				args = append(args, f.Value)
			case old[i] == nil:
				sets[i] = c.quote(f.Column) + " = NULL" // nothing to mask or pseudonymise
				continue
			case f.Strategy == "mask":
				args = append(args, mask(text(old[i])))
			default:
				args = append(args, e.pseudonym(text(old[i])))
			}
			sets[i] = c.quote(f.Column) + " = ?"
		}
		res, err := tx.ExecContext(ctx, tx.Rebind(fmt.Sprintf("UPDATE %s SET %s WHERE %s", c.quoteName(t.Name), strings.Join(sets, ", "), one)), append(args, keyArgs...)...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// mask keeps a value's shape and nothing else: letters become x, digits
// 0, and everything else (the @ and dots of an address, a phone's
// spaces) stays, so a column with a format check still accepts it.
func mask(v string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsLetter(r):
			return 'x'
		case unicode.IsDigit(r):
			return '0'
		}
		return r
	}, v)
}

// pseudonym is the value's HMAC-SHA-256 under the system's key, in hex.
func (e *erasure) pseudonym(v string) string {
	m := hmac.New(sha256.New, e.c.hmacKey)
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}

// keyString tells keys apart whatever their columns hold.
func keyString(key []any) string { return fmt.Sprintf("%#v", key) }

func text(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// selectKeys reads rows' keys, each as its values in key order.
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

// qualify prefixes each of a comma-separated list of quoted columns.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = alias + "." + p
	}
	return strings.Join(parts, ", ")
}

// action names what a strategy did, for the record.
func action(t *table, fields []Field) string {
	if t.Erase == "delete" && fields == nil {
		return "deleted"
	}
	names := map[string]string{"null": "nulled", "set": "overwritten", "mask": "masked", "hmac": "pseudonymised"}
	act := ""
	for _, f := range fields {
		if act != "" && act != names[f.Strategy] {
			return "updated"
		}
		act = names[f.Strategy]
	}
	return act
}

func columnsOf(fields []Field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Column
	}
	return out
}

// result is the evidence, table by table in erasure order: what changed,
// and each kind of row left as it was, with why.
func (e *erasure) result(matched []*table) connectors.Result {
	var res connectors.Result
	for _, t := range matched {
		d := e.done[t]
		if d == nil {
			d = &tally{}
		}
		switch t.Erase {
		case "keep":
			res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: "kept", Count: d.kept[t.LegalHold], Reason: t.LegalHold})
			continue
		case "delete":
			res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: "deleted", Count: d.changed})
		default:
			res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: action(t, t.Fields), Count: d.changed, Fields: columnsOf(t.Fields), Reason: t.LegalHold})
		}
		for _, reason := range []string{reasonShared, reasonReferenced} {
			if n := d.kept[reason]; n > 0 {
				res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: "kept", Count: n, Reason: reason})
			}
			if n := d.adjusted[reason]; n > 0 {
				res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: action(t, t.Shared), Count: n, Fields: columnsOf(t.Shared), Reason: reason})
			}
		}
	}
	return res
}
