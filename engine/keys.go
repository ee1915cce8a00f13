package engine

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/store"
)

// Keys runs "keys rotate --from OLD": it re-wraps every subject's data key
// from the old wrapping key to the one keys holds now (DSR_WRAP_KEY_FILE,
// or the key derived from the master key when none is set). OLD is the
// old wrapping key's file, or "master" for the derived one. The data
// itself is not touched; a rotation cut short is finished by running it
// again.
func Keys(ctx context.Context, st *store.Store, keys *keyring.Keyring, master []byte, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return fmt.Errorf(`keys: give "rotate --from OLD_WRAP_KEY_FILE" (or --from master)`)
	}
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "the old wrapping key's file, or master")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	if *from == "" || fs.NArg() > 0 {
		return fmt.Errorf("keys rotate: give --from OLD_WRAP_KEY_FILE (or --from master), and nothing else")
	}
	old, err := keyring.New(master)
	if err != nil {
		return err
	}
	if *from != "master" {
		b, err := os.ReadFile(*from)
		if err != nil {
			return fmt.Errorf("keys rotate: --from: %w", err)
		}
		k, err := keyring.ReadKey(*from, b)
		if err != nil {
			return fmt.Errorf("keys rotate: --from: %w", err)
		}
		if err := old.UseWrapKey(k); err != nil {
			return err
		}
	}
	if old.WrapKeyID() == keys.WrapKeyID() {
		return fmt.Errorf("keys rotate: the old wrapping key is the one in use (%s): set DSR_WRAP_KEY_FILE to the new key first", keys.WrapKeyID())
	}
	n, err := st.RewrapSubjectKeys(ctx, old, keys)
	if err != nil {
		return fmt.Errorf("keys rotate: %d re-wrapped before: %w", n, err)
	}
	fmt.Fprintf(out, "re-wrapped %d subject keys from wrapping key %s to %s\n", n, old.WrapKeyID(), keys.WrapKeyID())
	return nil
}
