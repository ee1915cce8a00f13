// Package slackapp is the engine's Slack app: it posts sign-off requests
// and manual tasks to the departments, threads reminders under them,
// escalates to compliance, and takes the departments' clicks back as the
// same Updates that starter sends. Interactions arrive over HTTP (signed
// by Slack, verified here) or over Socket Mode, through one handler.
//
// Slack is never the only way: a decision can always be taken with
// starter, and the workflow does not care which path it took.
package slackapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/store"
)

// Config is the app's settings: secrets from the environment, the rest
// from the data map.
type Config struct {
	BotToken string // xoxb-…
	// SigningSecret verifies interactions posted to the gateway; AppToken
	// (xapp-…) receives them over Socket Mode instead. One is needed.
	SigningSecret string
	AppToken      string
	// APIURL points the client at another Slack API (tests).
	APIURL string
	// ComplianceChannel gets compliance's notices and escalations;
	// ComplianceLead (user id or e-mail) is mentioned in escalations.
	ComplianceChannel string
	ComplianceLead    string
	Departments       []Department
}

// Department is where a department's messages go.
type Department struct {
	Name    string
	Channel string
	// Approvers as the data map lists them: Slack user ids or e-mails.
	Approvers []string
	// DirectMessages sends to each approver rather than to the channel.
	DirectMessages bool
}

// App is the running Slack app.
type App struct {
	cfg      Config
	api      *slack.Client
	store    *store.Store
	temporal client.Client
	log      *slog.Logger
	// users maps each approver entry of the data map to its Slack user id.
	users map[string]string
	lead  string
	now   func() time.Time
}

var (
	slackUser = regexp.MustCompile(`^[UW][A-Z0-9]{8,}$`)
	botToken  = regexp.MustCompile(`^xoxb-[A-Za-z0-9-]+$`)
	appToken  = regexp.MustCompile(`^xapp-[A-Za-z0-9-]+$`)
)

// Validate says what is wrong with the settings, naming the variables.
func (c Config) Validate() error {
	var errs []error
	if !botToken.MatchString(c.BotToken) {
		errs = append(errs, errors.New("DSR_SLACK_BOT_TOKEN must be a bot token (xoxb-…)"))
	}
	if c.SigningSecret == "" && c.AppToken == "" {
		errs = append(errs, errors.New("set DSR_SLACK_SIGNING_SECRET (interactions over HTTP) or DSR_SLACK_APP_TOKEN (Socket Mode): without one, clicks never reach the engine"))
	}
	if c.AppToken != "" && !appToken.MatchString(c.AppToken) {
		errs = append(errs, errors.New("DSR_SLACK_APP_TOKEN must be an app-level token (xapp-…)"))
	}
	return errors.Join(errs...)
}

// New connects to Slack, checks the token, and resolves the approvers
// given by e-mail to their Slack users (users.lookupByEmail). An approver
// Slack does not know is reported in the log and can still decide with
// starter.
func New(ctx context.Context, cfg Config, st *store.Store, c client.Client, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []slack.Option{slack.OptionAppLevelToken(cfg.AppToken)}
	if cfg.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.APIURL))
	}
	a := &App{cfg: cfg, api: slack.New(cfg.BotToken, opts...), store: st, temporal: c, log: log, users: map[string]string{}, now: time.Now}
	if _, err := a.api.AuthTestContext(ctx); err != nil {
		return nil, fmt.Errorf("slack: the bot token was refused: %w", err)
	}
	entries := []string{cfg.ComplianceLead}
	for _, d := range cfg.Departments {
		entries = append(entries, d.Approvers...)
	}
	for _, e := range entries {
		if e == "" || a.users[e] != "" {
			continue
		}
		if slackUser.MatchString(e) {
			a.users[e] = e
			continue
		}
		u, err := a.api.GetUserByEmailContext(ctx, e)
		if err != nil {
			log.Warn("slack: approver not found by e-mail; they can decide with starter", "approver", e, "error", err)
			continue
		}
		a.users[e] = u.ID
	}
	a.lead = a.users[cfg.ComplianceLead]
	return a, nil
}

// SocketMode says whether interactions arrive over Socket Mode.
func (a *App) SocketMode() bool { return a.cfg.AppToken != "" }

func (a *App) department(name string) (Department, bool) {
	for _, d := range a.cfg.Departments {
		if d.Name == name {
			return d, true
		}
	}
	return Department{}, false
}

// approverEntry finds the data map's entry for a Slack user among a
// department's approvers.
func (a *App) approverEntry(department, userID string) (string, bool) {
	d, ok := a.department(department)
	if !ok {
		return "", false
	}
	i := slices.IndexFunc(d.Approvers, func(e string) bool { return a.users[e] == userID })
	if i < 0 {
		return "", false
	}
	return d.Approvers[i], true
}

// targets are where a department's messages go: its channel, or each
// approver's direct messages.
func (a *App) targets(department string) []string {
	d, ok := a.department(department)
	if !ok {
		return nil
	}
	if !d.DirectMessages && d.Channel != "" {
		return []string{strings.TrimPrefix(d.Channel, "#")}
	}
	var out []string
	for _, e := range d.Approvers {
		if id := a.users[e]; id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
