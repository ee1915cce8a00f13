// Package devserver runs a real Temporal server and its Web UI inside the
// engine's process, persisted to an SQLite file, so that dev mode needs no
// Docker and no external service. Production never imports it.
package devserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
	_ "modernc.org/sqlite" // registers "sqlite" for forgetPeers

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"
)

// Options configure the embedded server.
type Options struct {
	DataDir      string
	IP           string // listen address of every service, normally 127.0.0.1
	FrontendPort int
	UIPort       int // 0 disables the Web UI
	Namespace    string
	Retention    time.Duration
	// CodecEndpoint, when set, lets the Web UI decrypt payloads through the
	// engine's gateway.
	CodecEndpoint string
	// LogLevel of the server's own log on stdout; "" silences it.
	LogLevel string
}

// Server is a running embedded Temporal server.
type Server struct {
	temporal temporal.Server
	ui       *uiserver.Server
	opts     Options
}

// DynamicConfig tunes a single-node server for low latency: the default
// dispatch waits up to 50 ms per task hand-off (transferProcessorMaxPollRPS
// 20); at 1000 a small fan-out runs several times faster. Tests use it too.
func DynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		dynamicconfig.TransferProcessorMaxPollRPS.Key():             []dynamicconfig.ConstrainedValue{{Value: 1000}},
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		// Waiting for an Update's outcome or a workflow's result is a long
		// poll on the history service. Under load on one small machine a
		// completion is now and then noticed only when the poll expires
		// (20 s by default), and the client polls again; 5 s bounds that.
		dynamicconfig.HistoryLongPollExpirationInterval.Key(): []dynamicconfig.ConstrainedValue{{Value: 5 * time.Second}},
	}
}

// Start creates the data directory and database on first use and starts
// the server; state survives restarts because everything lives in DataDir.
func Start(ctx context.Context, o Options) (*Server, error) {
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	ports := []int{o.FrontendPort}
	if o.UIPort != 0 {
		ports = append(ports, o.UIPort)
	}
	for _, p := range ports {
		if err := portFree(o.IP, p); err != nil {
			return nil, err
		}
	}
	dbPath := filepath.Join(o.DataDir, "temporal.db")
	sqlCfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      dbPath,
		ConnectAttributes: map[string]string{"mode": "rwc", "_journal_mode": "wal", "_synchronous": "2"},
	}
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
			return nil, fmt.Errorf("create Temporal schema in %s: %w", dbPath, err)
		}
	} else if err := forgetPeers(dbPath); err != nil {
		return nil, err
	}
	var base log.Logger = log.NewNoopLogger()
	if o.LogLevel != "" {
		base = log.NewZapLogger(log.BuildZapLogger(log.Config{Stdout: true, Level: o.LogLevel, Format: "json"}))
	}
	srv, err := newServer(o, sqlCfg, base)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start Temporal server: %w", err)
	}
	s := &Server{temporal: srv, opts: o}
	if err := s.ensureNamespace(ctx); err != nil {
		srv.Stop()
		return nil, err
	}
	if o.UIPort != 0 {
		s.ui = uiserver.NewServer(server_options.WithConfigProvider(&uiconfig.Config{
			TemporalGRPCAddress: s.FrontendAddress(),
			Host:                o.IP,
			Port:                o.UIPort,
			EnableUI:            true,
			DefaultNamespace:    o.Namespace,
			HideLogs:            true,
			CORS:                uiconfig.CORS{CookieInsecure: true},
			Codec:               uiconfig.Codec{Endpoint: o.CodecEndpoint, IncludeCredentials: o.CodecEndpoint != ""},
			DisableNewsFetch:    true,
		}))
		go s.ui.Start()
	}
	return s, nil
}

// newServer builds the server on internal ports picked for it. A port
// picked free can still be taken by another process before the server
// binds it; the server then only logs a fatal error (its logger here does
// not exit) and would go on with no listener, to panic once it serves.
// Such a build is refused with the server's own words, never started.
func newServer(o Options, sqlCfg *config.SQL, base log.Logger) (temporal.Server, error) {
	cfg, err := serverConfig(o, sqlCfg)
	if err != nil {
		return nil, err
	}
	beforeBuild(cfg)
	logger := &fatalLogger{Logger: base, fatal: new(atomic.Pointer[string])}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(DynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("create Temporal server: %w", err)
	}
	if msg := logger.fatal.Load(); msg != nil {
		return nil, fmt.Errorf("create Temporal server: %s", *msg)
	}
	return srv, nil
}

// fatalLogger records the server's fatal errors instead of exiting (or,
// silenced, ignoring them), so that newServer can tell a build that
// failed to bind a port.
type fatalLogger struct {
	log.Logger
	fatal *atomic.Pointer[string]
}

func (l *fatalLogger) Fatal(msg string, tags ...tag.Tag) {
	for _, t := range tags {
		msg += fmt.Sprintf(" %s=%v", t.Key(), t.Value())
	}
	l.fatal.CompareAndSwap(nil, &msg)
	l.Logger.Error(msg, tags...)
}

// With keeps the recording in loggers the server derives with tags.
func (l *fatalLogger) With(tags ...tag.Tag) log.Logger {
	return &fatalLogger{Logger: log.With(l.Logger, tags...), fatal: l.fatal}
}

// pickPort picks an internal port, and beforeBuild runs between the picks
// and the server's binds: variables for the tests that pick one port
// twice, and take a port in between.
var (
	pickPort    = freePort
	beforeBuild = func(*config.Config) {}
)

func serverConfig(o Options, sqlCfg *config.SQL) (*config.Config, error) {
	frontend := net.JoinHostPort(o.IP, strconv.Itoa(o.FrontendPort))
	// The ports picked are held until all are, so that no two services
	// of this server get the same one.
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	pick := func() (int, error) {
		var err error
		for range 100 {
			var port int
			if port, err = pickPort(o.IP); err != nil {
				return 0, err
			}
			var ln net.Listener
			if ln, err = net.Listen("tcp", net.JoinHostPort(o.IP, strconv.Itoa(port))); err == nil {
				held = append(held, ln)
				return port, nil
			}
		}
		return 0, fmt.Errorf("no port for the embedded server's services: %w", err)
	}
	service := func(grpc int) (config.Service, error) {
		membership, err := pick()
		if err != nil {
			return config.Service{}, err
		}
		if grpc == 0 {
			if grpc, err = pick(); err != nil {
				return config.Service{}, err
			}
		}
		return config.Service{RPC: config.RPC{GRPCPort: grpc, MembershipPort: membership, BindOnIP: o.IP}}, nil
	}
	services := map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		port := 0
		if name == "frontend" {
			port = o.FrontendPort
		}
		svc, err := service(port)
		if err != nil {
			return nil, err
		}
		services[name] = svc
	}
	return &config.Config{
		Global: config.Global{Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: o.IP}},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        "active",
			CurrentClusterName:       "active",
			ClusterInformation: map[string]cluster.ClusterInformation{
				"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: frontend},
	}, nil
}

// ensureNamespace registers the namespace on first start and raises its
// retention to the configured one, so closed requests stay browsable for
// auditors well beyond Temporal's default of one day.
func (s *Server) ensureNamespace(ctx context.Context) error {
	c, err := client.DialContext(ctx, client.Options{HostPort: s.FrontendAddress(), Logger: nopLogger{}})
	if err != nil {
		return fmt.Errorf("connect to embedded Temporal: %w", err)
	}
	defer c.Close()
	ns := c.WorkflowService()
	retention := durationpb.New(s.opts.Retention)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = ns.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: s.opts.Namespace, WorkflowExecutionRetentionPeriod: retention,
			Description: "data-subject requests (dsr dev mode)",
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err == nil || errors.As(err, &exists) {
			break
		}
		// The frontend may accept connections before the other services joined.
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("register namespace %s: %w", s.opts.Namespace, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	desc, err := ns.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.opts.Namespace})
	if err != nil {
		return fmt.Errorf("describe namespace %s: %w", s.opts.Namespace, err)
	}
	if desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() < s.opts.Retention {
		cfg := desc.GetConfig()
		cfg.WorkflowExecutionRetentionTtl = retention
		if _, err := ns.UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{Namespace: s.opts.Namespace, Config: cfg}); err != nil {
			return fmt.Errorf("raise retention of %s: %w", s.opts.Namespace, err)
		}
	}
	return nil
}

// FrontendAddress is host:port of the gRPC frontend.
func (s *Server) FrontendAddress() string {
	return net.JoinHostPort(s.opts.IP, strconv.Itoa(s.opts.FrontendPort))
}

// UIURL is the Web UI's address, or "" when it is disabled.
func (s *Server) UIURL() string {
	if s.ui == nil {
		return ""
	}
	return "http://" + net.JoinHostPort(s.opts.IP, strconv.Itoa(s.opts.UIPort))
}

// Stop shuts the UI and the server down.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
	}
	s.temporal.Stop()
}

// forgetPeers removes the membership records of earlier runs. This is a
// single-node server: a record of the previous process, still unexpired
// after a quick restart, would make the new one route work to a dead peer
// for half a minute.
func forgetPeers(dbPath string) error {
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM cluster_membership`); err != nil {
		return fmt.Errorf("reset Temporal membership in %s: %w", dbPath, err)
	}
	return nil
}

func portFree(ip string, port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d on %s is taken (is another dev mode running? choose other ports with the flags): %w", port, ip, err)
	}
	return ln.Close()
}

// freePort picks a free port for an internal service below the kernel's
// ephemeral range (32768 and up on Linux). The port is closed again before
// the server binds it; had it come from the ephemeral range, any process
// connecting out or listening on port 0 could take it in between, and the
// server's matching service panics on a port it cannot bind.
func freePort(ip string) (int, error) {
	var err error
	for range 100 {
		port := 20000 + mathrand.IntN(12000)
		var ln net.Listener
		if ln, err = net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port))); err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port between 20000 and 32000 on %s: %w", ip, err)
}

type nopLogger struct{}

func (nopLogger) Debug(string, ...any) {}
func (nopLogger) Info(string, ...any)  {}
func (nopLogger) Warn(string, ...any)  {}
func (nopLogger) Error(string, ...any) {}
