package sql

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// own is the condition that a row of t is the subject's by one of its
// own identity columns. Corrections and restrictions change only such
// rows: a row reached through a link (an address) may be another
// person's as well, and changing it would change theirs.
func (c *Connector) own(t *table, subject []domain.Identity) (string, []any, bool) {
	terms, args := c.identityTerms(t, subject)
	if len(terms) == 0 {
		return "", nil, false
	}
	return "(" + strings.Join(terms, " OR ") + ")", args, true
}

// Correctable lists the fields this system can correct, sorted.
func (c *Connector) Correctable() []string {
	var ms []map[string]string
	for _, t := range c.tables {
		ms = append(ms, t.Correct)
	}
	return connectors.KeysOf(ms...)
}

// IdentityOf says which identity kind the field's column holds in any
// table that declares it correctable.
func (c *Connector) IdentityOf(field string) (domain.IdentityKind, bool) {
	for _, t := range c.tables {
		col, ok := t.Correct[field]
		if !ok {
			continue
		}
		for _, kind := range kinds(t.Table) {
			if slices.ContainsFunc(t.Identity[kind], func(c string) bool { return strings.EqualFold(c, col) }) {
				return kind, true
			}
		}
	}
	return "", false
}

// Correct sets the field's column to value on the subject's rows of every
// table that declares the field correctable. With DryRun it changes
// nothing and counts the rows whose value differs ("differs"). A row that
// already holds the value is not written again, so a retry changes
// nothing twice.
func (c *Connector) Correct(ctx context.Context, subject []domain.Identity, field, value string, opts connectors.EraseOptions) (connectors.Result, error) {
	res, err := c.correct(ctx, subject, field, value, opts.DryRun)
	return res, classify(err)
}

func (c *Connector) correct(ctx context.Context, subject []domain.Identity, field, value string, dry bool) (connectors.Result, error) {
	var res connectors.Result
	declared := false
	for _, t := range c.tables {
		col, ok := t.Correct[field]
		if !ok {
			continue
		}
		declared = true
		where, args, ok := c.own(t, subject)
		if !ok {
			continue
		}
		differs := fmt.Sprintf("%s AND (%s IS NULL OR %s <> ?)", where, c.quote(col), c.quote(col))
		if dry {
			var n int64
			q := c.db.Rebind(fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", c.quoteName(t.Name), differs))
			if err := c.db.GetContext(ctx, &n, q, append(args, value)...); err != nil {
				return res, fmt.Errorf("correct %s in %s: %w", field, t.Name, err)
			}
			res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: connectors.ActionDiffers, Count: n, Fields: []string{col}})
			continue
		}
		q := c.db.Rebind(fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s", c.quoteName(t.Name), c.quote(col), differs))
		r, err := c.db.ExecContext(ctx, q, append(append([]any{value}, args...), value)...)
		if err != nil {
			return res, fmt.Errorf("correct %s in %s: %w", field, t.Name, err)
		}
		n, _ := r.RowsAffected()
		res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: connectors.ActionCorrected, Count: n, Fields: []string{col}})
	}
	if !declared {
		return res, fmt.Errorf("%w: no table of this system declares %q correctable", connectors.ErrBadConfig, field)
	}
	return res, nil
}

// Restricts lists the purposes this system records restriction of
// ("all" for a column that stops every purpose), sorted.
func (c *Connector) Restricts() []string {
	var ms []map[string]string
	for _, t := range c.tables {
		ms = append(ms, t.Restriction)
	}
	return connectors.KeysOf(ms...)
}

// Restrict sets (or, lifting, clears) the restriction columns of the
// purposes named on the subject's rows; "all" sets every restriction
// column. Setting a flag to what it holds changes nothing, so retries
// are safe; the count is of rows now in that state.
func (c *Connector) Restrict(ctx context.Context, subject []domain.Identity, purposes []string, restricted bool) (connectors.Result, error) {
	res, err := c.restrict(ctx, subject, purposes, restricted)
	return res, classify(err)
}

func (c *Connector) restrict(ctx context.Context, subject []domain.Identity, purposes []string, restricted bool) (connectors.Result, error) {
	var res connectors.Result
	action := connectors.ActionRestricted
	if !restricted {
		action = connectors.ActionLifted
	}
	declared := false
	for _, t := range c.tables {
		var cols []string
		for _, p := range connectors.KeysOf(t.Restriction) {
			if connectors.RestrictionCovers(p, purposes, restricted) {
				if col := t.Restriction[p]; !slices.Contains(cols, col) {
					cols = append(cols, col)
				}
			}
		}
		if len(cols) == 0 {
			continue
		}
		declared = true
		where, args, ok := c.own(t, subject)
		if !ok {
			continue
		}
		set := make([]string, len(cols))
		vals := make([]any, len(cols))
		for i, col := range cols {
			set[i], vals[i] = c.quote(col)+" = ?", restricted
		}
		q := c.db.Rebind(fmt.Sprintf("UPDATE %s SET %s WHERE %s", c.quoteName(t.Name), strings.Join(set, ", "), where))
		if _, err := c.db.ExecContext(ctx, q, append(vals, args...)...); err != nil {
			return res, fmt.Errorf("restrict in %s: %w", t.Name, err)
		}
		// MySQL counts only rows it changed; the evidence counts the
		// subject's rows now in the state asked for, whatever they held.
		var n int64
		if err := c.db.GetContext(ctx, &n, c.db.Rebind(fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", c.quoteName(t.Name), where)), args...); err != nil {
			return res, fmt.Errorf("restrict in %s: %w", t.Name, err)
		}
		res.Records = append(res.Records, connectors.Record{Location: t.Name, Action: action, Count: n, Fields: cols})
	}
	if !declared {
		return res, fmt.Errorf("%w: no table of this system records restriction of %s", connectors.ErrBadConfig, strings.Join(purposes, ", "))
	}
	return res, nil
}
