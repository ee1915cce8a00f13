package engine

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/dsrengine/dsr/store"
)

// Tokens runs "tokens create" and "tokens revoke" on the store: API tokens
// are made by whoever runs the engine, and their secret is shown once.
func Tokens(ctx context.Context, st *store.Store, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(`tokens: give "create --name N --role requester|approver|auditor|admin [--approver A --department D]..." or "revoke ID"`)
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("tokens create", flag.ContinueOnError)
		fs.SetOutput(out)
		name := fs.String("name", "", "whose token it is, e.g. compliance-bot (required)")
		role := fs.String("role", "", "requester, approver, auditor or admin (required)")
		approver := fs.String("approver", "", "approver tokens: the approver as the data map lists them")
		var deps multi
		fs.Var(&deps, "department", "approver tokens: a department they decide for (repeatable)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		t, secret, err := st.CreateToken(ctx, *name, *role, *approver, deps)
		if err != nil {
			return fmt.Errorf("tokens create: %w", err)
		}
		fmt.Fprintf(out, "Token %s (%s, %s) created. Its secret is shown once; keep it safe:\n%s\n", t.ID, t.Name, t.Role, secret)
		return nil
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
	return fmt.Errorf("tokens: unknown command %q (create or revoke)", args[0])
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
