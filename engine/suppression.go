package engine

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os/user"

	"github.com/dsrengine/dsr/api"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
)

// Suppression runs "suppression check --email E" (or --phone, or
// --customer-id): whether a company pipeline must leave the identity out.
// It prints only "suppressed" or "not suppressed", as the API answers, and
// audits the check by the operating-system user, never the identity.
func Suppression(ctx context.Context, st *store.Store, keys *keyring.Keyring, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return fmt.Errorf(`suppression: give "check --email E" (or --phone P, or --customer-id C)`)
	}
	fs := flag.NewFlagSet("suppression check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	q := url.Values{}
	for _, f := range []struct{ flag, kind string }{{"email", "email"}, {"phone", "phone"}, {"customer-id", "customer_id"}} {
		fs.Func(f.flag, "the identity to check", func(v string) error {
			q.Add(f.kind, v)
			return nil
		})
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("suppression check: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("suppression check: unexpected argument %q", fs.Arg(0))
	}
	id, err := api.SuppressionIdentity(q)
	if err != nil {
		return fmt.Errorf("suppression check: %w", err)
	}
	ok, err := st.Suppressed(ctx, string(id.Kind), keys.Hash(string(id.Kind), id.Value))
	if err != nil {
		return err
	}
	who := "cli"
	if u, err := user.Current(); err == nil {
		who = "cli:" + u.Username
	}
	if err := st.AppendAudit(ctx, records.AuditEntry{Actor: who, Action: "suppression.checked", Detail: map[string]any{"kind": id.Kind, "suppressed": ok}}); err != nil {
		return err
	}
	if ok {
		fmt.Fprintln(out, "suppressed")
	} else {
		fmt.Fprintln(out, "not suppressed")
	}
	return nil
}
