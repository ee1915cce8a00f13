// Package engine wires the pieces into a running engine: the data map's
// systems, the Temporal client (package connect), the worker with the
// request workflows and activities, and the HTTP gateway with the API,
// OpenDSR, Slack and the console. Open starts it the same way for the
// worker and for dev mode, whose mains only gather their settings.
package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/dsrengine/dsr/claims"
	"go.temporal.io/sdk/interceptor"
	"log/slog"
	"net"
	"net/url"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/api"
	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/console"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/gateway"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/mail"
	"github.com/dsrengine/dsr/opendsr"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/slackapp"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// EnsureSearchAttributes registers the engine's search attributes that the
// namespace lacks. It is idempotent, so every start may call it.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range workflows.SearchAttributes {
		have, ok := resp.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case have != typ:
			return fmt.Errorf("search attribute %s is registered as %s, the engine needs %s", name, have, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register search attributes in %s: %w", namespace, err)
	}
	return nil
}

// NewWorker registers the request workflows and activities, behind the
// check of every change's signed claim.
func NewWorker(c client.Client, acts *activities.Activities, keys claims.Keys) worker.Worker {
	w := worker.New(c, workflows.TaskQueue, worker.Options{Interceptors: []interceptor.WorkerInterceptor{workflows.Claims(keys)}})
	w.RegisterWorkflow(workflows.Request)
	w.RegisterWorkflow(workflows.ConsentLookup)
	w.RegisterWorkflow(workflows.Report)
	w.RegisterWorkflow(workflows.AuditVerification)
	w.RegisterWorkflow(workflows.AuditExport)
	w.RegisterWorkflow(workflows.ReadRecord)
	w.RegisterWorkflow(workflows.AuditAnchor)
	w.RegisterActivity(acts)
	return w
}

// NewSystemWorker runs the system activities of one system task queue
// (SystemQueue), at most rate per second across every worker when rate
// is above zero. It runs no workflow.
func NewSystemWorker(c client.Client, acts *activities.Activities, queue string, rate float64) worker.Worker {
	w := worker.New(c, queue, worker.Options{DisableWorkflowWorker: true, TaskQueueActivitiesPerSecond: rate})
	w.RegisterActivity(acts)
	return w
}

// Engine is a running engine's dependencies.
type Engine struct {
	Client      client.Client
	Store       *store.Store
	Keys        *keyring.Keyring
	Log         *slog.Logger
	GatewayAddr string
	// Systems are the data map's systems with their connectors, task
	// queues and rates.
	Systems []activities.System
	// ExportDir holds access exports and packages.
	ExportDir string
	// Reminders is the data map's reminder policy.
	Reminders domain.ReminderPolicy
	// Packages is the data map's download policy for access packages.
	Packages domain.PackagePolicy
	// Aftercare is what follows an erasure: the resurrection checks, and
	// the evidence hold before the subject's key is destroyed.
	Aftercare domain.Aftercare
	// ExposeCodec serves the payload codec to the Web UI at CodecOrigins;
	// dev mode only, on loopback.
	ExposeCodec  bool
	CodecOrigins []string
	// TrustedProxies are the load balancers whose X-Forwarded-For the
	// public form's rate limit believes.
	TrustedProxies []*net.IPNet
	// Mail, when configured, e-mails the subjects their notices.
	Mail *mail.Notifier
	// DevMail lists what dev mode's SMTP sink received, for the console.
	DevMail func() []mail.Received
	// Slack, when configured, delivers notices to the departments and takes
	// their clicks; without it notices go to the log and the inbox only.
	Slack *slackapp.App
	// ArchiveEvery is how often closed requests' histories are copied into
	// the store and OpenDSR controllers are told of status changes
	// (default 30 s).
	ArchiveEvery time.Duration
	// OpenDSR, when set, signs the OpenDSR processor endpoints' answers and
	// callbacks; PublicURL is where controllers reach the gateway.
	OpenDSR   *opendsr.Signer
	PublicURL string
	// LoopbackCallbacks lets OpenDSR callbacks reach this machine: dev
	// mode, whose controllers run beside it. In production they may not.
	LoopbackCallbacks bool
	// CallbackGiveUp is how long an OpenDSR callback is retried (default 24 h).
	CallbackGiveUp time.Duration

	// Role is what the process runs: config.RoleAll (empty), RoleWorker
	// or RoleGateway.
	Role string

	// closers undo Open, newest last.
	closers []func()
}

// runsWorker says whether the process runs workflows and activities.
func (e *Engine) runsWorker() bool { return e.Role != config.RoleGateway }

// runsGateway says whether the process serves the API, the console, Slack
// and OpenDSR, and runs the background loops.
func (e *Engine) runsGateway() bool { return e.Role != config.RoleWorker }

// Activities builds the activity set. Every notice goes to the log and
// the console's inbox; the subject's by e-mail, and the departments' to
// Slack, where they are configured.
func (e *Engine) Activities() *activities.Activities {
	notifiers := activities.Notifiers{activities.LogNotifier{Log: e.Log}, activities.InboxNotifier{Store: e.Store}}
	if e.Mail != nil {
		notifiers = append(notifiers, e.Mail)
	}
	if e.Slack != nil {
		notifiers = append(notifiers, e.Slack)
	}
	return &activities.Activities{Store: e.Store, Keys: e.Keys, Notifier: notifiers, Systems: e.Systems, ExportDir: e.ExportDir, Reminders: e.Reminders, Packages: e.Packages, Aftercare: e.Aftercare,
		AuditAnchor: e.auditAnchor}
}

// Listen binds the gateway address early, so a taken port fails the start
// with a clear message instead of later in the background.
func (e *Engine) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", e.GatewayAddr)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen on %s: %w", e.GatewayAddr, err)
	}
	return ln, nil
}

// Run runs the worker and the gateway (or the one the role names) until
// ctx ends or one of them fails. A worker alone serves /healthz on ln, for
// its orchestrator's health check.
func (e *Engine) Run(ctx context.Context, ln net.Listener) error {
	public := e.PublicURL
	if public == "" {
		public = "http://" + ln.Addr().String()
	}
	if e.Mail != nil && e.Mail.Portal == "" {
		e.Mail.Portal = public
	}
	if e.runsWorker() {
		acts := e.Activities()
		w := NewWorker(e.Client, acts, e.Keys)
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		defer w.Stop()
		// Every queue a system's activities go to is polled here.
		queues := map[string]float64{}
		for _, s := range e.Systems {
			if s.TaskQueue != "" {
				queues[s.TaskQueue] = s.Rate
			}
		}
		for queue, rate := range queues {
			sw := NewSystemWorker(e.Client, acts, queue, rate)
			if err := sw.Start(); err != nil {
				return fmt.Errorf("start the worker of %s: %w", queue, err)
			}
			defer sw.Stop()
		}
	}

	opts := gateway.Options{Checks: []gateway.Checker{
		{Name: "store", Check: e.Store.Ping},
		{Name: "temporal", Check: func(ctx context.Context) error {
			_, err := e.Client.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		}},
	}}
	errc := make(chan error, 2)
	if e.runsGateway() {
		e.serveGateway(ctx, &opts, public, errc)
	}
	srv := gateway.Server(gateway.Handler(opts))
	go func() { errc <- fmt.Errorf("gateway: %w", srv.Serve(ln)) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// serveGateway adds the API, console, codec, OpenDSR and Slack to the
// gateway's routes, and starts the background loops (history archive,
// OpenDSR callbacks, Slack's socket mode), which end with ctx.
func (e *Engine) serveGateway(ctx context.Context, opts *gateway.Options, public string, errc chan<- error) {
	// The background loops (history archive, OpenDSR callbacks) look this often.
	every := e.ArchiveEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	apiServer := &api.Server{Client: e.Client, Store: e.Store, Log: e.Log, ExportDir: e.ExportDir, TrustedProxies: e.TrustedProxies,
		Codecs: requests.Codecs{Data: e.Keys.DataConverter(), Failure: e.Keys.FailureConverter()}, DevMail: e.DevMail}
	apiServer.Keys = e.Keys
	if e.Mail != nil {
		apiServer.Codes = e.Mail
	}
	opts.API, opts.Console = apiServer.Handler(), console.Handler()
	opts.Staff = apiServer.Require(struct{}{}, store.RoleAdmin, store.RoleAuditor)
	if e.ExposeCodec {
		opts.Codec, opts.CodecOrigins = apiServer.Codec(e.Keys.DisplayCodec()), e.CodecOrigins
	}
	if e.OpenDSR != nil {
		u, _ := url.Parse(public)
		o := &opendsr.Server{Client: e.Client, Store: e.Store, Signer: e.OpenDSR, Domain: u.Hostname(), BaseURL: public, Log: e.Log,
			AllowLoopback: e.LoopbackCallbacks, Package: apiServer.ServePackage, GiveUpAfter: e.CallbackGiveUp}
		opts.OpenDSR = o.Handler(apiServer.Require(opendsr.ControllerKey{}, store.RoleController))
		go o.RunCallbacks(ctx, every)
	}
	go e.archive(ctx, every)
	if e.Slack != nil {
		opts.SlackInteractions = e.Slack
		if e.Slack.SocketMode() {
			go func() {
				if err := e.Slack.RunSocketMode(ctx); err != nil {
					errc <- err
				}
			}()
		}
	}
}
