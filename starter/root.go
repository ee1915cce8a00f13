package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/requests"
)

// The exit codes scripts rely on; exitCode is the one place that maps
// errors to them.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitNotFound = 3
	exitConflict = 4
	exitRefused  = 5
)

// devKeyFile is where dev mode keeps its key, relative to the repository.
const devKeyFile = ".dsr/dev/master.key"

const about = `starter is the compliance command line of dsr: it starts data-subject
requests, steers them, and reads their records and evidence.

Types: access, portability, erasure, opt_in, withdrawal
Regulations: gdpr, uk_gdpr, ccpa (CCPA/CPRA), lgpd

Exit codes: 0 done, 1 failed, 2 invalid input, 3 no such request, 4 request id
already used, 5 refused by the request (e.g. an extension beyond the law).`

// cli holds what every command shares.
type cli struct {
	stdout, stderr io.Writer
	address        string
	namespace      string
	keyFile        string
	output         string
	dial           func(ctx context.Context) (client.Client, error)
	// watchEvery is how often show --watch looks again.
	watchEvery time.Duration
	// keyring, when set (tests), replaces the key from the environment.
	keyring *keyring.Keyring
	// parsed is set once a command's flags and arguments were accepted:
	// an error before that is a usage error, whoever raised it.
	parsed bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&cli{stdout: stdout, stderr: stderr, watchEvery: time.Second}).run(ctx, args)
}

// run executes one command line and returns its exit code.
func (c *cli) run(ctx context.Context, args []string) int {
	root := c.root()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := c.exitCode(err)
	if err != nil {
		fmt.Fprintf(c.stderr, "starter: %v\n", err)
		if code == exitUsage && !c.parsed {
			fmt.Fprintln(c.stderr, `Run "starter --help" for the commands, "starter COMMAND --help" for a command's flags.`)
		}
	}
	return code
}

func (c *cli) root() *cobra.Command {
	root := &cobra.Command{
		Use:           "starter",
		Short:         "the compliance command line of dsr",
		Long:          about,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Without a command, say how to use it, and fail: a script that
		// forgot its command must not pass.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(c.stderr)
			cmd.Usage()
			return usage("no command given")
		},
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if c.output != "table" && c.output != "json" {
				return usage("--output %q: must be table or json", c.output)
			}
			c.parsed = true
			return nil
		},
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage("%v", err) })
	pf := root.PersistentFlags()
	pf.StringVar(&c.address, "temporal-address", envOr("DSR_TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port (env DSR_TEMPORAL_ADDRESS)")
	pf.StringVar(&c.namespace, "namespace", envOr("DSR_NAMESPACE", "dsr"), "Temporal namespace (env DSR_NAMESPACE)")
	pf.StringVar(&c.keyFile, "key-file", os.Getenv("DSR_MASTER_KEY_FILE"), "master key file (env DSR_MASTER_KEY_FILE or DSR_MASTER_KEY; default: dev mode's "+devKeyFile+")")
	pf.StringVar(&c.output, "output", "table", "output format: table or json")

	root.AddGroup(&cobra.Group{ID: "requests", Title: "Requests:"}, &cobra.Group{ID: "changes", Title: "Steering a request:"},
		&cobra.Group{ID: "records", Title: "Records and evidence:"})
	add := func(group string, cmds ...*cobra.Command) {
		for _, cmd := range cmds {
			cmd.GroupID = group
			root.AddCommand(cmd)
		}
	}
	add("requests", c.startCmd(), c.showCmd(), c.listCmd())
	add("changes", c.changeCmds()...)
	add("records", c.auditCmd(), c.metricsCmd(), c.fetchCmd(), c.taskCmd(), c.consentCmd())
	return root
}

// exitError is an error with the exit code it ends starter with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usage is a command line starter cannot act on.
func usage(format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, args...)}
}

// exitCode maps an error to the documented exit codes.
func (c *cli) exitCode(err error) int {
	var ee *exitError
	var fe *domain.FieldError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case !c.parsed:
		// cobra's own refusals: an unknown command or flag, a bad value.
		return exitUsage
	case errors.Is(err, requests.ErrNotFound):
		return exitNotFound
	case errors.Is(err, requests.ErrIDTaken):
		return exitConflict
	case errors.Is(err, requests.ErrRefused):
		return exitRefused
	case errors.As(err, &fe):
		return exitUsage
	}
	return exitFailed
}

// noArgs refuses positional arguments, naming the first.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usage("unexpected argument %q", args[0])
	}
	return nil
}

// requestID takes exactly one argument, a well-formed request id.
func requestID(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return usage("%s needs a request id: %s REQUEST-ID", cmd.Name(), cmd.CommandPath())
	case len(args) > 1:
		return usage("unexpected argument %q", args[1])
	}
	if err := domain.ValidateRequestID(args[0]); err != nil {
		return usage("%v", err)
	}
	return nil
}

// connect builds the keyring and dials Temporal; tests replace dial.
func (c *cli) connect(ctx context.Context) (client.Client, error) {
	if c.dial != nil {
		return c.dial(ctx)
	}
	keys, err := c.keys()
	if err != nil {
		return nil, err
	}
	return connect.Dial(ctx, connect.Options{
		Address: c.address, Namespace: c.namespace, Keys: keys, Log: connect.NewLogger("error"),
		TLSCert: os.Getenv("DSR_TEMPORAL_TLS_CERT"), TLSKey: os.Getenv("DSR_TEMPORAL_TLS_KEY"),
		TLSCA: os.Getenv("DSR_TEMPORAL_TLS_CA"), TLSName: os.Getenv("DSR_TEMPORAL_TLS_SERVER_NAME"),
		APIKey: os.Getenv("DSR_TEMPORAL_API_KEY"),
	})
}

// withClient runs f with a connected client and closes it after.
func (c *cli) withClient(ctx context.Context, f func(client.Client) error) error {
	cl, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	return f(cl)
}

// keys finds the master key: DSR_MASTER_KEY, --key-file, or dev mode's file.
// Without it starter could neither encrypt a request nor read one.
func (c *cli) keys() (*keyring.Keyring, error) {
	if c.keyring != nil {
		return c.keyring, nil
	}
	var master []byte
	var err error
	switch env := os.Getenv("DSR_MASTER_KEY"); {
	case env != "":
		if master, err = keyring.ParseMasterKey(env); err != nil {
			return nil, fmt.Errorf("DSR_MASTER_KEY: %w", err)
		}
	default:
		path := c.keyFile
		if path == "" {
			path = devKeyFile
		}
		b, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, fmt.Errorf("no master key: set DSR_MASTER_KEY or --key-file (tried %s: %v); in dev mode run starter from the directory where `go run ./dev` runs", path, errors.Unwrap(rerr))
		}
		if master, err = keyring.ReadKey(path, b); err != nil {
			return nil, err
		}
	}
	return keyring.New(master)
}

func (c *cli) writeJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// actor is who runs starter, for the audit trail.
func actor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:unknown"
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
