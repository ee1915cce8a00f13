package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/workflows"
)

// setup prepares a Temporal namespace for the engine before the first
// worker starts: it checks that the namespace exists, registers the
// engine's search attributes, and checks that the namespace keeps closed
// requests' histories long enough for auditors to read them there. It reads the same
// Temporal settings as the worker (address, namespace, TLS or API key)
// and needs nothing else: no store, no data map, no master key.
func setup(ctx context.Context, args []string, out io.Writer) error {
	var s config.Settings
	fs := flag.NewFlagSet("worker setup", flag.ContinueOnError)
	s.Bind(fs)
	// Long enough for auditors to read a closed request in the Web UI and
	// for the engine to archive it; short, since Temporal's copy is not
	// crypto-shredded (docs/data-at-rest.md): the store keeps the archive.
	minRetention := fs.String("min-retention", "7d", "the shortest retention of closed histories accepted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("setup: unexpected argument %q", fs.Arg(0))
	}
	least, err := config.ParseDuration(*minRetention)
	if err != nil {
		return fmt.Errorf("setup: --min-retention %v", err)
	}
	// The operator calls carry no payload: any key will do for the codec
	// every client of the engine is built with.
	throwaway := make([]byte, keyring.MasterKeySize)
	rand.Read(throwaway)
	keys, err := keyring.New(throwaway)
	if err != nil {
		return err
	}
	c, err := connect.Dial(ctx, connect.Options{Address: s.TemporalAddress, Namespace: s.Namespace, TLSCert: s.TLSCert, TLSKey: s.TLSKey,
		TLSCA: s.TLSCA, TLSName: s.TLSServerName, APIKey: s.APIKey, Keys: keys, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	defer c.Close()
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.Namespace})
	var missing *serviceerror.NamespaceNotFound
	if errors.As(err, &missing) {
		return fmt.Errorf("setup: namespace %s does not exist on %s: create it first, e.g. temporal operator namespace create --namespace %s --retention %s (on Temporal Cloud, in its UI or with tcld)",
			s.Namespace, s.TemporalAddress, s.Namespace, *minRetention)
	}
	if err != nil {
		return fmt.Errorf("setup: describe namespace %s: %w", s.Namespace, err)
	}
	names := make([]string, 0, len(workflows.SearchAttributes))
	for name, typ := range workflows.SearchAttributes {
		names = append(names, name+" ("+typ.String()+")")
	}
	slices.Sort(names)
	if err := engine.EnsureSearchAttributes(ctx, c, s.Namespace); err != nil {
		return fmt.Errorf("setup: %w; register them by hand if this client may not (Temporal Cloud: its UI or tcld): %s", err, strings.Join(names, ", "))
	}
	fmt.Fprintf(out, "Namespace %s on %s: search attributes registered: %s.\n", s.Namespace, s.TemporalAddress, strings.Join(names, ", "))
	retention := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()
	days := func(d time.Duration) string { return fmt.Sprintf("%g days", d.Hours()/24) }
	if retention < least {
		return fmt.Errorf("setup: namespace %s keeps closed requests' histories %s, less than %s: auditors read closed requests in the Temporal Web UI and CLI until then; raise it, e.g. temporal operator namespace update --namespace %s --retention %s",
			s.Namespace, days(retention), days(least), s.Namespace, *minRetention)
	}
	fmt.Fprintf(out, "Closed requests' histories are kept %s (at least %s asked).\n", days(retention), days(least))
	return nil
}
