// Command mailwave serves the demo newsletter SaaS (internal/mailwave) as a
// service of its own: the compose file's example company reaches it over
// the network, as a company reaches its real provider. Dev mode runs the
// same API inside its own process instead.
//
//	MAILWAVE_TOKEN=… mailwave --addr :8090 --seed seed.json --state /var/lib/mailwave/state.json
//	mailwave health --addr :8090
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dsrengine/dsr/gateway"
	"github.com/dsrengine/dsr/internal/mailwave"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "mailwave:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	healthCheck := len(args) > 0 && args[0] == "health"
	if healthCheck {
		args = args[1:]
	}
	fs := flag.NewFlagSet("mailwave", flag.ContinueOnError)
	addr := fs.String("addr", or(getenv("MAILWAVE_ADDR"), "127.0.0.1:8090"), "host:port to listen on (env MAILWAVE_ADDR)")
	seed := fs.String("seed", getenv("MAILWAVE_SEED"), "JSON file of the contacts and events to start with (env MAILWAVE_SEED)")
	state := fs.String("state", getenv("MAILWAVE_STATE"), "file that keeps the data across restarts; once written it wins over the seed (env MAILWAVE_STATE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if healthCheck {
		return gateway.Probe(ctx, *addr)
	}
	serveUntil, err := listen(*addr, *seed, *state, getenv("MAILWAVE_TOKEN"))
	if err != nil {
		return err
	}
	return serveUntil(ctx)
}

// listen checks the settings and binds the address, so that a mistake
// fails the start; the function it returns serves until ctx ends.
func listen(addr, seedFile, stateFile, token string) (func(context.Context) error, error) {
	var errs []error
	if len(token) < 16 {
		errs = append(errs, errors.New("MAILWAVE_TOKEN: required, at least 16 characters: the bearer token the API accepts"))
	}
	if seedFile == "" && stateFile == "" {
		errs = append(errs, errors.New("--seed (MAILWAVE_SEED) or --state (MAILWAVE_STATE): give at least one, or the service holds no one"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var seed mailwave.Seed
	if seedFile != "" {
		b, err := os.ReadFile(seedFile)
		if err != nil {
			return nil, fmt.Errorf("--seed (MAILWAVE_SEED): %w", err)
		}
		if seed, err = mailwave.ParseSeed(seedFile, b); err != nil {
			return nil, err
		}
	}
	srv, err := mailwave.New(token, stateFile, seed.Contacts, seed.Events)
	if err != nil {
		return nil, fmt.Errorf("--state (MAILWAVE_STATE): %w", err)
	}
	// A real provider pages too, but in pages of this size rather than
	// the tests' two.
	srv.PageSize = 50
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.Handle("/", srv)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--addr (MAILWAVE_ADDR): %w", err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(shutdown)
	}, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
