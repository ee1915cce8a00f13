package sql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/lib/pq"
	"modernc.org/sqlite"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// The connector's operations, each with its database errors classified:
// a statement the database refused for good is not retried.

// Discover counts the subject's rows per table.
func (c *Connector) Discover(ctx context.Context, subject []domain.Identity) (connectors.Result, error) {
	res, err := c.discover(ctx, subject)
	return res, classify(err)
}

// Linked returns the identities the subject's rows hold in link columns.
func (c *Connector) Linked(ctx context.Context, subject []domain.Identity) ([]connectors.Link, error) {
	links, err := c.linked(ctx, subject)
	return links, classify(err)
}

// Export writes the subject's rows as JSON.
func (c *Connector) Export(ctx context.Context, subject []domain.Identity, w io.Writer) (connectors.Result, error) {
	res, err := c.export(ctx, subject, w)
	return res, classify(err)
}

// Erase erases the subject's rows as each table's strategy says.
func (c *Connector) Erase(ctx context.Context, subject []domain.Identity, opts connectors.EraseOptions) (connectors.Result, error) {
	res, err := c.eraseAll(ctx, subject, opts)
	return res, classify(err)
}

// ApplyConsent sets the purpose's consent column on the subject's rows.
func (c *Connector) ApplyConsent(ctx context.Context, subject []domain.Identity, purpose string, granted bool) (connectors.Result, error) {
	res, err := c.applyConsent(ctx, subject, purpose, granted)
	return res, classify(err)
}

// quotedValue is a value a database quotes in its message ('jane@…').
var quotedValue = regexp.MustCompile(`'[^']*'`)

// classify marks what the database refused for good: a constraint, a
// value of the wrong type, a missing table or column (ErrRefused), or a
// privilege (ErrPermissionDenied). Anything else (a dropped connection, a
// timeout, a deadlock) stays retryable. The message keeps the database's
// words and names, never a row's values, since it reaches the request's
// timeline and the department's notice.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pq.Error
	var me *mysql.MySQLError
	var se *sqlite.Error
	switch {
	case errors.As(err, &pe):
		code := string(pe.Code)
		msg := pe.Message // the values are in Detail, which is left out
		switch {
		case code == "42501":
			return fmt.Errorf("%w: %s (SQLSTATE %s)", connectors.ErrPermissionDenied, msg, code)
		case strings.HasPrefix(code, "22"):
			// "invalid input syntax for type integer: "abc"": the value follows the colon.
			msg, _, _ = strings.Cut(msg, ":")
			if pe.Column != "" {
				msg += " in column " + pe.Column
			}
			return refusal(err, pe, msg, "SQLSTATE "+code)
		case strings.HasPrefix(code, "23"), code == "42P01", code == "42703", code == "42804":
			return refusal(err, pe, msg, "SQLSTATE "+code)
		}
	case errors.As(err, &me):
		switch me.Number {
		case 1044, 1045, 1142, 1143, 1227:
			return fmt.Errorf("%w: %s (MySQL error %d)", connectors.ErrPermissionDenied, quotedValue.ReplaceAllString(me.Message, "'…'"), me.Number)
		case 1048, 1054, 1146, 1216, 1217, 1364, 1451, 1452, 3819, 4025:
			// Constraints, unknown columns and tables: the quotes hold names.
			return refusal(err, me, me.Message, fmt.Sprintf("MySQL error %d", me.Number))
		case 1062, 1264, 1265, 1292, 1366, 1406:
			// A duplicate, or a value of the wrong type or size: the quotes
			// hold the value.
			return refusal(err, me, quotedValue.ReplaceAllString(me.Message, "'…'"), fmt.Sprintf("MySQL error %d", me.Number))
		}
	case errors.As(err, &se):
		switch se.Code() & 0xff {
		case 19: // SQLITE_CONSTRAINT, with its extended kinds
			return refusal(err, se, quotedValue.ReplaceAllString(se.Error(), "'…'"), fmt.Sprintf("SQLite code %d", se.Code()))
		case 23: // SQLITE_AUTH
			return fmt.Errorf("%w: %s", connectors.ErrPermissionDenied, se.Error())
		}
	}
	return scrubbed(err, pe, me, se)
}

// scrubbed is an error the database may clear up by itself (a deadlock, a
// timeout, a server going away), kept retryable, with its words but
// without any value it quotes: the message reaches history and the
// timeline. The SQLSTATE or error number stays, as do names in "double
// quotes" (PostgreSQL) or `backticks` (MySQL), except after a colon, where
// PostgreSQL puts the value.
func scrubbed(err error, pe *pq.Error, me *mysql.MySQLError, se *sqlite.Error) error {
	var driver error
	var msg, code string
	switch {
	case pe != nil && pe.Code != "":
		driver, msg, code = pe, pe.Message, "SQLSTATE "+string(pe.Code)
		msg = afterColonValue.ReplaceAllString(msg, `: "…"`)
	case me != nil && me.Number != 0:
		driver, msg, code = me, me.Message, fmt.Sprintf("MySQL error %d", me.Number)
	case se != nil:
		driver, msg, code = se, se.Error(), fmt.Sprintf("SQLite code %d", se.Code())
	default:
		return err
	}
	what := strings.TrimSuffix(strings.TrimSuffix(err.Error(), driver.Error()), ": ")
	if what == "" || what == err.Error() {
		what = "statement"
	}
	// A new error, not a wrapper: Temporal records an error's whole chain
	// in the history, and the driver's own words are what is scrubbed.
	return fmt.Errorf("%s: %s (%s)", what, quotedValue.ReplaceAllString(msg, "'…'"), code)
}

// afterColonValue is a double-quoted value after a colon, as PostgreSQL
// writes "invalid input syntax for type integer: "C-1001"".
var afterColonValue = regexp.MustCompile(`: "[^"]*"`)

// refusal wraps a permanent refusal: what was being done (err's own
// context, without the driver's words, which may quote a value), then the
// database's message as classify cleaned it.
func refusal(err, driver error, msg, code string) error {
	what := strings.TrimSuffix(strings.TrimSuffix(err.Error(), driver.Error()), ": ")
	if what == "" || what == err.Error() {
		what = "statement"
	}
	return fmt.Errorf("%w: %s: %s (%s)", connectors.ErrRefused, what, msg, code)
}

// DeclaresLinks says whether any table has link columns, so that the
// engine asks for linked identities only where some can be found.
func (c *Connector) DeclaresLinks() bool {
	for _, t := range c.tables {
		if len(t.Links) > 0 {
			return true
		}
	}
	return false
}
