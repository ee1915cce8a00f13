package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/keyring"
)

// kmsCommand keeps the master key encrypted by Vault's transit engine:
// "wrap" encrypts a plain master key file once, "rewrap" encrypts a
// wrapped one again under the transit key's newest version after Vault
// rotated it (the master key itself does not change, so nothing stored
// needs re-encrypting). Vault's settings are the worker's.
func kmsCommand(ctx context.Context, args []string, lookup func(string) (string, bool), out io.Writer) error {
	if len(args) == 0 || args[0] != "wrap" && args[0] != "rewrap" {
		return errors.New("kms: wrap --from PLAIN --out WRAPPED, or rewrap --file WRAPPED")
	}
	sub := args[0]
	var s config.Settings
	fs := flag.NewFlagSet("worker kms "+sub, flag.ContinueOnError)
	s.BindEnv(fs, lookup)
	from := fs.String("from", "", "wrap: the plain master key file (base64)")
	to := fs.String("out", "", "wrap: the wrapped key file to write (must not exist)")
	file := fs.String("file", "", "rewrap: the wrapped key file, rewritten in place")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("kms %s: unexpected argument %q", sub, fs.Arg(0))
	}
	kms, err := s.KMS()
	if err != nil {
		return fmt.Errorf("kms %s: %w", sub, err)
	}
	if sub == "wrap" {
		return wrapKey(ctx, kms, *from, *to, out)
	}
	return rewrapKey(ctx, kms, *file, out)
}

func wrapKey(ctx context.Context, kms keyring.KMS, from, to string, out io.Writer) error {
	if from == "" || to == "" {
		return errors.New("kms wrap: --from (the plain key file) and --out (the wrapped file) are required")
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("kms wrap: --from: %w", err)
	}
	key, err := keyring.ReadKey(from, b)
	if err != nil {
		return fmt.Errorf("kms wrap: %w", err)
	}
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("kms wrap: %s exists: a wrapped key is never overwritten (rewrap rotates it)", to)
	}
	wrapped, err := kms.Encrypt(ctx, []byte(strings.TrimSpace(string(b))))
	if err != nil {
		return fmt.Errorf("kms wrap: %w", err)
	}
	// The file is written only once Vault has shown it opens to the same key.
	if err := sameKey(ctx, kms, to, wrapped, key); err != nil {
		return fmt.Errorf("kms wrap: %w", err)
	}
	if err := writeAtomic(to, wrapped); err != nil {
		return fmt.Errorf("kms wrap: %w", err)
	}
	fmt.Fprintf(out, "wrapped %s into %s (%s)\nset DSR_MASTER_KEY_WRAPPED_FILE=%s and the Vault settings on every process, then destroy the plain key file and its copies\n",
		from, to, version(wrapped), to)
	return nil
}

func rewrapKey(ctx context.Context, kms keyring.KMS, file string, out io.Writer) error {
	if file == "" {
		return errors.New("kms rewrap: --file (the wrapped key file) is required")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("kms rewrap: %w", err)
	}
	key, err := keyring.UnwrapMasterKey(ctx, kms, file, b)
	if err != nil {
		return fmt.Errorf("kms rewrap: %w", err)
	}
	old := strings.TrimSpace(string(b))
	wrapped, err := kms.Rewrap(ctx, old)
	if err != nil {
		return fmt.Errorf("kms rewrap: %w", err)
	}
	if err := sameKey(ctx, kms, file, wrapped, key); err != nil {
		return fmt.Errorf("kms rewrap: %w", err)
	}
	if err := writeAtomic(file, wrapped); err != nil {
		return fmt.Errorf("kms rewrap: %w", err)
	}
	fmt.Fprintf(out, "rewrapped %s: %s → %s; running workers keep the key they unwrapped, new ones read this file\n", file, version(old), version(wrapped))
	return nil
}

// sameKey checks that wrapped opens to key.
func sameKey(ctx context.Context, kms keyring.KMS, path, wrapped string, key []byte) error {
	got, err := keyring.UnwrapMasterKey(ctx, kms, path, []byte(wrapped))
	if err != nil {
		return err
	}
	if string(got) != string(key) {
		return errors.New("Vault decrypted the new ciphertext to another key: nothing written")
	}
	return nil
}

// writeAtomic replaces path with data in one rename, so a crash leaves
// the old file or the new one, never half of either.
func writeAtomic(path, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".wrapped-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(data + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// version is the transit key version a ciphertext names ("vault:v2").
func version(ciphertext string) string {
	parts := strings.SplitN(ciphertext, ":", 3)
	if len(parts) < 2 {
		return "unknown version"
	}
	return parts[0] + ":" + parts[1]
}
