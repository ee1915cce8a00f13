// Command dev runs the whole engine on a laptop with one command and no
// external services: a real Temporal server persisted to SQLite, its Web UI,
// the engine's store in SQLite, the worker and the gateway. State lives in
// --data-dir and survives restarts.
//
//	go run ./dev
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/devserver"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/mail"
	"github.com/dsrengine/dsr/opendsr"
	"github.com/dsrengine/dsr/store"
)

// builtInMap names the embedded Acme map in messages.
const builtInMap = "dev/acme.yaml (built in)"

// DefaultDataDir is also where starter looks for the dev key.
const DefaultDataDir = ".dsr/dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		if errors.Is(err, engine.ErrFindings) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

// run starts everything, prints the banner to out and serves until ctx ends.
func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "scan" {
		// The demo's systems, seeded as dev mode would, unless the
		// environment points a system elsewhere: go run ./dev scan
		dir := os.Getenv("DSR_DEV_DATA_DIR")
		if dir == "" {
			dir = DefaultDataDir
		}
		return engine.ScanCommand(ctx, args[1:], os.Getenv("DSR_CONFIG"), loadMap, func(name string) string {
			return demoDSN(ctx, filepath.Join(dir, "acme"), name)
		}, out)
	}
	if len(args) > 0 && args[0] == "tokens" {
		// API tokens for the dev store: go run ./dev tokens create --name N --role R
		dir := os.Getenv("DSR_DEV_DATA_DIR")
		if dir == "" {
			dir = DefaultDataDir
		}
		st, err := store.Open(ctx, filepath.Join(dir, "dsr.db"))
		if err != nil {
			return err
		}
		defer st.Close()
		return engine.Tokens(ctx, st, args[1:], out)
	}
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dataDir := fs.String("data-dir", DefaultDataDir, "directory for all dev-mode state (Temporal, store, key)")
	ip := fs.String("ip", "127.0.0.1", "address every service listens on")
	temporalPort := fs.Int("temporal-port", 7233, "Temporal frontend gRPC port")
	uiPort := fs.Int("ui-port", 8233, "Temporal Web UI port (0 disables the UI)")
	gatewayPort := fs.Int("gateway-port", 8080, "engine HTTP gateway port")
	namespace := fs.String("namespace", "dsr", "Temporal namespace")
	retentionDays := fs.Int("retention-days", 30, "how long closed workflow histories stay in Temporal (at least 30)")
	configFile := fs.String("config", "", "data map YAML file (default: the built-in Acme demo)")
	logLevel := fs.String("log-level", "info", "engine log level: debug, info, warn, error")
	serverLog := fs.String("server-log-level", "", "Temporal server log level on stdout (default silent)")
	temporalOnly := fs.Bool("temporal-only", false, "run only the Temporal server and its Web UI, for production workers and gateways started apart (docs/deployment.md)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see dev -h)", fs.Arg(0))
	}
	for name, p := range map[string]int{"--temporal-port": *temporalPort, "--gateway-port": *gatewayPort} {
		if p < 1 || p > 65535 {
			return fmt.Errorf("%s %d: must be a port between 1 and 65535", name, p)
		}
	}
	if *uiPort < 0 || *uiPort > 65535 {
		return fmt.Errorf("--ui-port %d: must be 0 (no UI) or a port up to 65535", *uiPort)
	}
	if *retentionDays < 30 {
		return fmt.Errorf("--retention-days %d: must be at least 30, so that auditors can still read closed requests", *retentionDays)
	}
	if net.ParseIP(*ip) == nil {
		return fmt.Errorf("--ip %q: not an IP address", *ip)
	}

	if *temporalOnly {
		return serveTemporal(ctx, out, *dataDir, *ip, *temporalPort, *uiPort, *gatewayPort, *namespace, *retentionDays, *serverLog)
	}

	dataMap, err := loadMap(*configFile)
	if err != nil {
		return err
	}
	log := connect.NewLogger(*logLevel)

	// Absolute, so that package locations and the banner's hints work from
	// any directory.
	customDataDir := *dataDir != DefaultDataDir
	if abs, err := filepath.Abs(*dataDir); err == nil {
		*dataDir = abs
	}
	keyFile := filepath.Join(*dataDir, "master.key")
	master, err := keyring.LoadOrCreateKeyFile(keyFile)
	if err != nil {
		return err
	}
	keys, err := keyring.New(master)
	if err != nil {
		return err
	}
	gatewayAddr := net.JoinHostPort(*ip, strconv.Itoa(*gatewayPort))
	// The Web UI decrypts through the codec endpoint for an auditor or
	// admin who logged in there with a token; it sends the login cookie.
	exposeCodec := *uiPort != 0
	codecEndpoint := ""
	uiOrigins := []string{"http://" + net.JoinHostPort(*ip, strconv.Itoa(*uiPort))}
	if exposeCodec {
		codecEndpoint = "http://" + gatewayAddr + "/codec"
	}
	srv, err := devserver.Start(ctx, devserver.Options{
		DataDir: *dataDir, IP: *ip, FrontendPort: *temporalPort, UIPort: *uiPort, Namespace: *namespace,
		Retention: time.Duration(*retentionDays) * 24 * time.Hour, CodecEndpoint: codecEndpoint,
		LogLevel: *serverLog,
	})
	if err != nil {
		return err
	}
	defer srv.Stop()

	st, err := store.Open(ctx, filepath.Join(*dataDir, "dsr.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	tokenFile, err := devToken(ctx, st, *dataDir)
	if err != nil {
		return err
	}
	setup := engine.Setup{Map: dataMap, Getenv: os.Getenv, Store: st, Keys: keys, Log: log, LoopbackCallbacks: true,
		Temporal:    connect.Options{Address: srv.FrontendAddress(), Namespace: *namespace},
		GatewayAddr: gatewayAddr, ExportDir: filepath.Join(*dataDir, "exports"), ExposeCodec: exposeCodec, CodecOrigins: uiOrigins,
		// Slack is optional in dev mode too: with a bot token in the
		// environment, the departments get their messages there.
		Slack: config.Settings{SlackBotToken: os.Getenv("DSR_SLACK_BOT_TOKEN"), SlackSigningSecret: os.Getenv("DSR_SLACK_SIGNING_SECRET"),
			SlackAppToken: os.Getenv("DSR_SLACK_APP_TOKEN")}}
	// The subjects' e-mails go to an SMTP server in this process, read in
	// the console's mail view, unless DSR_SMTP_HOST names a real one.
	mc, smtpSet, err := mail.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	var sink *mail.Sink
	if !smtpSet {
		sink = &mail.Sink{}
		if err := sink.Start("127.0.0.1:0"); err != nil {
			return err
		}
		defer sink.Close()
		host, port, _ := net.SplitHostPort(sink.Addr())
		p, _ := strconv.Atoi(port)
		mc = mail.Config{SMTP: mail.Settings{Host: host, Port: p, From: "Acme Privacy <privacy@acme.example>", TLS: "none"}, Lang: "en"}
	}
	setup.Mail = &mc
	var saas string
	if *configFile == "" {
		acme, err := startAcme(ctx, filepath.Join(*dataDir, "acme"), dataMap, *ip)
		if err != nil {
			return err
		}
		defer acme.Close()
		setup.Getenv, saas = acme.Getenv, acme.SaaSURL
	}
	// OpenDSR controllers can send requests in; the processor's key and
	// self-signed certificate are made on first start.
	if setup.OpenDSR, err = opendsr.LoadOrCreateSigner(filepath.Join(*dataDir, "opendsr-key.pem"), filepath.Join(*dataDir, "opendsr-cert.pem"), *ip); err != nil {
		return err
	}
	e, err := engine.Open(ctx, setup)
	if err != nil {
		return err
	}
	defer e.Close()
	if sink != nil {
		e.DevMail = sink.Messages
	}
	ln, err := e.Listen()
	if err != nil {
		return err
	}
	fmt.Fprint(out, banner(srv, *namespace, gatewayAddr, saas, *dataDir, customDataDir, dataMap.Path(), *temporalPort, tokenFile))
	fmt.Fprintf(out, "API and console: http://%s/console (admin token in %s; more: go run ./dev tokens create --name N --role R)\n", gatewayAddr, tokenFile)
	if sink != nil {
		fmt.Fprintf(out, "E-mails to subjects: the console's mail view (an SMTP sink on %s; DSR_SMTP_HOST sends them for real)\n", sink.Addr())
	}
	fmt.Fprintln(out)
	return e.Run(ctx, ln)
}

// devToken makes an admin API token on the first start and keeps its
// secret in the data directory, as the master key is kept.
func devToken(ctx context.Context, st *store.Store, dir string) (string, error) {
	path := filepath.Join(dir, "api-token")
	// Kept while it works; a token that expired or was revoked is replaced.
	if b, err := os.ReadFile(path); err == nil {
		if _, err := st.Authenticate(ctx, strings.TrimSpace(string(b))); err == nil {
			return path, nil
		}
	}
	_, secret, err := st.CreateToken(ctx, store.NewToken{Name: "dev-admin", Role: store.RoleAdmin})
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte(secret+"\n"), 0o600)
}

func loadMap(path string) (*config.File, error) {
	if path == "" {
		return config.Parse(builtInMap, acmeMap)
	}
	return config.Load(path)
}

func banner(srv *devserver.Server, namespace, gatewayAddr, saas, dataDir string, customDataDir bool, mapPath string, temporalPort int, tokenFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\ndsr dev mode is running (Ctrl-C stops it; state in %s survives restarts)\n\n", dataDir)
	fmt.Fprintf(&b, "  Temporal frontend  %s  (namespace %s)\n", srv.FrontendAddress(), namespace)
	if ui := srv.UIURL(); ui != "" {
		fmt.Fprintf(&b, "  Temporal Web UI    %s/namespaces/%s/workflows\n", ui, namespace)
		fmt.Fprintf(&b, "  Decrypt in the UI  http://%s/codec/login  (log in with the admin token in %s)\n", gatewayAddr, tokenFile)
	}
	fmt.Fprintf(&b, "  Gateway            http://%s/healthz\n", gatewayAddr)
	if saas != "" {
		fmt.Fprintf(&b, "  Acme's newsletter  %s  (Mailwave, the demo SaaS; bearer token in the engine only)\n", saas)
	}
	fmt.Fprintf(&b, "  Data map           %s\n\n", mapPath)
	var flags []string
	if customDataDir {
		flags = append(flags, "--key-file "+filepath.Join(dataDir, "master.key"))
	}
	if temporalPort != 7233 || namespace != "dsr" {
		flags = append(flags, "--temporal-address "+srv.FrontendAddress(), "--namespace "+namespace)
	}
	extra := ""
	if len(flags) > 0 {
		extra = " " + strings.Join(flags, " ")
	}
	if mapPath != builtInMap {
		fmt.Fprintf(&b, "Try, in another terminal:\n  go run ./starter start --type access --regulation gdpr --email someone@example.com --identity-verified%s\n\n", extra)
		return b.String()
	}
	fmt.Fprintf(&b, "Try, in another terminal (Acme's demo subject: compliance confirms the customer number her CRM row holds; Sales signs off on access):\n")
	fmt.Fprintf(&b, "  go run ./starter start --type access --regulation gdpr --email jane@example.com --identity-verified --id DEMO-1%s\n", extra)
	fmt.Fprintf(&b, "  go run ./starter confirm-identities DEMO-1 --confirm 1%s\n", extra)
	fmt.Fprintf(&b, "  go run ./starter decide DEMO-1 --department Sales --as sales.lead@acme.example --approve%s\n", extra)
	fmt.Fprintf(&b, "  go run ./starter show DEMO-1%s\n\n", extra)
	return b.String()
}

// serveTemporal runs the embedded Temporal server and its Web UI alone,
// with the namespace registered, until ctx ends: the cluster for trying
// the production worker and gateway on one machine. The UI decrypts
// through the codec of a gateway on gatewayPort.
func serveTemporal(ctx context.Context, out io.Writer, dataDir, ip string, port, uiPort, gatewayPort int, namespace string, retentionDays int, serverLog string) error {
	if abs, err := filepath.Abs(filepath.Join(dataDir, "temporal-only")); err == nil {
		dataDir = abs
	}
	codec := ""
	if uiPort != 0 {
		codec = "http://" + net.JoinHostPort(ip, strconv.Itoa(gatewayPort)) + "/codec"
	}
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: dataDir, IP: ip, FrontendPort: port, UIPort: uiPort, Namespace: namespace,
		Retention: time.Duration(retentionDays) * 24 * time.Hour, CodecEndpoint: codec, LogLevel: serverLog})
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Fprintf(out, "Temporal server only (state in %s)\n  Temporal frontend  %s  namespace %s\n", dataDir, srv.FrontendAddress(), namespace)
	if uiPort != 0 {
		fmt.Fprintf(out, "  Web UI             http://%s  (codec: %s)\n", net.JoinHostPort(ip, strconv.Itoa(uiPort)), codec)
	}
	fmt.Fprintln(out, "Start the worker and the gateway against it (docs/deployment.md). Ctrl-C stops.")
	<-ctx.Done()
	return nil
}
