// Package testengine runs the engine for tests on a real in-process
// Temporal server (temporaltest, tuned as in dev mode). It is apart from
// testenv, which reaches the other services, because it links the whole
// Temporal server: a package whose tests need only the databases or a
// wait (testenv.Eventually) builds without it, under -race too.
package testengine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/devserver"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/mail"
	"github.com/dsrengine/dsr/opendsr"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/slackapp"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// NewTemporal starts a real in-process Temporal server, tuned as in dev
// mode, and stops it when the test or benchmark ends.
func NewTemporal(t testing.TB, settings ...dynamicconfig.StaticClient) *temporaltest.TestServer {
	dc := devserver.DynamicConfig()
	for _, s := range settings {
		maps.Copy(dc, s)
	}
	opts := []temporaltest.TestServerOption{
		temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(dc)),
	}
	if tt, ok := t.(*testing.T); ok {
		opts = append(opts, temporaltest.WithT(tt))
		return temporaltest.NewServer(opts...)
	}
	ts := temporaltest.NewServer(opts...)
	t.Cleanup(ts.Stop)
	return ts
}

// Engine is a running engine on a real in-process Temporal server.
type Engine struct {
	Server    *temporaltest.TestServer
	Client    client.Client // with the encrypting data converter
	RawClient client.Client // without it: sees what the server stores
	Store     *store.Store
	Keys      *keyring.Keyring
	Gateway   string // base URL
	Namespace string

	options Options
}

// StartEngine starts Temporal (temporaltest, tuned like dev mode), registers
// the search attributes and runs the worker and gateway on st until the test ends.
func StartEngine(t testing.TB, st *store.Store, systems ...activities.System) *Engine {
	t.Helper()
	return StartEngineWith(t, st, Options{Systems: systems})
}

// Options are what an engine under test runs with.
type Options struct {
	Systems []activities.System
	// Slack builds the Slack app once the Temporal client exists.
	Slack func(c client.Client) *slackapp.App
	// OpenDSR serves the OpenDSR endpoints, signing with this signer.
	OpenDSR *opendsr.Signer
	// Temporal overrides settings of the server's dynamic config, over
	// dev mode's (make bench measures them).
	Temporal dynamicconfig.StaticClient
	// Mail, when set, is the SMTP server the subjects' notices are sent
	// to, through the production client.
	Mail *mail.Sink
	// Packages is the download policy of access packages; zero is the default.
	Packages domain.PackagePolicy
}

// StartEngineWith is StartEngine with options.
func StartEngineWith(t testing.TB, st *store.Store, o Options) *Engine {
	t.Helper()
	keys, err := keyring.New(testenv.TestKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UseAuditKey(context.Background(), keys.AuditKey()); err != nil {
		t.Fatal(err)
	}
	ts := NewTemporal(t, o.Temporal)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	logger := tlog.NewStructuredLogger(quiet)
	opts := connect.ClientOptions(keys)
	opts.Logger = logger
	c := ts.NewClientWithOptions(opts)
	raw := ts.NewClientWithOptions(client.Options{Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	if err := engine.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()); err != nil {
		t.Fatal(err)
	}
	gateway := runEngine(t, ctx, cancel, c, st, keys, quiet, o)
	return &Engine{Server: ts, Client: c, RawClient: raw, Store: st, Keys: keys,
		Gateway: gateway, Namespace: ts.GetDefaultNamespace(), options: o}
}

// Replica runs another worker and gateway of the same engine, on the same
// Temporal server and store, as a second replica behind a load balancer
// does; with o's Slack app, if any. It returns the replica's gateway.
func (e *Engine) Replica(t testing.TB, o Options) string {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	if o.Systems == nil {
		o.Systems = e.options.Systems
	}
	return runEngine(t, ctx, cancel, e.Client, e.Store, e.Keys, quiet, o)
}

// runEngine runs a worker and a gateway until the test ends, and returns
// the gateway's base URL.
func runEngine(t testing.TB, ctx context.Context, cancel context.CancelFunc, c client.Client, st *store.Store, keys *keyring.Keyring, quiet *slog.Logger, o Options) string {
	t.Helper()
	e := &engine.Engine{Client: c, Store: st, Keys: keys, Log: quiet, GatewayAddr: "127.0.0.1:0", Systems: o.Systems, ExportDir: t.TempDir(),
		ArchiveEvery: 200 * time.Millisecond, Packages: o.Packages}
	var err error
	if o.Slack != nil {
		e.Slack = o.Slack(c)
	}
	if o.Mail != nil {
		host, port, _ := net.SplitHostPort(o.Mail.Addr())
		p, _ := strconv.Atoi(port)
		e.Mail, err = engine.NewMail(mail.Config{SMTP: mail.Settings{Host: host, Port: p, From: "Acme Privacy <privacy@acme.example>", TLS: "none"}, Lang: "en"},
			st, keys, quiet)
		if err != nil {
			t.Fatal(err)
		}
		e.DevMail = o.Mail.Messages // the console's mail view, as in dev mode
	}
	e.OpenDSR = o.OpenDSR
	e.LoopbackCallbacks = true // the tests' controllers listen on loopback
	ln, err := e.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("engine: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("engine did not stop")
		}
	})
	return "http://" + ln.Addr().String()
}

// Table is an in-memory system holding Rows records on every subject until
// erased: a company system for tests about the workflow rather than about
// a database (the connectors have their own tests on the real databases).
// It is not a stand-in for Temporal or the store.
type Table struct {
	mu   sync.Mutex
	Rows int64
	// Consent holds the consent state per purpose set by ApplyConsent.
	Consent map[string]bool
}

func (t *Table) Discover(context.Context, []domain.Identity) (connectors.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return connectors.Result{Records: []connectors.Record{{Location: "rows", Action: "found", Count: t.Rows}}}, nil
}

func (t *Table) Export(_ context.Context, _ []domain.Identity, w io.Writer) (connectors.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := fmt.Fprintf(w, `{"rows":%d}`, t.Rows); err != nil {
		return connectors.Result{}, err
	}
	return connectors.Result{Records: []connectors.Record{{Location: "rows", Action: "exported", Count: t.Rows}}}, nil
}

func (t *Table) Erase(context.Context, []domain.Identity, connectors.EraseOptions) (connectors.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.Rows
	t.Rows = 0
	return connectors.Result{Records: []connectors.Record{{Location: "rows", Action: "deleted", Count: n}}}, nil
}

func (t *Table) ApplyConsent(_ context.Context, _ []domain.Identity, purpose string, granted bool) (connectors.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Consent == nil {
		t.Consent = map[string]bool{}
	}
	t.Consent[purpose] = granted
	return connectors.Result{Records: []connectors.Record{{Location: "consent", Action: "updated", Count: t.Rows}}}, nil
}

// Run starts a request, gives the departments' decisions once it waits for
// sign-off, and returns its final state, which must be completed.
func (e *Engine) Run(t testing.TB, in workflows.RequestInput, decisions ...workflows.Decision) workflows.RequestState {
	t.Helper()
	return e.RunLinked(t, in, nil, decisions...)
}

// RunLinked is Run for a request whose records hold linked identities:
// once it proposes them, compliance confirms those numbered in confirm
// (the same number of them, or the request fails the test).
func (e *Engine) RunLinked(t testing.TB, in workflows.RequestInput, confirm []int, decisions ...workflows.Decision) workflows.RequestState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := requests.Start(ctx, e.Client, in); err != nil {
		t.Fatal(err)
	}
	if confirm != nil {
		e.Await(t, in.RequestID, "linked identities to confirm", func(v requests.View) bool {
			return v.WaitingFor == "compliance's confirmation of linked identities"
		})
		if err := requests.ConfirmIdentities(Compliance(ctx, "cli:test"), e.Client, in.RequestID, workflows.IdentityConfirmation{Confirm: confirm}); err != nil {
			t.Fatal(err)
		}
	}
	if len(decisions) > 0 {
		e.WaitFor(t, in.RequestID, domain.StatusAwaitingSignOff)
	}
	for _, d := range decisions {
		if err := requests.Decide(Approver(ctx, d.Approver, d.Via), e.Client, in.RequestID, d); err != nil {
			t.Fatal(err)
		}
	}
	var res workflows.RequestState
	if err := e.Client.GetWorkflow(ctx, domain.WorkflowID(in.RequestID), "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != domain.StatusCompleted {
		t.Fatalf("%s ended %s", in.RequestID, res.Status)
	}
	return res
}

// WaitFor polls a request until it reaches status.
func (e *Engine) WaitFor(t testing.TB, requestID string, status domain.Status) requests.View {
	t.Helper()
	return e.Await(t, requestID, "status "+string(status), func(v requests.View) bool { return v.Status == status })
}

// Await polls a request until cond holds on what show says of it, and
// returns that view: the one the test asserts on.
func (e *Engine) Await(t testing.TB, requestID, what string, cond func(requests.View) bool) requests.View {
	t.Helper()
	var v requests.View
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		var err error
		v, err = requests.Show(context.Background(), e.Client, requestID)
		return err == nil && cond(v), fmt.Sprintf("%s never reached %s: %+v %v", requestID, what, v, err)
	})
	return v
}

// Closed waits until a request's workflow has closed and returns its
// result. A request reaches its last status before its workflow closes:
// what is read from the closed history (its last event, the archive) must
// wait for this, not for the status.
func (e *Engine) Closed(t testing.TB, requestID string) workflows.RequestState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Wait)
	defer cancel()
	var res workflows.RequestState
	if err := e.Client.GetWorkflow(ctx, domain.WorkflowID(requestID), "").Get(ctx, &res); err != nil {
		t.Fatalf("%s did not close: %v", requestID, err)
	}
	return res
}

// History reads a workflow's whole history as the server stores it.
func History(t testing.TB, c client.Client, workflowID string) *historypb.History {
	t.Helper()
	h, err := requests.History(context.Background(), c, workflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// RecordHistory saves a history for the replay tests in workflows/testdata,
// e.g. DSR_RECORD_HISTORY=$PWD/workflows/testdata/request-v1.json go test
// ./engine -run EndToEnd. Record from a raw client: payloads stay encrypted
// with testenv.TestKey, as the replay test reads them.
func RecordHistory(t testing.TB, c client.Client, workflowID, path string) {
	t.Helper()
	j, err := protojson.MarshalOptions{Indent: "  "}.Marshal(History(t, c, workflowID))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, j, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded history of %s in %s", workflowID, path)
}

// Compliance signs ctx's changes as compliance (a requester) named name.
func Compliance(ctx context.Context, name string) context.Context {
	return claims.As(ctx, claims.Actor{Name: name, Role: claims.RoleRequester, Channel: "test"})
}

// Approver signs ctx's changes as an approver, as the data map lists them,
// who came through channel.
func Approver(ctx context.Context, name, channel string) context.Context {
	if channel == "" {
		channel = "test"
	}
	return claims.As(ctx, claims.Actor{Name: name, Role: claims.RoleApprover, Channel: channel})
}

// MailSink starts an SMTP sink on loopback for the test: pass it as
// Options.Mail and read what the subjects were sent.
func MailSink(t testing.TB) *mail.Sink {
	t.Helper()
	s := &mail.Sink{}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
