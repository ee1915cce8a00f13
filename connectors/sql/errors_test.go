package sql

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/lib/pq"

	"github.com/dsrengine/dsr/connectors"
)

// TestErrorsLoseTheirValues: whatever the database says, the error that
// leaves the connector keeps its words, its code and the names, never a
// value, and carries no chain back to the driver's own message.
func TestErrorsLoseTheirValues(t *testing.T) {
	for _, tt := range []struct {
		err       error
		want      string
		refused   bool
		forbidden string
	}{
		{&pq.Error{Code: "22P02", Message: `invalid input syntax for type integer: "C-1001"`}, `invalid input syntax for type integer (SQLSTATE 22P02)`, true, "C-1001"},
		{&pq.Error{Code: "23505", Message: `duplicate key value violates unique constraint "customers_email_key"`, Detail: `Key (email)=(jane@example.com) already exists.`},
			`duplicate key value violates unique constraint "customers_email_key" (SQLSTATE 23505)`, true, "jane@"},
		{&pq.Error{Code: "40P01", Message: `deadlock detected while locking "orders": "jane@example.com"`}, `deadlock detected while locking "orders": "…" (SQLSTATE 40P01)`, false, "jane@"},
		{&mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded for 'jane@example.com'"}, "Lock wait timeout exceeded for '…' (MySQL error 1205)", false, "jane@"},
		{&mysql.MySQLError{Number: 1062, Message: "Duplicate entry 'jane@example.com' for key 'email'"}, "Duplicate entry '…' for key '…' (MySQL error 1062)", true, "jane@"},
	} {
		err := classify(fmt.Errorf("erase in customers: %w", tt.err))
		if got := err.Error(); !strings.Contains(got, tt.want) {
			t.Errorf("%v: %q, want %q", tt.err, got, tt.want)
		}
		if errors.Is(err, connectors.ErrRefused) != tt.refused {
			t.Errorf("%v: refused %t, want %t", tt.err, !tt.refused, tt.refused)
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), tt.forbidden) {
				t.Errorf("%v: a value survives in %q", tt.err, e.Error())
			}
		}
		if !strings.Contains(err.Error(), "erase in customers") {
			t.Errorf("%v: what was being done is lost: %q", tt.err, err)
		}
	}
}
