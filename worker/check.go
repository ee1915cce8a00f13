package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/engine"
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
	m, err := loadMap(s)
	if err != nil {
		return err
	}
	connected := len(m.Systems)
	if s.Role == config.RoleGateway {
		connected = 0
	}
	fmt.Fprintf(out, "ok: role %s, data map %s with %d departments and %d systems (%d connected by this role)\n",
		s.Role, s.ConfigFile, len(m.Departments), len(m.Systems), connected)
	return nil
}

// health asks the process listening on the gateway address for /healthz,
// for a container's health check: the image has no shell or curl.
func health(ctx context.Context, args []string) error {
	s, err := settings("worker health", args, os.LookupEnv)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(s.GatewayAddr)
	if err != nil {
		return fmt.Errorf("health: --gateway-addr (DSR_GATEWAY_ADDR): %q is not host:port", s.GatewayAddr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s", url, resp.Status)
	}
	return nil
}
