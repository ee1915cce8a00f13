package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/mail"
	"github.com/dsrengine/dsr/opendsr"
	"github.com/dsrengine/dsr/slackapp"
	"github.com/dsrengine/dsr/store"
)

// Setup is what a start of the engine is given. The worker and dev mode
// differ only in where these come from (a production cluster and
// PostgreSQL, or the embedded server and SQLite); Open does the rest the
// same way for both.
type Setup struct {
	Map *config.File
	// Getenv reads the variables the data map names (connection strings,
	// API tokens).
	Getenv   func(string) string
	Store    *store.Store
	Keys     *keyring.Keyring
	Log      *slog.Logger
	Temporal connect.Options
	// Slack holds the Slack tokens; without a bot token notices go to the
	// log and the console's inbox only.
	Slack       config.Settings
	OpenDSR     *opendsr.Signer
	PublicURL   string
	GatewayAddr string
	ExportDir   string
	// ExposeCodec serves the payload codec to the Web UI at CodecOrigins.
	ExposeCodec  bool
	CodecOrigins []string
	// TrustedProxies are the load balancers whose X-Forwarded-For the
	// public form's rate limit believes.
	TrustedProxies []*net.IPNet
	// LoopbackCallbacks lets OpenDSR callbacks reach this machine (dev mode).
	LoopbackCallbacks bool
	// CallbackGiveUp is how long an OpenDSR callback is retried (default 24 h).
	CallbackGiveUp time.Duration
	// Mail, when set, e-mails the subjects their notices; without it they
	// stay in the console's inbox.
	Mail *mail.Config
	// Role is what the process runs (config.RoleAll, RoleWorker or
	// RoleGateway; empty is all). A gateway connects no system.
	Role string
}

// Open brings the engine up from its setup: departments synced from the
// data map, every system connected and checked, Temporal dialed with the
// codec and its search attributes registered, Slack connected where
// configured. Close undoes it; Listen and Run serve.
func Open(ctx context.Context, s Setup) (e *Engine, err error) {
	e = &Engine{Store: s.Store, Keys: s.Keys, Log: s.Log, GatewayAddr: s.GatewayAddr, ExportDir: s.ExportDir,
		ExposeCodec: s.ExposeCodec, CodecOrigins: s.CodecOrigins, OpenDSR: s.OpenDSR, PublicURL: s.PublicURL, TrustedProxies: s.TrustedProxies,
		LoopbackCallbacks: s.LoopbackCallbacks, CallbackGiveUp: s.CallbackGiveUp, Role: s.Role}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if err := s.Store.UseAuditKey(ctx, s.Keys.AuditKey()); err != nil {
		// The engine runs on: new entries are keyed, and verification
		// reports what is wrong with the old ones.
		s.Log.Error("audit chain", "error", err)
	}
	if err := s.Store.SyncDepartments(ctx, s.Map.StoreDepartments()); err != nil {
		return nil, err
	}
	if e.Reminders, err = s.Map.ReminderPolicy(); err != nil {
		return nil, err
	}
	if e.Packages, err = s.Map.PackagePolicy(); err != nil {
		return nil, err
	}
	if e.Aftercare, err = s.Map.Aftercare(); err != nil {
		return nil, err
	}
	kinds, err := s.Map.CustomKinds()
	if err != nil {
		return nil, err
	}
	if err := domain.DeclareKinds(kinds); err != nil {
		return nil, err
	}
	if e.runsWorker() {
		if err := e.openSystems(ctx, s); err != nil {
			return nil, err
		}
	}
	opts := s.Temporal
	opts.Keys, opts.Log = s.Keys, s.Log
	if e.Client, err = connect.Dial(ctx, opts); err != nil {
		return nil, err
	}
	e.closers = append(e.closers, e.Client.Close)
	if err := EnsureSearchAttributes(ctx, e.Client, opts.Namespace); err != nil {
		return nil, err
	}
	if s.Mail != nil {
		if e.Mail, err = NewMail(*s.Mail, s.Store, s.Keys, s.Log); err != nil {
			return nil, err
		}
	} else {
		s.Log.Warn("no SMTP server (DSR_SMTP_HOST): the subjects' notices stay in the console's inbox and reach no one")
	}
	if s.Slack.SlackBotToken != "" {
		if e.Slack, err = slackapp.New(ctx, SlackConfig(&s.Slack, s.Map), s.Store, e.Client, s.Log); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// openSystems connects the data map's systems, for a process that runs
// their activities.
func (e *Engine) openSystems(ctx context.Context, s Setup) error {
	systems, closeSystems, err := OpenSystems(ctx, s.Map, s.Getenv, s.Keys)
	if err != nil {
		return err
	}
	e.Systems, e.closers = systems, append(e.closers, closeSystems)
	for _, sys := range systems {
		if w, ok := sys.Connector.(interface{ Warnings() []string }); ok {
			for _, msg := range w.Warnings() {
				s.Log.Warn("data map: "+msg, "system", sys.Name)
			}
		}
	}
	return nil
}

// NewMail builds the e-mail notifier from its settings.
func NewMail(c mail.Config, st *store.Store, keys *keyring.Keyring, log *slog.Logger) (*mail.Notifier, error) {
	var dir fs.FS
	if c.Templates != "" {
		dir = os.DirFS(c.Templates)
	}
	tpl, err := mail.LoadTemplates(dir, c.Lang)
	if err != nil {
		return nil, err
	}
	sender, err := mail.NewSMTP(c.SMTP)
	if err != nil {
		return nil, err
	}
	return &mail.Notifier{Store: st, Keys: keys, Sender: sender, Templates: tpl, Lang: c.Lang, Company: c.SMTP.Company(), Log: log}, nil
}

// Close disconnects what Open connected, newest first.
func (e *Engine) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// CheckSettings validates the worker's settings, Slack's included, and
// returns every problem at once.
func CheckSettings(s *config.Settings) error {
	err := s.Validate()
	_, hasMail, merr := mail.FromEnv(s.Getenv)
	if merr != nil {
		err = errors.Join(err, merr)
	}
	if hasMail && s.Role == config.RoleWorker && s.PublicURL == "" {
		// A worker alone listens only for its health check; the links in
		// the subjects' e-mails must lead to the gateway.
		err = errors.Join(err, errors.New("--public-url (DSR_PUBLIC_URL): required for --role worker with mail: the notices link to the gateway's privacy center"))
	}
	if s.SlackBotToken != "" || s.SlackSigningSecret != "" || s.SlackAppToken != "" {
		err = errors.Join(err, SlackConfig(s, nil).Validate())
	}
	if err != nil {
		return fmt.Errorf("invalid settings:\n%w", err)
	}
	return nil
}

// SlackConfig is the Slack app's configuration: the tokens from the
// settings, the channels and approvers from the data map (nil: none yet).
func SlackConfig(s *config.Settings, f *config.File) slackapp.Config {
	c := slackapp.Config{BotToken: s.SlackBotToken, SigningSecret: s.SlackSigningSecret, AppToken: s.SlackAppToken}
	if f == nil {
		return c
	}
	if f.Compliance != nil {
		c.ComplianceChannel, c.ComplianceLead = f.Compliance.Channel, f.Compliance.Lead
	}
	for _, d := range f.Departments {
		c.Departments = append(c.Departments, slackapp.Department{Name: d.Name, Channel: d.Channel, Approvers: d.Approvers, DirectMessages: d.DirectMessages || d.Channel == ""})
	}
	return c
}
