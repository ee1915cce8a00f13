// Command worker runs the engine in production: it connects to a Temporal
// frontend and to PostgreSQL, reads the data map, and runs the request
// workflows, their activities and the HTTP gateway. For a laptop with no
// services, use dev mode instead: go run ./dev
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.temporal.io/sdk/worker"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/mail"
	"github.com/dsrengine/dsr/opendsr"
	"github.com/dsrengine/dsr/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		if errors.Is(err, engine.ErrFindings) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

// suppression checks an identity against the suppression list in the
// store (DATABASE_URL), hashed with the master key.
func suppression(ctx context.Context, args []string) error {
	st, keys, _, err := openStore(ctx, "suppression", "the list lives in the engine's store")
	if err != nil {
		return err
	}
	defer st.Close()
	return engine.Suppression(ctx, st, keys, args, os.Stdout)
}

// keys rotates the wrapping key of the subjects' data keys in the store
// (DATABASE_URL): the new key is DSR_WRAP_KEY_FILE's.
func keys(ctx context.Context, args []string) error {
	st, ring, master, err := openStore(ctx, "keys", "the subjects' keys live in the engine's store")
	if err != nil {
		return err
	}
	defer st.Close()
	return engine.Keys(ctx, st, ring, master, args, os.Stdout)
}

// openStore opens the store and the keyring for a command that needs no
// other setting: DATABASE_URL, the master key (a variable, a file or a
// KMS-wrapped file) and DSR_WRAP_KEY_FILE.
func openStore(ctx context.Context, cmd, why string) (*store.Store, *keyring.Keyring, []byte, error) {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return nil, nil, nil, fmt.Errorf("%s: DATABASE_URL is required: %s", cmd, why)
	}
	// The master key's settings only, from the environment: the file, the
	// variable or the KMS-wrapped file.
	s, err := settings("worker "+cmd, nil, os.LookupEnv)
	if err != nil {
		return nil, nil, nil, err
	}
	master, err := s.LoadMasterKey(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", cmd, err)
	}
	ring, err := config.NewKeyring(master, s.WrapKeyFile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", cmd, err)
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		return nil, nil, nil, err
	}
	return st, ring, master, nil
}

// run validates the settings, connects and serves until ctx ends. The
// other commands: "setup" prepares the Temporal namespace, "check"
// validates the settings and the data map without connecting, "health"
// asks a running process whether it is healthy, "kms" wraps the master
// key with Vault or rewraps it, "tokens …" manages API
// tokens in the store (DATABASE_URL), "suppression check" checks the
// suppression list, "keys" rotates the wrapping key, and "scan" compares
// the SQL systems' schemas with the map.
func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "setup" {
		return setup(ctx, args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "scan" {
		return engine.ScanCommand(ctx, args[1:], os.Getenv("DSR_CONFIG"), config.Load, os.Getenv, os.Stdout)
	}
	if len(args) > 0 && args[0] == "tokens" {
		url := os.Getenv("DATABASE_URL")
		if url == "" {
			return fmt.Errorf("tokens: DATABASE_URL is required: the tokens live in the engine's store")
		}
		st, err := store.Open(ctx, url)
		if err != nil {
			return err
		}
		defer st.Close()
		return engine.Tokens(ctx, st, args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "suppression" {
		return suppression(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "keys" {
		return keys(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "check" {
		return check(args[1:], os.LookupEnv, os.Stdout)
	}
	if len(args) > 0 && args[0] == "kms" {
		return kmsCommand(ctx, args[1:], os.LookupEnv, os.Stdout)
	}
	if len(args) > 0 && args[0] == "health" {
		return health(ctx, args[1:])
	}
	s, err := settings("worker", args, os.LookupEnv)
	if err != nil {
		return err
	}
	if err := engine.CheckSettings(s); err != nil {
		return err
	}
	log := connect.NewLogger(s.LogLevel)
	// The SDK's cache is the process's, and must be sized before the worker
	// exists; its default (10,000 requests, about 600 MB) is more than a
	// worker waiting on many sign-offs should hold.
	worker.SetStickyWorkflowCacheSize(s.CacheSize())
	dataMap, err := config.Load(s.ConfigFile)
	if err != nil {
		return err
	}
	keys, err := s.Keyring(ctx)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, s.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	setup := engine.Setup{Map: dataMap, Getenv: s.Getenv, Role: s.Role, Store: st, Keys: keys, Log: log, Slack: *s,
		Temporal: connect.Options{Address: s.TemporalAddress, Namespace: s.Namespace, TLSCert: s.TLSCert, TLSKey: s.TLSKey,
			TLSCA: s.TLSCA, TLSName: s.TLSServerName, APIKey: s.APIKey},
		GatewayAddr: s.GatewayAddr, ExportDir: s.ExportDir, PublicURL: s.PublicURL,
		ExposeCodec: s.CodecOrigins != "", CodecOrigins: s.Origins(), TrustedProxies: s.Proxies(), CallbackGiveUp: s.GiveUp()}
	if mc, ok, _ := mail.FromEnv(s.Getenv); ok { // checked with the other settings
		setup.Mail = &mc
	}
	if s.OpenDSRKeyFile != "" {
		if setup.OpenDSR, err = opendsr.LoadSigner(s.OpenDSRKeyFile, s.OpenDSRCertFile); err != nil {
			return err
		}
	}
	e, err := engine.Open(ctx, setup)
	if err != nil {
		return err
	}
	defer e.Close()
	ln, err := e.Listen()
	if err != nil {
		return err
	}
	log.Info("worker running", "role", s.Role, "temporal", s.TemporalAddress, "namespace", s.Namespace,
		"gateway", "http://"+ln.Addr().String(), "departments", len(dataMap.Departments), "systems", len(e.Systems), "key_id", keys.KeyID(), "slack", e.Slack != nil)
	return e.Run(ctx, ln)
}

// settings parses the process settings from args, defaulting from the
// environment that lookup reads.
func settings(name string, args []string, lookup func(string) (string, bool)) (*config.Settings, error) {
	s := &config.Settings{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	s.BindEnv(fs, lookup)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (settings are flags; see %s -h)", fs.Arg(0), name)
	}
	return s, nil
}
