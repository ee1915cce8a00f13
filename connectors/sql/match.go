package sql

import (
	"fmt"
	"strings"

	"github.com/lib/pq"

	"github.com/dsrengine/dsr/domain"
)

// How the connector tells the subject's rows from everyone else's, as SQL
// with "?" parameters (rebound for the dialect). Matching is exact
// equality only: a '%' or '_' in a value is data, never a wildcard.

// match is the condition that finds the subject's rows in a table, and
// its parameters; ok is false when nothing can lead to the subject there.
// Column names are unqualified: they belong to the innermost FROM.
func (c *Connector) match(t *table, subject []domain.Identity) (string, []any, bool) {
	return c.matchDepth(t, subject, 0)
}

// identityTerms are the conditions that a row of t holds one of the
// subject's identities in its own identity columns.
func (c *Connector) identityTerms(t *table, subject []domain.Identity) ([]string, []any) {
	var terms []string
	var args []any
	for _, kind := range kinds(t.Table) {
		for _, id := range subject {
			if id.Kind != kind {
				continue
			}
			for _, col := range t.Identity[kind] {
				terms = append(terms, c.quote(col)+" = ?")
				args = append(args, id.Value)
			}
		}
	}
	return terms, args
}

func (c *Connector) matchDepth(t *table, subject []domain.Identity, depth int) (string, []any, bool) {
	if depth > len(c.tables) {
		return "", nil, false // links cannot cycle (the map is checked); this only bounds a mistake
	}
	terms, args := c.identityTerms(t, subject)
	for _, e := range t.Via {
		var other *table
		var mine, theirs string
		if c.canonical(e.Child) == t.id {
			// This table holds the key: its rows point at the subject's parents.
			other, mine, theirs = c.byName[c.canonical(e.Parent)], e.ChildColumn, e.ParentColumn
		} else {
			// The other table holds it: the subject's rows there point here.
			other, mine, theirs = c.byName[c.canonical(e.Child)], e.ParentColumn, e.ChildColumn
		}
		where, more, ok := c.matchDepth(other, subject, depth+1)
		if !ok {
			continue
		}
		terms = append(terms, fmt.Sprintf("%s IN (SELECT %s FROM %s WHERE %s)", c.quote(mine), c.quote(theirs), c.quoteName(other.Name), where))
		args = append(args, more...)
	}
	if len(terms) == 0 {
		return "", nil, false
	}
	return "(" + strings.Join(terms, " OR ") + ")", args, true
}

// dropsRef says whether erasing the subject's rows of a child removes
// their reference: deleting them, or setting the referencing columns to
// null. A kept or otherwise updated row still points at its parent.
func dropsRef(child *table, cols []string) bool {
	switch child.Erase {
	case "delete":
		return true
	case "update":
		for _, col := range cols {
			nulled := false
			for _, f := range child.Fields {
				nulled = nulled || (strings.EqualFold(f.Column, col) && f.Strategy == "null")
			}
			if !nulled {
				return false
			}
		}
		return true
	}
	return false
}

// shared is the condition, on rows of t aliased dsr_t, that another
// person's row points at the row: a row of an unmapped table, or a row of
// a mapped one that is not the subject's. Such a row is never deleted or
// changed by the subject's erasure. With remaining set, the subject's own
// rows count too when their erasure leaves a foreign key in place (kept
// under a legal hold): the row cannot be deleted while they point at it.
func (c *Connector) shared(t *table, subject []domain.Identity, remaining bool) (string, []any) {
	var terms []string
	var args []any
	for _, r := range t.refs {
		join := make([]string, len(r.childCols))
		for i := range r.childCols {
			join[i] = fmt.Sprintf("dsr_r.%s = dsr_t.%s", c.quote(r.childCols[i]), c.quote(r.parentCols[i]))
		}
		cond := strings.Join(join, " AND ")
		if r.child != nil && (!remaining || !r.enforced || dropsRef(r.child, r.childCols)) {
			if where, more, ok := c.match(r.child, subject); ok {
				// "dsr_r is not the subject's", asked of the row itself by its
				// key, where the match is the subquery's whole condition: a
				// database can then probe the match's links row by row. As a
				// plain NOT (match) it rebuilt the subject's whole set of
				// parent keys for every batch, which made large erasures
				// quadratic. A match that is NULL is not the subject's.
				cond += " AND NOT " + c.subjects(r.child, where)
				args = append(args, more...)
			}
		}
		terms = append(terms, fmt.Sprintf("EXISTS (SELECT 1 FROM %s AS dsr_r WHERE %s)", r.from, cond))
	}
	if len(terms) == 0 {
		return "", nil
	}
	return "(" + strings.Join(terms, " OR ") + ")", args
}

// subjects is the condition that the row dsr_r of t is the subject's, by
// match, asked of that one row through its key (aliased dsr_s), so that a
// database probes the match's links row by row instead of building them
// for the subject's whole set of rows.
func (c *Connector) subjects(t *table, match string) string {
	same := make([]string, len(t.Key))
	for i, k := range t.Key {
		same[i] = fmt.Sprintf("dsr_s.%s = dsr_r.%s", c.quote(k), c.quote(k))
	}
	return fmt.Sprintf("EXISTS (SELECT 1 FROM %s AS dsr_s WHERE %s AND %s)", c.quoteName(t.Name), strings.Join(same, " AND "), match)
}

// referenced is the condition, on rows of t aliased dsr_t, that a row
// still points at the row through a foreign key: after the subject's
// children are erased, such a row is another person's or a kept one, and
// a delete would violate its constraint.
func (c *Connector) referenced(t *table) string {
	var terms []string
	for _, r := range t.refs {
		if !r.enforced {
			continue
		}
		join := make([]string, len(r.childCols))
		for i := range r.childCols {
			join[i] = fmt.Sprintf("dsr_r.%s = dsr_t.%s", c.quote(r.childCols[i]), c.quote(r.parentCols[i]))
		}
		terms = append(terms, fmt.Sprintf("EXISTS (SELECT 1 FROM %s AS dsr_r WHERE %s)", r.from, strings.Join(join, " AND ")))
	}
	return strings.Join(terms, " OR ")
}

// byKeys is the condition that matches exactly the rows with these keys,
// and its arguments. Columns are qualified with alias when it is set.
func (c *Connector) byKeys(t *table, alias string, keys [][]any) (string, []any) {
	return c.byKeysOn(t, alias, t.Key, keys)
}

// byKeysOn is byKeys on other columns that hold t's keys (a reference to
// t), in the key's order.
func (c *Connector) byKeysOn(t *table, alias string, cols []string, keys [][]any) (string, []any) {
	q := func(col string) string {
		if alias != "" {
			return alias + "." + c.quote(col)
		}
		return c.quote(col)
	}
	var args []any
	if len(t.Key) == 1 && c.driver == "postgres" && len(keys) > 1 {
		// One array parameter rather than a parameter per key: PostgreSQL
		// binds and plans thousands of parameters slowly (about 20 ms for
		// 8,000), an array in no time.
		if arr, ok := c.keyArray(t, keys); ok {
			return q(cols[0]) + " = ANY(?)", []any{arr}
		}
	}
	if len(t.Key) == 1 {
		for _, k := range keys {
			args = append(args, k[0])
		}
		return fmt.Sprintf("%s IN (%s)", q(cols[0]), strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ")), args
	}
	one := make([]string, len(cols))
	for i, col := range cols {
		one[i] = q(col) + " = ?"
	}
	row := "(" + strings.Join(one, " AND ") + ")"
	rows := make([]string, len(keys))
	for i, k := range keys {
		rows[i] = row
		args = append(args, k...)
	}
	return "(" + strings.Join(rows, " OR ") + ")", args
}

// keyArray is one-column keys as a PostgreSQL array parameter, when they
// are all integers or all text; ok is false for anything else (bytea,
// times), which goes as a list of parameters.
func (c *Connector) keyArray(t *table, keys [][]any) (any, bool) {
	if strings.Contains(strings.ToLower(t.columns[strings.ToLower(t.Key[0])].Type), "bytea") {
		return nil, false
	}
	switch keys[0][0].(type) {
	case int64:
		out := make(pq.Int64Array, len(keys))
		for i, k := range keys {
			v, ok := k[0].(int64)
			if !ok {
				return nil, false
			}
			out[i] = v
		}
		return out, true
	case string, []byte:
		out := make(pq.StringArray, len(keys))
		for i, k := range keys {
			switch v := k[0].(type) {
			case string:
				out[i] = v
			case []byte:
				out[i] = string(v) // a uuid or numeric key, read as text
			default:
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}

// after is the keyset condition for the rows after key, in key order.
func (c *Connector) after(t *table, key []any) (string, []any) {
	if len(t.Key) == 1 {
		return c.quote(t.Key[0]) + " > ?", key
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(key)), ", ")
	return fmt.Sprintf("(%s) > (%s)", c.quoteAll(t.Key), marks), key
}
