package engine

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dsrengine/dsr/store"
)

// Tokens runs "tokens create", "tokens list" and "tokens revoke" on the
// store: API tokens are made by whoever runs the engine, and their secret
// is shown once.
func Tokens(ctx context.Context, st *store.Store, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(`tokens: give "create --name N --role ` + strings.Join(store.Roles, "|") + ` [--approver A --department D]... [--ttl 90d]", "list" or "revoke ID"`)
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("tokens create", flag.ContinueOnError)
		fs.SetOutput(out)
		name := fs.String("name", "", "whose token it is, e.g. compliance-bot; a controller's name is its OpenDSR controller id (required)")
		role := fs.String("role", "", strings.Join(store.Roles, ", ")+" (required)")
		approver := fs.String("approver", "", "approver tokens: the approver as the data map lists them")
		ttl := fs.String("ttl", "90d", "how long the token lives, in days (90d) or hours (12h)")
		var deps multi
		fs.Var(&deps, "department", "approver tokens: a department they decide for (repeatable)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		life, err := parseTTL(*ttl)
		if err != nil {
			return fmt.Errorf("tokens create: --ttl %w", err)
		}
		t, secret, err := st.CreateToken(ctx, store.NewToken{Name: *name, Role: *role, Approver: *approver, Departments: deps, TTL: life})
		if err != nil {
			return fmt.Errorf("tokens create: %w", err)
		}
		fmt.Fprintf(out, "Token %s (%s, %s) created; it expires %s. Its secret is shown once; keep it safe:\n%s\n",
			t.ID, t.Name, t.Role, t.ExpiresAt.Format(time.RFC3339), secret)
		return nil
	case "list":
		if len(args) != 1 {
			return errors.New("tokens list: takes no arguments")
		}
		return listTokens(ctx, st, out)
	case "revoke":
		if len(args) != 2 {
			return errors.New("tokens revoke: give the token's id")
		}
		if err := st.RevokeToken(ctx, args[1]); err != nil {
			return fmt.Errorf("tokens revoke: %w", err)
		}
		fmt.Fprintf(out, "Token %s revoked.\n", args[1])
		return nil
	}
	return fmt.Errorf("tokens: unknown command %q (create, list or revoke)", args[0])
}

// parseTTL reads a lifetime in days ("90d") or in Go's units ("12h").
func parseTTL(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: give a positive number of days (90d) or hours (12h)", s)
	}
	return d, nil
}

// listTokens shows every token with its state, expiry and last use, but
// never a secret (only hashes are kept).
func listTokens(ctx context.Context, st *store.Store, out io.Writer) error {
	tokens, err := st.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("tokens list: %w", err)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tROLE\tSCOPE\tSTATE\tEXPIRES\tLAST USED")
	now := time.Now()
	for _, t := range tokens {
		state := "live"
		switch {
		case t.RevokedAt.Valid:
			state = "revoked " + t.RevokedAt.Time.UTC().Format(time.DateOnly)
		case !now.Before(t.ExpiresAt):
			state = "expired"
		}
		used := "never"
		if t.LastUsedAt.Valid {
			used = t.LastUsedAt.Time.UTC().Format(time.RFC3339)
		}
		scope := "-"
		if t.Role == store.RoleApprover {
			scope = t.Approver + " for " + strings.Join(t.Departments, ", ")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, scope, state, t.ExpiresAt.UTC().Format(time.RFC3339), used)
	}
	return w.Flush()
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
