package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/gateway"
)

// check validates what the worker would start with, as the worker does at
// start, without connecting to anything: its settings, the data map, and
// the variables the map names. A deployment runs it before rolling out;
// the compose file's test runs it on exactly the environment compose
// gives each service.
func check(args []string, lookup func(string) (string, bool), out io.Writer) error {
	s, err := settings("worker check", args, lookup)
	if err != nil {
		return err
	}
	if err := engine.CheckSettings(s); err != nil {
		return err
	}
	m, err := config.Load(s.ConfigFile)
	if err != nil {
		return err
	}
	// What a start would refuse when it connects the systems, which a
	// gateway does not.
	connected := 0
	if s.Role != config.RoleGateway {
		if err := m.MissingVariables(s.Getenv); err != nil {
			return fmt.Errorf("the data map's systems need these variables:\n%w", err)
		}
		for _, sys := range m.Systems {
			if sys.Connector != "manual" {
				connected++
			}
		}
	}
	fmt.Fprintf(out, "ok: role %s, data map %s with %d departments and %d systems (%d connected by this role)\n",
		s.Role, s.ConfigFile, len(m.Departments), len(m.Systems), connected)
	return nil
}

// health asks the process listening on the gateway address for /healthz.
func health(ctx context.Context, args []string) error {
	s, err := settings("worker health", args, os.LookupEnv)
	if err != nil {
		return err
	}
	return gateway.Probe(ctx, s.GatewayAddr)
}
