package sql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// count is the number of the subject's rows of t, and of those the rows
// erasure will keep because another person's rows (or, for a delete, the
// subject's kept rows) point at them.
func (c *Connector) count(ctx context.Context, t *table, subject []domain.Identity) (all, shared int64, err error) {
	where, args, _ := c.match(t, subject)
	q := c.db.Rebind(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", c.quoteName(t.Name), where))
	if err := c.db.GetContext(ctx, &all, q, args...); err != nil {
		return 0, 0, fmt.Errorf("count in %s: %w", t.Name, err)
	}
	if all == 0 || t.Erase == "keep" || len(t.refs) == 0 {
		return all, 0, nil
	}
	cond, more := c.shared(t, subject, t.Erase == "delete")
	q = c.db.Rebind(fmt.Sprintf("SELECT COUNT(*) FROM %s AS dsr_t WHERE %s AND %s", c.quoteName(t.Name), where, cond))
	if err := c.db.GetContext(ctx, &shared, q, append(slices.Clone(args), more...)...); err != nil {
		return 0, 0, fmt.Errorf("count shared rows in %s: %w", t.Name, err)
	}
	return all, shared, nil
}

// discover counts the subject's rows per table. Rows under a legal hold
// that erasure keeps are "held"; rows erasure keeps because others' rows
// point at them are "shared"; the rest are "found".
func (c *Connector) discover(ctx context.Context, subject []domain.Identity) (connectors.Result, error) {
	var res connectors.Result
	for _, t := range c.tables {
		if _, _, ok := c.match(t, subject); !ok {
			continue
		}
		all, shared, err := c.count(ctx, t, subject)
		if err != nil {
			return res, err
		}
		hold := ""
		if t.Erase == "keep" {
			hold = t.LegalHold
		}
		res.Records = append(res.Records, connectors.Found(t.Name, all-shared, hold))
		if shared > 0 {
			res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: connectors.ActionShared, Count: shared, Reason: reasonKeptAhead})
		}
	}
	return res, nil
}

// dryRun says what erasure would do, table by table in erasure order.
func (c *Connector) dryRun(ctx context.Context, subject []domain.Identity) (connectors.Result, error) {
	var res connectors.Result
	for _, t := range c.order {
		if _, _, ok := c.match(t, subject); !ok {
			continue
		}
		all, shared, err := c.count(ctx, t, subject)
		if err != nil {
			return res, err
		}
		switch t.Erase {
		case "keep":
			res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: "kept", Count: all, Reason: t.LegalHold})
			continue
		case "delete":
			res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: "would be deleted", Count: all - shared})
		default:
			res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: "would be " + action(t, t.Fields), Count: all - shared, Fields: columnsOf(t.Fields), Reason: t.LegalHold})
		}
		if shared > 0 {
			act := "kept"
			if len(t.Shared) > 0 {
				act = "would be " + action(t, t.Shared)
			}
			res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: act, Count: shared, Fields: columnsOf(t.Shared), Reason: reasonKeptAhead})
		}
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
		var kinds []domain.IdentityKind
		var cols []string
		for _, k := range t.Links {
			for _, col := range t.Identity[k] {
				kinds, cols = append(kinds, k), append(cols, col)
			}
		}
		q := c.db.Rebind(fmt.Sprintf("SELECT DISTINCT %s FROM %s WHERE %s", c.quoteAll(cols), c.quoteName(t.Name), where))
		rows, err := c.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("linked identities in %s: %w", t.Name, err)
		}
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("linked identities in %s: %w", t.Name, err)
			}
			for i, v := range vals {
				if v.Valid {
					out.Add(kinds[i], v.String, t.Name+"."+cols[i])
				}
			}
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out.List, nil
}

// export streams, per table, the categories the map declares, the
// columns it does not, and the subject's rows, whole:
//
//	{"customers": {"categories": {"email": ["contact"]}, "undeclared_columns": ["notes"], "rows": [...]}}
//
// An undeclared column is exported like any other: a column that holds
// personal data must never be silently left out, only flagged.
func (c *Connector) export(ctx context.Context, subject []domain.Identity, w io.Writer) (connectors.Result, error) {
	var res connectors.Result
	out := &connectors.Stream{W: w}
	out.Raw("{")
	first := true
	for _, t := range c.tables {
		where, args, ok := c.match(t, subject)
		if !ok {
			continue
		}
		undeclared := c.undeclared(t)
		head, _ := json.Marshal(map[string]any{"categories": t.categories(), "undeclared_columns": undeclared})
		sep := ",\n  "
		if first {
			sep, first = "\n  ", false
		}
		out.Value(sep, t.Name)
		out.Raw(": " + strings.TrimSuffix(string(head), "}") + `, "rows": [`)
		q := c.db.Rebind(fmt.Sprintf("SELECT * FROM %s WHERE %s ORDER BY %s", c.quoteName(t.Name), where, c.quoteAll(t.Key)))
		rows, err := c.db.QueryxContext(ctx, q, args...)
		if err != nil {
			return res, fmt.Errorf("export %s: %w", t.Name, err)
		}
		var n int64
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
			sep := ",\n    "
			if n == 0 {
				sep = "\n    "
			}
			out.Value(sep, row)
			n++
		}
		if err := rows.Close(); err != nil {
			return res, fmt.Errorf("export %s: %w", t.Name, err)
		}
		if n > 0 {
			out.Raw("\n  ")
		}
		out.Raw("]}")
		if out.Err != nil {
			return res, fmt.Errorf("export %s: %w", t.Name, out.Err)
		}
		res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: "exported", Count: n, Undeclared: undeclared})
		c.heartbeat(ctx, "exported "+t.Name)
	}
	out.Raw("\n}\n")
	return res, out.Err
}

// categories maps each declared column to its data categories; an
// identity column with none declared is at least an identifier.
func (t *table) categories() map[string][]string {
	out := map[string][]string{}
	for _, kind := range kinds(t.Table) {
		for _, col := range t.Identity[kind] {
			out[col] = []string{"identifier"}
		}
	}
	for col, cats := range t.Categories {
		out[col] = cats
	}
	return out
}

// undeclared lists the table's columns the map neither classifies nor
// uses as a key, link or consent flag, in the catalog's order of names.
func (c *Connector) undeclared(t *table) []string {
	known := map[string]bool{}
	for col := range t.categories() {
		known[strings.ToLower(col)] = true
	}
	for _, col := range t.Key {
		known[strings.ToLower(col)] = true
	}
	for _, col := range t.Consent {
		known[strings.ToLower(col)] = true
	}
	for _, col := range t.Restriction {
		known[strings.ToLower(col)] = true
	}
	for _, e := range t.Via {
		known[strings.ToLower(e.ChildColumn)], known[strings.ToLower(e.ParentColumn)] = true, true
	}
	out := []string{}
	for col := range t.columns {
		if !known[col] {
			out = append(out, col)
		}
	}
	slices.Sort(out)
	return out
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
		q := c.db.Rebind(fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s", c.quoteName(t.Name), c.quote(col), where))
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
