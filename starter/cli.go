package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitNotFound = 3
	exitConflict = 4
	exitRefused  = 5
)

// devKeyFile is where dev mode keeps its key, relative to the repository.
const devKeyFile = ".dsr/dev/master.key"

const usage = `starter: the compliance command line of dsr

Usage:
  starter start --type TYPE --regulation REG (--email E | --phone P | --customer-id C)... [--identity-verified] [flags]
  starter list [--status S] [--type T] [--overdue] [--due-within DAYS] [--department D] [--limit N]
  starter show REQUEST-ID [--watch]
  starter verify REQUEST-ID --method "how the identity was checked"
  starter extend REQUEST-ID (--months N | --days N) --reason "why more time is needed"
  starter cancel REQUEST-ID --reason "why"
  starter deny REQUEST-ID --reason "why (the subject is told)"
  starter decide REQUEST-ID --department D --as APPROVER (--approve | --object --basis "legal basis")
  starter retry REQUEST-ID        (after fixing a system of a request that needs attention)
  starter task REQUEST-ID --system S   (a manual task: where, what to do, and whom it is about)
  starter complete REQUEST-ID --system S --as APPROVER --outcome done|not_held|kept --records N --note "what was done" [--basis "legal basis"]
  starter confirm REQUEST-ID --via "e-mail link"   (the subject confirmed a double opt-in)
  starter consent (--email E | --phone P | --customer-id C)...   (current consent per purpose)
  starter audit REQUEST-ID [--format json|html] [--out FILE]   (the evidence pack)
  starter audit verify                  (check the audit log's hash chain; exit 1 if broken)
  starter metrics [--from YYYY-MM-DD --to YYYY-MM-DD]   (default: last calendar year)
  starter fetch REQUEST-ID --out FILE   (the access package)

Opt-in and withdrawal also take --purpose, --channel and --wording (the
evidence), and opt-in may ask for --double-opt-in.

Types: access, portability, erasure, opt_in, withdrawal
Regulations: gdpr, uk_gdpr, ccpa (CCPA/CPRA), lgpd

Run "starter COMMAND -h" for the flags.
Exit codes: 0 done, 1 failed, 2 invalid input, 3 no such request, 4 request id
already used, 5 refused by the request (e.g. an extension beyond the law).
`

// cli holds what every subcommand shares.
type cli struct {
	stdout, stderr io.Writer
	address        string
	namespace      string
	keyFile        string
	output         string
	dial           func(ctx context.Context) (client.Client, error)
	// watchEvery is how often show --watch looks again.
	watchEvery time.Duration
	// keyring, when set (tests), replaces the key from the environment.
	keyring *keyring.Keyring
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&cli{stdout: stdout, stderr: stderr, watchEvery: time.Second}).dispatch(ctx, args)
}

func (c *cli) dispatch(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(c.stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "start":
		return c.start(ctx, args[1:])
	case "show":
		return c.show(ctx, args[1:])
	case "list":
		return c.list(ctx, args[1:])
	case "consent":
		return c.consents(ctx, args[1:])
	case "task":
		return c.task(ctx, args[1:])
	case "audit":
		return c.audit(ctx, args[1:])
	case "metrics":
		return c.metrics(ctx, args[1:])
	case "fetch":
		return c.fetch(ctx, args[1:])
	case "verify", "extend", "cancel", "deny", "decide", "retry", "confirm", "complete":
		return c.change(ctx, args[0], args[1:])
	}
	fmt.Fprintf(c.stderr, "starter: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("starter "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.address, "temporal-address", envOr("DSR_TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port (env DSR_TEMPORAL_ADDRESS)")
	fs.StringVar(&c.namespace, "namespace", envOr("DSR_NAMESPACE", "dsr"), "Temporal namespace (env DSR_NAMESPACE)")
	fs.StringVar(&c.keyFile, "key-file", os.Getenv("DSR_MASTER_KEY_FILE"), "master key file (env DSR_MASTER_KEY_FILE or DSR_MASTER_KEY; default: dev mode's "+devKeyFile+")")
	fs.StringVar(&c.output, "output", "table", "output format: table or json")
	return fs
}

// failWith ends a command on a client error with the exit code scripts
// rely on: no such request, refused by the request, or failed.
func (c *cli) failWith(err error) int {
	switch {
	case errors.Is(err, requests.ErrNotFound):
		return c.fail(exitNotFound, "%v", err)
	case errors.Is(err, requests.ErrRefused):
		return c.fail(exitRefused, "%v", err)
	}
	return c.fail(exitFailed, "%v", err)
}

func (c *cli) fail(code int, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "starter: "+format+"\n", args...)
	return code
}

// connect builds the keyring and dials Temporal; tests replace dial.
func (c *cli) connect(ctx context.Context) (client.Client, error) {
	if c.dial != nil {
		return c.dial(ctx)
	}
	keys, err := c.keys()
	if err != nil {
		return nil, err
	}
	return engine.Dial(ctx, engine.DialOptions{
		Address: c.address, Namespace: c.namespace, Keys: keys, Log: engine.NewLogger("error"),
		TLSCert: os.Getenv("DSR_TEMPORAL_TLS_CERT"), TLSKey: os.Getenv("DSR_TEMPORAL_TLS_KEY"),
		TLSCA: os.Getenv("DSR_TEMPORAL_TLS_CA"), TLSName: os.Getenv("DSR_TEMPORAL_TLS_SERVER_NAME"),
		APIKey: os.Getenv("DSR_TEMPORAL_API_KEY"),
	})
}

// keys finds the master key: DSR_MASTER_KEY, --key-file, or dev mode's file.
// Without it starter could neither encrypt a request nor read one.
func (c *cli) keys() (*keyring.Keyring, error) {
	if c.keyring != nil {
		return c.keyring, nil
	}
	var master []byte
	var err error
	switch env := os.Getenv("DSR_MASTER_KEY"); {
	case env != "":
		if master, err = keyring.ParseMasterKey(env); err != nil {
			return nil, fmt.Errorf("DSR_MASTER_KEY: %w", err)
		}
	default:
		path := c.keyFile
		if path == "" {
			path = devKeyFile
		}
		b, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, fmt.Errorf("no master key: set DSR_MASTER_KEY or --key-file (tried %s: %v); in dev mode run starter from the directory where `go run ./dev` runs", path, errors.Unwrap(rerr))
		}
		if master, err = keyring.ReadKey(path, b); err != nil {
			return nil, err
		}
	}
	return keyring.New(master)
}

func (c *cli) checkOutput() error {
	if c.output != "table" && c.output != "json" {
		return fmt.Errorf("--output %q: must be table or json", c.output)
	}
	return nil
}

func (c *cli) start(ctx context.Context, args []string) int {
	fs := c.flags("start")
	typ := fs.String("type", "", "request type: access, portability, erasure, opt_in, withdrawal (required)")
	reg := fs.String("regulation", "", "gdpr, uk_gdpr, ccpa or lgpd (required)")
	var emails, phones, customers multi
	fs.Var(&emails, "email", "subject's e-mail address (repeatable)")
	fs.Var(&phones, "phone", "subject's phone number in international form, e.g. +44 20 7946 0958 (repeatable)")
	fs.Var(&customers, "customer-id", "subject's customer id (repeatable)")
	received := fs.String("received", "", "when the request arrived, if earlier (YYYY-MM-DD or RFC 3339); default now")
	tz := fs.String("tz", envOr("DSR_TIMEZONE", "UTC"), "time zone in which the deadline is counted, e.g. Europe/Berlin (env DSR_TIMEZONE)")
	id := fs.String("id", "", "request id, e.g. your ticket number (default: generated); the same id never starts two requests")
	by := fs.String("requested-by", "", "who starts the request, for the audit trail (default: cli:$USER)")
	verified := fs.Bool("identity-verified", false, "compliance has already verified the subject's identity; otherwise the request waits for `starter verify`")
	purpose := fs.String("purpose", "", "opt-in/withdrawal: the purpose, as named in the data map (e.g. newsletter)")
	channel := fs.String("channel", "", "opt-in/withdrawal: where the subject gave or withdrew consent (e.g. \"web form\")")
	wording := fs.String("wording", "", "opt-in/withdrawal: version of the text the subject saw (e.g. newsletter-v3)")
	double := fs.Bool("double-opt-in", false, "opt-in: the subject must confirm (starter confirm) within 7 days")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		return c.fail(exitUsage, "unexpected argument %q", fs.Arg(0))
	}
	if err := c.checkOutput(); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	in, err := buildInput(*typ, *reg, emails, phones, customers, *received, *tz, *id, *by, time.Now())
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	in.IdentityVerified = *verified
	if *purpose != "" || *channel != "" || *wording != "" || *double {
		in.Consent = &domain.ConsentChange{Purpose: *purpose, Channel: *channel, WordingVersion: *wording, DoubleOptIn: *double}
	}
	if err := in.Validate(); err != nil {
		var fe *domain.FieldError
		if errors.As(err, &fe) && strings.HasPrefix(fe.Field, "consent") {
			return c.fail(exitUsage, "%v (flags --purpose, --channel, --wording, --double-opt-in)", err)
		}
		return c.fail(exitUsage, "%v", err)
	}
	cl, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer cl.Close()
	res, err := requests.Start(ctx, cl, in)
	switch {
	case errors.Is(err, requests.ErrIDTaken):
		return c.fail(exitConflict, "%v", err)
	case err != nil:
		var fe *domain.FieldError
		if errors.As(err, &fe) {
			return c.fail(exitUsage, "%v", err)
		}
		return c.fail(exitFailed, "%v", err)
	}
	if c.output == "json" {
		return c.writeJSON(res)
	}
	switch {
	case res.DuplicateOf != "":
		fmt.Fprintf(c.stdout, "An open %s request for this subject already exists: %s answers it, and %s was closed as its duplicate.\n\n", in.Type, res.DuplicateOf, in.RequestID)
	case res.Existing:
		fmt.Fprintf(c.stdout, "Request %s already exists; nothing new was started.\n\n", res.ID)
	default:
		fmt.Fprintf(c.stdout, "Started request %s.\n\n", res.ID)
	}
	c.writeView(res.View)
	return exitOK
}

// buildInput turns flags into a workflow input; start validates it once
// the consent flags are in. now is passed in so tests can pin the clock.
func buildInput(typ, reg string, emails, phones, customers []string, received, tz, id, by string, now time.Time) (workflows.RequestInput, error) {
	if typ == "" {
		return workflows.RequestInput{}, errors.New("--type is required (access, portability, erasure, opt_in, withdrawal)")
	}
	if reg == "" {
		return workflows.RequestInput{}, errors.New("--regulation is required (gdpr, uk_gdpr, ccpa, lgpd)")
	}
	t, err := domain.ParseRequestType(typ)
	if err != nil {
		return workflows.RequestInput{}, fmt.Errorf("--%w", err)
	}
	r, err := domain.ParseRegulation(reg)
	if err != nil {
		return workflows.RequestInput{}, fmt.Errorf("--%w", err)
	}
	ids, err := identities(emails, phones, customers)
	if err != nil {
		return workflows.RequestInput{}, err
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return workflows.RequestInput{}, fmt.Errorf("--tz %q: unknown time zone (use an IANA name such as Europe/Berlin)", tz)
	}
	at := now.In(loc)
	if received != "" {
		if at, err = parseReceived(received, loc); err != nil {
			return workflows.RequestInput{}, err
		}
		if at.After(now) {
			return workflows.RequestInput{}, fmt.Errorf("--received %s: is in the future", received)
		}
	}
	if id == "" {
		id = "REQ-" + at.Format("20060102") + "-" + strings.ToUpper(uuid.NewString()[:8])
	}
	if err := domain.ValidateRequestID(id); err != nil {
		return workflows.RequestInput{}, fmt.Errorf("--id: %w", err)
	}
	if by == "" {
		by = "cli:" + currentUser()
	}
	in := workflows.RequestInput{
		RequestID: id, Type: t, Regulation: r, Identities: ids,
		ReceivedAt: at, DueAt: domain.DueAt(r, at), RequestedBy: by,
	}
	return in, nil
}

// identities validates the identity flags, naming the bad one.
func identities(emails, phones, customers []string) ([]domain.Identity, error) {
	var ids []domain.Identity
	for _, group := range []struct {
		kind domain.IdentityKind
		vals []string
	}{{domain.Email, emails}, {domain.Phone, phones}, {domain.CustomerID, customers}} {
		for _, v := range group.vals {
			ident, err := domain.NewIdentity(group.kind, v)
			var fe *domain.FieldError
			if errors.As(err, &fe) {
				return nil, fmt.Errorf("--%s: %s", strings.ReplaceAll(string(group.kind), "_", "-"), fe.Reason)
			}
			ids = append(ids, ident)
		}
	}
	if len(ids) == 0 {
		return nil, errors.New("an identity is required: --email, --phone or --customer-id")
	}
	return ids, nil
}

func parseReceived(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.In(loc), nil
	}
	return time.Time{}, fmt.Errorf("--received %q: use YYYY-MM-DD or RFC 3339 (2026-01-31T09:30:00+01:00)", s)
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

// parseWithID parses a subcommand whose one argument is a request id,
// accepted before or after the flags.
func (c *cli) parseWithID(fs *flag.FlagSet, cmd string, args []string) (string, bool) {
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 {
		c.fail(exitUsage, "unexpected argument %q", fs.Arg(0))
		return "", false
	}
	if id == "" {
		c.fail(exitUsage, "%s needs a request id: starter %s REQUEST-ID", cmd, cmd)
		return "", false
	}
	if err := c.checkOutput(); err != nil {
		c.fail(exitUsage, "%v", err)
		return "", false
	}
	if err := domain.ValidateRequestID(id); err != nil {
		c.fail(exitUsage, "%v", err)
		return "", false
	}
	return id, true
}

func (c *cli) show(ctx context.Context, args []string) int {
	fs := c.flags("show")
	watch := fs.Bool("watch", false, "follow the request until it ends, redrawing as it moves")
	id, ok := c.parseWithID(fs, "show", args)
	if !ok {
		return exitUsage
	}
	cl, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer cl.Close()
	var last string
	for {
		v, err := requests.Show(ctx, cl, id)
		if err != nil {
			return c.failWith(err)
		}
		if !*watch {
			if c.output == "json" {
				return c.writeJSON(v)
			}
			c.writeView(v)
			return exitOK
		}
		// Redraw only when something moved: a status, a system, a
		// decision, an alert; the days left change once a day.
		state, _ := json.Marshal(v)
		if string(state) != last {
			last = string(state)
			c.redraw(v)
		}
		if v.Status.Terminal() {
			return exitOK
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(c.watchEvery):
		}
	}
}

// redraw shows the request again: on a terminal in place, elsewhere (a log,
// a pipe) one view after another; in JSON one object per line.
func (c *cli) redraw(v requests.View) {
	if c.output == "json" {
		json.NewEncoder(c.stdout).Encode(v)
		return
	}
	if f, ok := c.stdout.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(c.stdout, "\033[H\033[2J")
	} else {
		fmt.Fprintf(c.stdout, "--- %s\n", time.Now().UTC().Format("2006-01-02 15:04:05Z"))
	}
	c.writeView(v)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// change sends one of the request's updates: verify, extend, cancel, deny.
func (c *cli) change(ctx context.Context, cmd string, args []string) int {
	fs := c.flags(cmd)
	actor := fs.String("actor", "", "who decides, for the audit trail (default: cli:$USER)")
	var method, reason, department, approver, basis *string
	var months, days *int
	var records *int64
	var approve, object *bool
	var system, outcome *string
	switch cmd {
	case "verify":
		method = fs.String("method", "", "how the identity was checked, e.g. \"matched account login\" (required)")
	case "decide":
		department = fs.String("department", "", "the department you decide for (required)")
		approver = fs.String("as", "", "you, as the data map lists the department's approvers: e-mail or Slack user id (required)")
		approve = fs.Bool("approve", false, "approve the request for the department's systems")
		object = fs.Bool("object", false, "object: keep the data, on the --basis given")
		basis = fs.String("basis", "", "legal basis for keeping the data, e.g. \"tax law keeps invoices for 10 years\" (with --object)")
	case "retry":
	case "confirm":
		method = fs.String("via", "", "how the subject confirmed, e.g. \"e-mail link\" (required)")
	case "complete":
		system = fs.String("system", "", "the manual system whose task is done (required)")
		approver = fs.String("as", "", "you, as the data map lists the department's approvers (required)")
		outcome = fs.String("outcome", "done", "done, not_held (nothing there) or kept (erasure: kept under --basis)")
		records = fs.Int64("records", 0, "how many records the task handled")
		reason = fs.String("note", "", "what was done, e.g. \"2 signed forms shredded\" (required)")
		basis = fs.String("basis", "", "legal basis for keeping the data (with --outcome kept)")
	default:
		reason = fs.String("reason", "", "why; recorded, and for extend and deny told to the subject (required)")
	}
	if cmd == "extend" {
		months = fs.Int("months", 0, "extend by this many calendar months (GDPR, UK GDPR)")
		days = fs.Int("days", 0, "extend by this many days (CCPA/CPRA)")
	}
	id, ok := c.parseWithID(fs, cmd, args)
	if !ok {
		return exitUsage
	}
	if *actor == "" {
		*actor = "cli:" + currentUser()
	}
	switch {
	case method != nil && strings.TrimSpace(*method) == "" && cmd == "confirm":
		return c.fail(exitUsage, "--via is required: say how the subject confirmed")
	case method != nil && strings.TrimSpace(*method) == "":
		return c.fail(exitUsage, "--method is required: say how the identity was checked")
	case system != nil && (*system == "" || *approver == "" || strings.TrimSpace(*reason) == ""):
		return c.fail(exitUsage, "--system, --as and --note are required")
	case reason != nil && strings.TrimSpace(*reason) == "":
		return c.fail(exitUsage, "--reason is required: it is recorded with your decision")
	case months != nil && (*months < 0 || *days < 0 || *months+*days == 0 || (*months > 0 && *days > 0)):
		return c.fail(exitUsage, "give one of --months N or --days N, positive")
	case department != nil && (*department == "" || *approver == ""):
		return c.fail(exitUsage, "--department and --as are required")
	case approve != nil && *approve == *object:
		return c.fail(exitUsage, "give one of --approve or --object")
	case object != nil && *object && strings.TrimSpace(*basis) == "":
		return c.fail(exitUsage, "--object needs --basis: the legal basis for keeping the data")
	}
	cl, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer cl.Close()
	msg := ""
	switch cmd {
	case "verify":
		err = requests.VerifyIdentity(ctx, cl, id, workflows.Verification{Actor: *actor, Method: *method})
		msg = "Identity verified"
	case "extend":
		var due time.Time
		due, err = requests.Extend(ctx, cl, id, workflows.ExtensionRequest{Actor: *actor, By: domain.Period{Months: *months, Days: *days}, Reason: *reason})
		msg = "Deadline extended to " + due.Format("2006-01-02") + "; the subject is told"
	case "cancel":
		err = requests.Cancel(ctx, cl, id, workflows.Closure{Actor: *actor, Reason: *reason})
		msg = "Request cancelled"
	case "deny":
		err = requests.Deny(ctx, cl, id, workflows.Closure{Actor: *actor, Reason: *reason})
		msg = "Request denied; the subject is told why"
	case "decide":
		d := workflows.Decision{Department: *department, Decision: "approve", Approver: *approver, Via: *actor}
		if *object {
			d.Decision, d.LegalBasis = "object", *basis
		}
		err = requests.Decide(ctx, cl, id, d)
		msg = fmt.Sprintf("%s: %s recorded", *department, d.Decision)
	case "retry":
		err = requests.Retry(ctx, cl, id, workflows.Retry{Actor: *actor})
		msg = "Request resumed"
	case "confirm":
		err = requests.ConfirmConsent(ctx, cl, id, workflows.Confirmation{Channel: *method})
		msg = "Consent confirmed"
	case "complete":
		err = requests.CompleteTask(ctx, cl, id, workflows.TaskCompletion{System: *system, Outcome: *outcome, Records: *records,
			Note: *reason, Basis: *basis, Approver: *approver, Via: *actor})
		msg = fmt.Sprintf("Task in %s confirmed %s", *system, *outcome)
	}
	if err != nil {
		return c.failWith(err)
	}
	v, err := requests.Show(ctx, cl, id)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	if c.output == "json" {
		return c.writeJSON(v)
	}
	fmt.Fprintf(c.stdout, "%s.\n\n", msg)
	c.writeView(v)
	return exitOK
}

// list prints the requests a filter selects.
func (c *cli) list(ctx context.Context, args []string) int {
	fs := c.flags("list")
	var f requests.Filter
	fs.StringVar((*string)(&f.Status), "status", "", "only requests in this status, e.g. awaiting_signoff")
	fs.StringVar((*string)(&f.Type), "type", "", "only requests of this type")
	fs.BoolVar(&f.Overdue, "overdue", false, "only open requests past their deadline")
	fs.IntVar(&f.DueWithin, "due-within", 0, "only open requests due within this many days")
	fs.StringVar(&f.Department, "department", "", "only requests waiting for this department's sign-off")
	fs.IntVar(&f.Limit, "limit", 100, "at most this many (up to 1000)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		return c.fail(exitUsage, "unexpected argument %q", fs.Arg(0))
	}
	if err := c.checkOutput(); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	if _, err := f.Query(time.Now()); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	cl, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer cl.Close()
	list, err := requests.List(ctx, cl, f)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	if c.output == "json" {
		return c.writeJSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(c.stdout, "No requests match.")
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tTYPE\tREGULATION\tSTATUS\tDUE\tDAYS LEFT\tSIGN-OFF DUE FROM")
	for _, r := range list {
		left := strconv.Itoa(r.DaysLeft)
		switch {
		case r.Status.Terminal():
			left = "-"
		case r.DaysLeft < 0:
			left = fmt.Sprintf("OVERDUE %d", -r.DaysLeft)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Type, r.Regulation, r.Status, r.DueAt.Format("2006-01-02"), left, strings.Join(r.PendingDepartments, ", "))
	}
	tw.Flush()
	return exitOK
}

// audit exports a request's evidence pack, or with "verify" checks the
// whole audit log's hash chain.
func (c *cli) audit(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "verify" {
		fs := c.flags("audit verify")
		if err := fs.Parse(args[1:]); err != nil {
			return exitUsage
		}
		cl, err := c.connect(ctx)
		if err != nil {
			return c.fail(exitFailed, "%v", err)
		}
		defer cl.Close()
		check, err := requests.VerifyAudit(ctx, cl, "cli:"+currentUser())
		if err != nil {
			return c.fail(exitFailed, "%v", err)
		}
		if c.output == "json" {
			c.writeJSON(check)
		} else if len(check.Problems) == 0 {
			fmt.Fprintf(c.stdout, "Audit log intact: %d entries, each chained to the one before.\n", check.Entries)
		} else {
			fmt.Fprintf(c.stdout, "AUDIT LOG BROKEN: %d problems in %d entries:\n", len(check.Problems), check.Entries)
			for _, p := range check.Problems {
				fmt.Fprintln(c.stdout, "  "+p)
			}
		}
		if len(check.Problems) > 0 {
			return exitFailed
		}
		return exitOK
	}
	fs := c.flags("audit")
	format := fs.String("format", "json", "json, or html for a printable evidence pack")
	out := fs.String("out", "", "write to this file instead of standard output")
	id, ok := c.parseWithID(fs, "audit", args)
	if !ok {
		return exitUsage
	}
	if *format != "json" && *format != "html" {
		return c.fail(exitUsage, "--format %q: must be json or html", *format)
	}
	keys, err := c.keys()
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	cl, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer cl.Close()
	ev, err := requests.GetEvidence(ctx, cl, requests.Codecs{Data: keys.DataConverter(), Failure: keys.FailureConverter()}, id, "cli:"+currentUser())
	if err != nil {
		return c.failWith(err)
	}
	w := c.stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return c.fail(exitFailed, "%v", err)
		}
		defer f.Close()
		w = f
	}
	if *format == "html" {
		err = ev.WriteHTML(w)
	} else {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(ev)
	}
	if err != nil {
		return c.fail(exitFailed, "write the evidence: %v", err)
	}
	if *out != "" {
		fmt.Fprintf(c.stderr, "Evidence for %s written to %s (%d timeline events, %d audit entries).\n", id, *out, len(ev.Timeline), len(ev.AuditLog))
	}
	return exitOK
}

// metrics prints the figures for a period, by kind of request.
func (c *cli) metrics(ctx context.Context, args []string) int {
	fs := c.flags("metrics")
	year := time.Now().UTC().Year() - 1
	from := fs.String("from", fmt.Sprintf("%d-01-01", year), "first day of the period (YYYY-MM-DD, UTC)")
	to := fs.String("to", fmt.Sprintf("%d-01-01", year+1), "day after the period (YYYY-MM-DD, UTC)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if err := c.checkOutput(); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	start, err1 := time.Parse(time.DateOnly, *from)
	end, err2 := time.Parse(time.DateOnly, *to)
	if err1 != nil || err2 != nil {
		return c.fail(exitUsage, "--from and --to are dates like 2026-01-01")
	}
	if !start.Before(end) {
		return c.fail(exitUsage, "--to %s must come after --from %s", *to, *from)
	}
	cl, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer cl.Close()
	r, err := requests.Report(ctx, cl, start, end, "cli:"+currentUser())
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	if c.output == "json" {
		return c.writeJSON(r)
	}
	fmt.Fprintf(c.stdout, "Requests received from %s to %s (computed %s)\n\n", *from, end.AddDate(0, 0, -1).Format(time.DateOnly), r.At.Format("2006-01-02 15:04 MST"))
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "KIND\tRECEIVED\tCOMPLIED\tIN PART\tDENIED\tCANCELLED\tOPEN\tMEDIAN DAYS\tP90 DAYS\tOVERDUE\t")
	for _, f := range append(r.Kinds, r.Totals) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%d\t\n", f.Kind, f.Received, f.Complied, f.CompliedInPart, f.Denied, f.Cancelled, f.Open, f.MedianDays, f.P90Days, f.Overdue)
	}
	tw.Flush()
	return exitOK
}

// fetch copies a completed access request's package. In dev mode the
// package is a local file; otherwise it comes from the gateway's API.
func (c *cli) fetch(ctx context.Context, args []string) int {
	fs := c.flags("fetch")
	out := fs.String("out", "", "file to write the package to (required)")
	api := fs.String("api", os.Getenv("DSR_API_URL"), "gateway URL, for packages on another machine (env DSR_API_URL)")
	id, ok := c.parseWithID(fs, "fetch", args)
	if !ok {
		return exitUsage
	}
	if *out == "" {
		return c.fail(exitUsage, "--out is required: where to write the package")
	}
	cl, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer cl.Close()
	v, err := requests.Show(ctx, cl, id)
	switch {
	case err != nil:
		return c.failWith(err)
	case v.Package == "":
		return c.fail(exitRefused, "request %s has no package (it is a %s request, %s)", id, v.Type, v.Status)
	}
	var src io.ReadCloser
	if path, local := strings.CutPrefix(v.Package, "file://"); local && *api == "" {
		src, err = os.Open(path)
	} else {
		src, err = requests.FetchPackage(ctx, *api, os.Getenv("DSR_API_TOKEN"), id)
	}
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer src.Close()
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	n, err := io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*out)
		return c.fail(exitFailed, "write %s: %v", *out, err)
	}
	fmt.Fprintf(c.stdout, "Package of %s written to %s (%d bytes).\n", id, *out, n)
	return exitOK
}

// task prints a manual task with the identities of the subject, which the
// department needs and which notices never carry.
func (c *cli) task(ctx context.Context, args []string) int {
	fs := c.flags("task")
	system := fs.String("system", "", "the manual system (required)")
	id, ok := c.parseWithID(fs, "task", args)
	if !ok {
		return exitUsage
	}
	if *system == "" {
		return c.fail(exitUsage, "--system is required")
	}
	cl, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer cl.Close()
	t, err := requests.Task(ctx, cl, id, *system)
	if err != nil {
		return c.failWith(err)
	}
	if c.output == "json" {
		return c.writeJSON(t)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Request\t%s (%s)\n", t.RequestID, t.Type)
	fmt.Fprintf(tw, "System\t%s (%s)\n", t.System, t.Department)
	fmt.Fprintf(tw, "Where\t%s\n", t.Location)
	fmt.Fprintf(tw, "What to do\t%s\n", t.Instructions)
	for _, i := range t.Identities {
		fmt.Fprintf(tw, "Subject's %s\t%s\n", i.Kind, i.Value)
	}
	state := "open"
	if t.Outcome != "" {
		state = fmt.Sprintf("%s by %s: %d records: %s", t.Outcome, t.Actor, t.Records, t.Note)
	}
	fmt.Fprintf(tw, "State\t%s\n", state)
	tw.Flush()
	return exitOK
}

// consents prints a subject's current consent per purpose from the ledger.
func (c *cli) consents(ctx context.Context, args []string) int {
	fs := c.flags("consent")
	var emails, phones, customers multi
	fs.Var(&emails, "email", "subject's e-mail address (repeatable)")
	fs.Var(&phones, "phone", "subject's phone number in international form (repeatable)")
	fs.Var(&customers, "customer-id", "subject's customer id (repeatable)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if err := c.checkOutput(); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	ids, err := identities(emails, phones, customers)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	cl, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer cl.Close()
	states, err := requests.Consents(ctx, cl, workflows.ConsentLookupInput{Identities: ids, Actor: "cli:" + currentUser()})
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	if c.output == "json" {
		if states == nil {
			states = []activities.ConsentState{}
		}
		return c.writeJSON(states)
	}
	if len(states) == 0 {
		fmt.Fprintln(c.stdout, "No consent recorded for this subject.")
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Purpose\tState\tChannel\tWording\tSince\tRequest")
	for _, s := range states {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Purpose, s.State, s.Channel, s.WordingVersion, s.At.Format("2006-01-02 15:04"), s.RequestID)
	}
	tw.Flush()
	return exitOK
}

func (c *cli) writeJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail(exitFailed, "write output: %v", err)
	}
	return exitOK
}

func (c *cli) writeView(v requests.View) {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Request\t%s\n", v.ID)
	fmt.Fprintf(tw, "Type\t%s\n", v.Type)
	fmt.Fprintf(tw, "Regulation\t%s\n", v.Regulation)
	fmt.Fprintf(tw, "Status\t%s\n", v.Status)
	fmt.Fprintf(tw, "Received\t%s\n", v.ReceivedAt.Format("2006-01-02 15:04 MST"))
	left := fmt.Sprintf("%d days left", v.DaysLeft)
	if v.Status.Terminal() {
		left = "closed"
	} else if v.DaysLeft < 0 {
		left = fmt.Sprintf("OVERDUE by %d days", -v.DaysLeft)
	}
	fmt.Fprintf(tw, "Due\t%s (%s)\n", v.DueAt.Format("2006-01-02"), left)
	for _, e := range v.Extensions {
		fmt.Fprintf(tw, "Extended\tby %s: %s (originally due %s)\n", e.By, e.Reason, v.OriginalDueAt.Format("2006-01-02"))
	}
	if v.WaitingFor != "" {
		fmt.Fprintf(tw, "Waiting for\t%s\n", v.WaitingFor)
	}
	if v.Consent != "" {
		fmt.Fprintf(tw, "Consent\t%s\n", v.Consent)
	}
	if v.Package != "" {
		fmt.Fprintf(tw, "Package\t%s\n", v.Package)
	}
	if len(v.PendingDepartments) > 0 {
		fmt.Fprintf(tw, "Sign-off due from\t%s\n", strings.Join(v.PendingDepartments, ", "))
	}
	fmt.Fprintf(tw, "Workflow\t%s (%s)\n", v.WorkflowID, strings.ToLower(strings.TrimPrefix(v.Workflow, "WORKFLOW_EXECUTION_STATUS_")))
	tw.Flush()
	if len(v.Systems) > 0 {
		fmt.Fprintln(c.stdout, "\nSystems")
		tw = tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		for _, s := range v.Systems {
			note := s.Done
			if s.Exempt {
				note = "kept: " + s.Basis
			}
			if s.Verified {
				note += " (verified)"
			}
			if s.Manual && s.Done == "" {
				note = "manual task open"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d records\t%s\n", s.System, s.Department, s.Found, note)
		}
		tw.Flush()
	}
	if len(v.Timeline) > 0 {
		fmt.Fprintln(c.stdout, "\nTimeline")
		tw = tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		for _, ch := range v.Timeline {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", ch.At.Format("2006-01-02 15:04:05Z07:00"), ch.Status, ch.Actor, ch.Note)
		}
		tw.Flush()
	}
	if v.Problem != "" {
		fmt.Fprintf(c.stdout, "\nNote: %s\n", v.Problem)
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
