package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
)

// starterEnv runs starter commands against a real in-process engine.
type starterEnv struct {
	t      *testing.T
	e      *testengine.Engine
	dbPath string
}

func newStarterEnv(t *testing.T, systems ...activities.System) *starterEnv {
	dbPath := filepath.Join(t.TempDir(), "dsr.db")
	st, err := store.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.SyncDepartments(context.Background(), []records.Department{{Name: "Finance", Approvers: []string{"controller@acme.example"}}}); err != nil {
		t.Fatal(err)
	}
	return &starterEnv{t: t, e: testengine.StartEngine(t, st, systems...), dbPath: dbPath}
}

func (s *starterEnv) run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	c := &cli{stdout: &out, stderr: &errb, watchEvery: 50 * time.Millisecond}
	if s != nil {
		c.keyring = s.e.Keys
		c.dial = func(context.Context) (client.Client, error) {
			return s.e.Server.NewClientWithOptions(connect.ClientOptions(s.e.Keys)), nil
		}
	}
	code = c.run(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestStarterStartAndShow(t *testing.T) {
	s := newStarterEnv(t)

	code, out, errs := s.run("start", "--type", "erasure", "--regulation", "gdpr", "--email", " Jane@Example.com ",
		"--received", "2026-01-31", "--tz", "Europe/Berlin", "--id", "TICKET-1", "--identity-verified", "--output", "json")
	if code != exitOK {
		t.Fatalf("start exit %d: %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	for field, want := range map[string]any{"id": "TICKET-1", "type": "erasure", "regulation": "gdpr", "received_at": "2026-01-31T00:00:00+01:00", "due_at": "2026-02-28T23:59:59+01:00", "existing": false} {
		if got[field] != want {
			t.Errorf("%s = %v, want %v", field, got[field], want)
		}
	}
	if _, ok := got["status"].(string); !ok {
		t.Errorf("status missing: %v", got)
	}
	if strings.Contains(out, "jane") {
		t.Error("output repeats the subject's identity")
	}

	// Idempotent: the same id again starts nothing.
	code, out, _ = s.run("start", "--type", "erasure", "--regulation", "gdpr", "--email", "jane@example.com", "--id", "TICKET-1")
	if code != exitOK || !strings.Contains(out, "Request TICKET-1 already exists; nothing new was started.") {
		t.Fatalf("second start: exit %d\n%s", code, out)
	}
	code, _, errs = s.run("start", "--type", "access", "--regulation", "gdpr", "--email", "jane@example.com", "--id", "TICKET-1")
	if code != exitConflict || !strings.Contains(errs, "TICKET-1 belongs to a request of type erasure under gdpr") {
		t.Fatalf("conflicting start: exit %d: %s", code, errs)
	}

	out = waitStatus(t, s, "TICKET-1", "completed")
	for _, want := range []string{"Request     TICKET-1", "Regulation  gdpr", "Status      completed", "Due         2026-02-28 (closed)", "Timeline", "received", "answer sent"} {
		if !strings.Contains(out, want) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = s.run("show", "TICKET-1", "--output", "json")
	if code != exitOK || !strings.Contains(out, `"status": "completed"`) {
		t.Fatalf("show json: exit %d\n%s", code, out)
	}
	if code, _, errs = s.run("show", "NO-SUCH"); code != exitNotFound || !strings.Contains(errs, "no such request: NO-SUCH") {
		t.Fatalf("show unknown: exit %d: %s", code, errs)
	}
}

// TestStarterSteersARequest: verify, extend, cancel and deny as compliance
// would type them, with the exit codes scripts rely on.
func TestStarterSteersARequest(t *testing.T) {
	s := newStarterEnv(t)
	for id, customer := range map[string]string{"STEER-1": "C-77", "STEER-2": "C-78"} {
		if code, _, errs := s.run("start", "--type", "access", "--regulation", "ccpa", "--customer-id", customer, "--id", id); code != exitOK {
			t.Fatalf("start %s: exit %d: %s", id, code, errs)
		}
	}
	// The same customer again while STEER-1 is open: unverified, it is
	// its own request (it may be anyone's), and STEER-1, unverified too,
	// is no one's yet, so verifying STEER-3 does not make it STEER-1's
	// duplicate (the API's public-form test shows a verified one merging).
	code, out, errs := s.run("start", "--type", "access", "--regulation", "ccpa", "--customer-id", "C-77", "--id", "STEER-3")
	if code != exitOK || !strings.Contains(out, "Started request STEER-3") || strings.Contains(out, "STEER-1") {
		t.Fatalf("unverified duplicate start: exit %d\n%s%s", code, out, errs)
	}
	waitStatus(t, s, "STEER-1", "verifying")
	waitStatus(t, s, "STEER-3", "verifying")
	if code, _, errs := s.run("verify", "STEER-3", "--method", "called the customer back"); code != exitOK {
		t.Fatalf("verify STEER-3: exit %d: %s", code, errs)
	}
	waitShow(t, s, "STEER-3", "answered on its own", func(out string) bool {
		return strings.Contains(out, "completed") && !strings.Contains(out, "STEER-1")
	})

	code, out, errs = s.run("extend", "STEER-1", "--days", "45", "--reason", "records in archive storage")
	if code != exitOK || !strings.Contains(out, "Deadline extended to") || !regexp.MustCompile(`Extended +by 45 days: records in archive storage`).MatchString(out) {
		t.Fatalf("extend: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs = s.run("extend", "STEER-1", "--days", "10", "--reason", "again"); code != exitRefused || !strings.Contains(errs, "allows 1 extension(s)") {
		t.Fatalf("second CCPA extension: exit %d: %s", code, errs)
	}
	if code, _, errs = s.run("extend", "STEER-1", "--months", "1", "--days", "3", "--reason", "x"); code != exitUsage || !strings.Contains(errs, "one of --months N or --days N") {
		t.Fatalf("both units: exit %d: %s", code, errs)
	}
	if code, _, errs = s.run("verify", "STEER-1"); code != exitUsage || !strings.Contains(errs, "--method is required") {
		t.Fatalf("verify without method: exit %d: %s", code, errs)
	}
	if code, out, errs = s.run("verify", "STEER-1", "--method", "matched account login", "--actor", "compliance:alice"); code != exitOK || !strings.Contains(out, "Identity verified.") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errs)
	}
	waitStatus(t, s, "STEER-1", "completed")

	waitStatus(t, s, "STEER-2", "verifying")
	if code, _, errs = s.run("cancel", "STEER-2"); code != exitUsage || !strings.Contains(errs, "--reason is required") {
		t.Fatalf("cancel without reason: exit %d: %s", code, errs)
	}
	if code, out, errs = s.run("cancel", "STEER-2", "--reason", "duplicate of STEER-1"); code != exitOK || !strings.Contains(out, "Request cancelled.") {
		t.Fatalf("cancel: exit %d\n%s%s", code, out, errs)
	}
	out = waitStatus(t, s, "STEER-2", "cancelled")
	if !strings.Contains(out, "duplicate of STEER-1") {
		t.Fatalf("cancel reason not in timeline:\n%s", out)
	}
	if code, _, errs = s.run("deny", "STEER-2", "--reason", "unfounded"); code != exitRefused || !strings.Contains(errs, "request STEER-2 is already cancelled") {
		t.Fatalf("deny a closed request: exit %d: %s", code, errs)
	}
	if code, _, errs = s.run("verify", "NO-SUCH", "--method", "m"); code != exitNotFound {
		t.Fatalf("verify unknown: exit %d: %s", code, errs)
	}
}

// TestStarterDecide: a department owner without Slack signs off with starter.
func TestStarterDecide(t *testing.T) {
	s := newStarterEnv(t, activities.System{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance"}, Connector: &testengine.Table{Rows: 3}})
	if code, _, errs := s.run("start", "--type", "erasure", "--regulation", "gdpr", "--email", "olga@example.com", "--identity-verified", "--id", "DEC-1"); code != exitOK {
		t.Fatalf("start: exit %d: %s", code, errs)
	}
	out := waitStatus(t, s, "DEC-1", "awaiting_signoff")
	if !regexp.MustCompile(`Sign-off due from +Finance`).MatchString(out) || !regexp.MustCompile(`billing +Finance +3 records`).MatchString(out) {
		t.Fatalf("show while awaiting sign-off:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"decide", "DEC-1", "--department", "Finance", "--as", "controller@acme.example"}, exitUsage, "give one of --approve or --object"},
		{[]string{"decide", "DEC-1", "--department", "Finance", "--as", "controller@acme.example", "--object"}, exitUsage, "--object needs --basis"},
		{[]string{"decide", "DEC-1", "--department", "Finance", "--as", "intern@acme.example", "--approve"}, exitRefused, `"intern@acme.example" is not an approver for Finance`},
	} {
		if code, _, errs := s.run(tc.args...); code != tc.code || !strings.Contains(errs, tc.want) {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errs)
		}
	}
	// Flags may come before the request id as well as after it.
	code, out, errs := s.run("decide", "--temporal-address", "127.0.0.1:7233", "--department", "Finance", "DEC-1", "--as", "controller@acme.example", "--object", "--basis", "tax law keeps invoices for 10 years")
	if code != exitOK || !strings.Contains(out, "Finance: object recorded.") {
		t.Fatalf("decide: exit %d\n%s%s", code, out, errs)
	}
	out = waitStatus(t, s, "DEC-1", "completed")
	if !strings.Contains(out, "kept: tax law keeps invoices for 10 years") {
		t.Fatalf("exemption not shown:\n%s", out)
	}
}

// TestStarterConsent: a double opt-in confirmed by the subject, then
// withdrawn as easily.
func TestStarterConsent(t *testing.T) {
	marketing := &testengine.Table{Rows: 1}
	s := newStarterEnv(t, activities.System{SystemRef: activities.SystemRef{Name: "marketing", Department: "Finance", Purposes: []string{"newsletter"}}, Connector: marketing})
	if code, _, errs := s.run("start", "--type", "opt-in", "--regulation", "gdpr", "--email", "nina@example.com", "--identity-verified", "--id", "OPT-1"); code != exitUsage || !strings.Contains(errs, "--purpose, --channel and --wording: an opt-in or withdrawal names") {
		t.Fatalf("opt-in without evidence: exit %d: %s", code, errs)
	}
	if code, _, errs := s.run("start", "--type", "opt-in", "--regulation", "gdpr", "--email", "nina@example.com", "--identity-verified", "--id", "OPT-1",
		"--purpose", "newsletter", "--channel", "web form", "--wording", "newsletter-v3", "--double-opt-in"); code != exitOK {
		t.Fatalf("opt-in: exit %d: %s", code, errs)
	}
	// The ledger says pending until the subject confirms.
	waitShow(t, s, "OPT-1", "consent pending confirmation", func(out string) bool { return regexp.MustCompile(`Consent +pending`).MatchString(out) })
	if code, out, errs := s.run("confirm", "OPT-1", "--via", "e-mail link"); code != exitOK || !strings.Contains(out, "Consent confirmed.") {
		t.Fatalf("confirm: exit %d\n%s%s", code, out, errs)
	}
	out := waitStatus(t, s, "OPT-1", "completed")
	if !regexp.MustCompile(`Consent +granted`).MatchString(out) || !marketing.Consent["newsletter"] {
		t.Fatalf("after confirmation (marketing consent %v):\n%s", marketing.Consent, out)
	}
	if code, _, errs := s.run("start", "--type", "withdrawal", "--regulation", "gdpr", "--email", "nina@example.com", "--identity-verified", "--id", "WD-1",
		"--purpose", "newsletter", "--channel", "unsubscribe link", "--wording", "newsletter-v3"); code != exitOK {
		t.Fatalf("withdrawal: exit %d: %s", code, errs)
	}
	waitStatus(t, s, "WD-1", "completed")
	if marketing.Consent["newsletter"] {
		t.Fatal("withdrawal not propagated")
	}
	code, out, errs := s.run("consent", "--email", "Nina@Example.com")
	if code != exitOK || !regexp.MustCompile(`newsletter +withdrawn +unsubscribe link +newsletter-v3 .* WD-1`).MatchString(out) {
		t.Fatalf("consent lookup: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ = s.run("consent", "--email", "stranger@example.com", "--output", "json"); code != exitOK || strings.TrimSpace(out) != "[]" {
		t.Fatalf("unknown subject: exit %d %q", code, out)
	}
	if code, _, errs = s.run("consent"); code != exitUsage || !strings.Contains(errs, "at least one is required") {
		t.Fatalf("no identity: exit %d %s", code, errs)
	}
}

// TestStarterOptOutAndObjection: an opt-out from starter needs no
// verification and reaches the system that shares data; an objection to
// direct marketing withdraws the marketing purpose. Neither waits for a
// department.
func TestStarterOptOutAndObjection(t *testing.T) {
	ads := &testengine.Table{Rows: 1, Consent: map[string]bool{"ad-audiences": true, "newsletter": true}}
	support := &testengine.Table{Rows: 1}
	s := newStarterEnv(t,
		activities.System{SystemRef: activities.SystemRef{Name: "ads", Department: "Finance", Purposes: []string{"newsletter", "ad-audiences"}, SoldOrShared: true,
			PurposeKinds: map[string][]string{"newsletter": {"marketing"}, "ad-audiences": {"sharing"}}}, Connector: ads},
		activities.System{SystemRef: activities.SystemRef{Name: "support", Department: "Finance", Purposes: []string{"support"}}, Connector: support})
	if code, _, errs := s.run("start", "--type", "do-not-sell", "--regulation", "ccpa", "--email", "nina@example.com", "--channel", "phone", "--id", "OUT-1"); code != exitOK {
		t.Fatalf("opt-out: exit %d: %s", code, errs)
	}
	out := waitStatus(t, s, "OUT-1", "completed")
	if ads.Consent["ad-audiences"] || !ads.Consent["newsletter"] || support.Consent != nil {
		t.Fatalf("opt-out reached: ads %v, support %v\n%s", ads.Consent, support.Consent, out)
	}
	if code, _, errs := s.run("start", "--type", "objection", "--regulation", "gdpr", "--email", "nina@example.com", "--identity-verified",
		"--direct-marketing", "--channel", "e-mail", "--id", "OBJ-1"); code != exitOK {
		t.Fatalf("objection: exit %d: %s", code, errs)
	}
	waitStatus(t, s, "OBJ-1", "completed")
	if ads.Consent["newsletter"] {
		t.Fatalf("the objection did not withdraw the newsletter: %v", ads.Consent)
	}
}

// waitStatus polls show until the request has the status; it returns the
// output. Only what that status implies may be asserted on it.
func waitStatus(t *testing.T, s *starterEnv, id, status string) string {
	t.Helper()
	return waitShow(t, s, id, "status "+status, func(out string) bool {
		return regexp.MustCompile(`(?m)^Status +` + status + `$`).MatchString(out)
	})
}

// waitShow polls show until cond holds on its output, and returns it.
func waitShow(t *testing.T, s *starterEnv, id, what string, cond func(string) bool) string {
	t.Helper()
	var out string
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		var code int
		var errs string
		if code, out, errs = s.run("show", id); code != exitOK {
			t.Fatalf("show %s: exit %d: %s", id, code, errs)
		}
		return cond(out), fmt.Sprintf("%s never showed %s:\n%s", id, what, out)
	})
	return out
}

// TestStarterRefusesBadInput needs no server: nothing is sent.
func TestStarterRefusesBadInput(t *testing.T) {
	base := []string{"start", "--type", "access", "--regulation", "gdpr", "--email", "jane@example.com"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{}, "Usage:"},
		{"unknown command", []string{"launch"}, `unknown command "launch"`},
		{"no type", []string{"start", "--regulation", "gdpr", "--email", "a@b.co"}, "--type: is required (access, portability, erasure, opt_in, withdrawal, rectification, restriction, objection, opt_out, limit_sensitive)"},
		{"no regulation", []string{"start", "--type", "access", "--email", "a@b.co"}, "--regulation: is required (gdpr"},
		{"bad type", []string{"start", "--type", "delete", "--regulation", "gdpr", "--email", "a@b.co"}, `--type "delete": must be one of access, portability, erasure, opt_in, withdrawal, rectification`},
		{"bad regulation", []string{"start", "--type", "access", "--regulation", "hipaa", "--email", "a@b.co"}, `--regulation "hipaa": must be one of gdpr`},
		{"no identity", []string{"start", "--type", "access", "--regulation", "gdpr"}, "--email, --phone, --customer-id or --identity: at least one is required"},
		{"identity without kind", with("--identity", "L00000001", "--config", "x.yaml"), `--identity "L00000001": write KIND=VALUE`},
		{"identity without map", []string{"start", "--type", "access", "--regulation", "gdpr", "--identity", "loyalty_id=L00000001", "--config", ""}, "--identity needs the data map that declares its kind: --config FILE"},
		{"bad email", with("--email", "jane@localhost"), "--email: domain must be a dotted host name"},
		{"bad phone", []string{"start", "--type", "access", "--regulation", "gdpr", "--phone", "020 7946 0958"}, "--phone: must be in international form"},
		{"hostile customer id", []string{"start", "--type", "access", "--regulation", "gdpr", "--customer-id", "C1\u200b"}, "--customer-id: contains an invisible or control character (U+200B)"},
		{"future receipt", with("--received", "2999-01-01"), `--received "2999-01-01": is in the future`},
		{"bad receipt", with("--received", "31/01/2026"), `--received "31/01/2026": use YYYY-MM-DD`},
		{"bad zone", with("--tz", "Mars/Olympus"), `--tz "Mars/Olympus": unknown time zone`},
		{"email in id", with("--id", "jane@example.com"), "--id"},
		{"bad output", with("--output", "yaml"), `--output "yaml": must be table or json`},
		{"stray argument", with("extra"), `unexpected argument "extra"`},
		{"unknown flag", with("--colour", "red"), "unknown flag: --colour"},
		{"flag without value", with("--id"), "flag needs an argument: --id"},
		{"bad number", []string{"extend", "R-1", "--days", "ten", "--reason", "r"}, `invalid argument "ten" for "--days"`},
		{"show without id", []string{"show"}, "show needs a request id: starter show REQUEST-ID"},
		{"show bad id", []string{"show", "a b"}, "request id"},
		{"two ids", []string{"show", "R-1", "R-2"}, `unexpected argument "R-2"`},
		{"decide without department", []string{"decide", "--as", "x@acme.example", "R-1", "--approve"}, "--department and --as are required"},
		{"decide both ways", []string{"decide", "R-1", "--department", "Finance", "--as", "x@acme.example", "--approve", "--object"}, "give one of --approve or --object"},
		{"object without basis", []string{"decide", "R-1", "--department", "Finance", "--as", "x@acme.example", "--object"}, "--object needs --basis"},
		{"extend without amount", []string{"extend", "R-1", "--reason", "r"}, "give one of --months N or --days N"},
		{"cancel without reason", []string{"--output", "json", "cancel", "R-1"}, "--reason is required"},
		{"confirm without via", []string{"confirm", "R-1"}, "--via is required"},
		{"complete without note", []string{"complete", "R-1", "--system", "paper", "--as", "x@acme.example"}, "--system, --as and --note are required"},
		{"fetch without out", []string{"fetch", "R-1"}, "--out is required"},
		{"task without system", []string{"task", "R-1"}, "--system is required"},
		{"audit format", []string{"audit", "R-1", "--format", "pdf"}, `--format "pdf": must be json or html`},
		{"metrics dates", []string{"metrics", "--from", "last year"}, "--from and --to are dates"},
		{"list status", []string{"list", "--status", "lost"}, `status "lost": not a request status`},
		{"consent without identity", []string{"consent"}, "--email, --phone, --customer-id or --identity: at least one is required"},
		{"rectification without corrections", []string{"start", "--type", "correction", "--regulation", "gdpr", "--email", "a@b.co"}, "--correct: a rectification names at least one field"},
		{"correction without value", []string{"start", "--type", "rectification", "--regulation", "gdpr", "--email", "a@b.co", "--correct", "name"}, "--correct: write FIELD=VALUE"},
		{"evidence without correction", []string{"start", "--type", "rectification", "--regulation", "gdpr", "--email", "a@b.co", "--correct", "name=Jane", "--evidence", "email=a letter"}, "--evidence email=…: no --correct email=…"},
		{"corrections on an access", with("--correct", "name=Jane"), "--correct: only a rectification carries corrections"},
		{"opt-out under the GDPR", []string{"start", "--type", "opt-out", "--regulation", "gdpr", "--email", "a@b.co", "--channel", "web form"}, `--type "opt_out": is a right under the CCPA, not gdpr`},
		{"opt-out without channel", []string{"start", "--type", "opt-out", "--regulation", "ccpa", "--email", "a@b.co"}, "--channel: is required"},
		{"restriction without grounds", []string{"start", "--type", "restriction", "--regulation", "gdpr", "--email", "a@b.co", "--purpose", "newsletter"}, "--grounds: a restriction says why"},
		{"objection with neither", []string{"start", "--type", "objection", "--regulation", "uk_gdpr", "--email", "a@b.co"}, "--purpose: an objection on other grounds names the purposes"},
		{"grounds on an erasure", []string{"start", "--type", "erasure", "--regulation", "gdpr", "--email", "a@b.co", "--grounds", "x"}, "--purpose, --grounds, --direct-marketing or --channel: only a restriction, objection, opt-out or limit carries a scope"},
		{"two purposes on an opt-in", []string{"start", "--type", "opt-in", "--regulation", "gdpr", "--email", "a@b.co", "--purpose", "a", "--purpose", "b"}, "--purpose: an opt-in or withdrawal is for one purpose"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *starterEnv
			code, out, errs := s.run(tt.args...)
			if code != exitUsage || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 and %q (stdout %q)", code, errs, tt.want, out)
			}
			if strings.Contains(tt.name, "email") && strings.Contains(errs, "jane@localhost") {
				t.Errorf("error echoes the identity: %s", errs)
			}
		})
	}
}

func TestStarterNeedsAKey(t *testing.T) {
	t.Setenv("DSR_MASTER_KEY", "")
	var s *starterEnv
	code, _, errs := s.run("show", "REQ-1", "--key-file", filepath.Join(t.TempDir(), "missing.key"))
	if code != exitFailed || !strings.Contains(errs, "no master key: set DSR_MASTER_KEY or --key-file") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	t.Setenv("DSR_MASTER_KEY", "dG9vIHNob3J0")
	code, _, errs = s.run("show", "REQ-1")
	if code != exitFailed || !strings.Contains(errs, "DSR_MASTER_KEY: must decode to 32 bytes") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

// TestStarterManualTask: Finance's paper archive has no API; the request
// waits for the department's confirmation, given with starter, which shows
// the task with whom it is about.
func TestStarterManualTask(t *testing.T) {
	paper := activities.System{SystemRef: activities.SystemRef{Name: "paper", Department: "Finance",
		Manual: &activities.ManualTask{Location: "cabinet B, finance office", Instructions: map[string]string{"access": "scan the contracts", "erasure": "shred the contracts"}}}}
	s := newStarterEnv(t, paper)
	if code, _, errs := s.run("start", "--type", "erasure", "--regulation", "gdpr", "--email", "olga@example.com", "--identity-verified", "--id", "MAN-1"); code != exitOK {
		t.Fatalf("start: exit %d: %s", code, errs)
	}
	// The request is fulfilling before it opens the task and waits for it:
	// the wait is for the open task itself.
	waitShow(t, s, "MAN-1", "the open task", func(out string) bool {
		return regexp.MustCompile(`paper +Finance +0 records +manual task open`).MatchString(out) &&
			regexp.MustCompile(`Waiting for +manual tasks in paper`).MatchString(out)
	})
	code, out, errs := s.run("task", "MAN-1", "--system", "paper")
	if code != exitOK || !regexp.MustCompile(`Where +cabinet B, finance office`).MatchString(out) || !regexp.MustCompile(`Subject's email +olga@example.com`).MatchString(out) || !strings.Contains(out, "shred the contracts") {
		t.Fatalf("task: exit %d\n%s%s", code, out, errs)
	}
	if reads := auditActions(t, s, "MAN-1", "task.read"); reads != 1 {
		t.Fatalf("task reads on record: %d", reads)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"task", "MAN-1", "--system", "crm"}, exitRefused, `no manual task in "crm"`},
		{[]string{"task", "NOPE-1", "--system", "paper"}, exitNotFound, "no such request"},
		{[]string{"complete", "MAN-1", "--system", "paper", "--as", "controller@acme.example"}, exitUsage, "--note are required"},
		{[]string{"complete", "MAN-1", "--system", "paper", "--as", "intern@acme.example", "--note", "done"}, exitRefused, `"intern@acme.example" is not an approver for Finance`},
		{[]string{"complete", "MAN-1", "--system", "paper", "--as", "controller@acme.example", "--note", "x", "--outcome", "kept"}, exitRefused, "needs the legal basis"},
		{[]string{"complete", "MAN-1", "--system", "paper", "--as", "controller@acme.example", "--note", "x", "--outcome", "lost"}, exitRefused, `outcome "lost"`},
	} {
		if code, _, errs := s.run(tc.args...); code != tc.code || !strings.Contains(errs, tc.want) {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errs)
		}
	}
	code, out, errs = s.run("complete", "MAN-1", "--system", "paper", "--as", "controller@acme.example", "--records", "2", "--note", "2 signed contracts shredded")
	if code != exitOK || !strings.Contains(out, "Task in paper confirmed done.") {
		t.Fatalf("complete: exit %d\n%s%s", code, out, errs)
	}
	out = waitStatus(t, s, "MAN-1", "completed")
	if !regexp.MustCompile(`paper +Finance +2 records +manual task done: 2 records: 2 signed contracts shredded \(verified\)`).MatchString(out) {
		t.Fatalf("show after the task:\n%s", out)
	}
	if path := os.Getenv("DSR_RECORD_MANUAL_HISTORY"); path != "" {
		testengine.RecordHistory(t, s.e.RawClient, "dsr-MAN-1", path)
	}
}

// TestStarterManualCorrection: a paper archive corrects by hand; its
// task shows the new value with whom it is about, and nothing else does.
func TestStarterManualCorrection(t *testing.T) {
	paper := activities.System{SystemRef: activities.SystemRef{Name: "paper", Department: "Finance",
		Manual: &activities.ManualTask{Location: "cabinet B", Instructions: map[string]string{"access": "scan", "erasure": "shred",
			"rectification": "correct the contract's cover page"}}}}
	s := newStarterEnv(t, paper)
	if code, _, errs := s.run("start", "--type", "correction", "--regulation", "gdpr", "--email", "olga@example.com", "--identity-verified", "--id", "FIX-1",
		"--correct", "name=Olga Smith", "--evidence", "name=marriage certificate"); code != exitOK {
		t.Fatalf("start: exit %d: %s", code, errs)
	}
	out := waitShow(t, s, "FIX-1", "the open task", func(out string) bool { return regexp.MustCompile(`paper +Finance .*manual task open`).MatchString(out) })
	if strings.Contains(out, "Olga Smith") {
		t.Fatalf("show repeats the new value:\n%s", out)
	}
	code, out, errs := s.run("task", "FIX-1", "--system", "paper")
	if code != exitOK || !regexp.MustCompile(`Correct name to +Olga Smith \(evidence: marriage certificate\)`).MatchString(out) ||
		!strings.Contains(out, "correct the contract's cover page (correct: name") {
		t.Fatalf("task: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := s.run("complete", "FIX-1", "--system", "paper", "--as", "controller@acme.example", "--records", "1", "--note", "cover page corrected"); code != exitOK {
		t.Fatalf("complete: exit %d: %s", code, errs)
	}
	waitStatus(t, s, "FIX-1", "completed")
}

// TestStarterRecords: list and filter, watch, the evidence pack in JSON
// and HTML, the audit chain's check (and its failure after tampering),
// the metrics report and the package.
func TestStarterRecords(t *testing.T) {
	s := newStarterEnv(t, activities.System{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance", Purposes: []string{"accounting"}}, Connector: &testengine.Table{Rows: 3}})
	if code, _, errs := s.run("start", "--type", "access", "--regulation", "gdpr", "--email", "rita@example.com", "--identity-verified", "--id", "REC-1"); code != exitOK {
		t.Fatalf("start: exit %d: %s", code, errs)
	}
	code, out, errs := s.run("show", "REC-1", "--watch")
	if code != exitOK || !regexp.MustCompile(`Status +completed`).MatchString(out) {
		t.Fatalf("watch: exit %d\n%s%s", code, out, errs)
	}
	// The evidence below ends with the workflow's close, which follows the
	// last status.
	s.e.Closed(t, "REC-1")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"list"}, exitOK, "REC-1"},
		{[]string{"list", "--status", "completed", "--type", "access"}, exitOK, "REC-1"},
		{[]string{"list", "--overdue"}, exitOK, "No requests match."},
		{[]string{"list", "--department", "Finance"}, exitOK, "No requests match."},
		{[]string{"list", "--status", "lost"}, exitUsage, `status "lost": not a request status`},
		{[]string{"list", "--department", "x' OR 1=1"}, exitUsage, "not a department name"},
	} {
		code, out, errs := s.run(tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%v: exit %d\n%s%s", tc.args, code, out, errs)
		}
	}
	// Visibility is eventually consistent: the list may lag the request.
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		_, out, _ := s.run("list", "--status", "completed", "--output", "json")
		var list []requests.Summary
		json.Unmarshal([]byte(out), &list)
		return len(list) == 1 && list[0].ID == "REC-1" && list[0].Type == "access", "list --output json: " + out
	})

	code, out, errs = s.run("audit", "REC-1")
	var ev requests.Evidence
	if code != exitOK || json.Unmarshal([]byte(out), &ev) != nil {
		t.Fatalf("audit: exit %d\n%s%s", code, out, errs)
	}
	var steps []string
	for _, e := range ev.Timeline {
		steps = append(steps, e.What+":"+e.Detail)
	}
	joined := strings.Join(steps, "\n")
	for _, want := range []string{"received:access request under gdpr", "discovered:billing: found 3 in rows", "exported:billing: exported 3 in rows (sha256 ", "package:access package assembled", "notice:answer notice to subject", "status:completed", "closed:workflow completed: completed"} {
		if !strings.Contains(joined, want) {
			t.Errorf("timeline lacks %q:\n%s", want, joined)
		}
	}
	if strings.Contains(out, "rita") || len(ev.AuditLog) == 0 || len(ev.Chain.Problems) != 0 || ev.ExportedBy == "" {
		t.Fatalf("evidence: %+v", ev)
	}
	page := filepath.Join(t.TempDir(), "evidence.html")
	if code, _, errs := s.run("audit", "REC-1", "--format", "html", "--out", page); code != exitOK {
		t.Fatalf("audit html: exit %d: %s", code, errs)
	}
	if b, _ := os.ReadFile(page); !strings.Contains(string(b), "Evidence pack — request REC-1") || !strings.Contains(string(b), "intact:") {
		t.Fatalf("html evidence:\n%s", b)
	}

	code, out, _ = s.run("metrics", "--from", time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly), "--to", time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly), "--output", "json")
	var report struct {
		Totals struct {
			Received int `json:"received"`
			Complied int `json:"complied_in_whole"`
		} `json:"totals"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &report) != nil || report.Totals.Received != 1 || report.Totals.Complied != 1 {
		t.Fatalf("metrics: exit %d\n%s", code, out)
	}
	if code, _, errs := s.run("metrics", "--from", "2026-02-01", "--to", "2026-01-01"); code != exitUsage || !strings.Contains(errs, "must come after") {
		t.Fatalf("backwards period: exit %d: %s", code, errs)
	}

	pkg := filepath.Join(t.TempDir(), "package.zip")
	if code, out, errs := s.run("fetch", "REC-1", "--out", pkg); code != exitOK || !strings.Contains(out, "written to") {
		t.Fatalf("fetch: exit %d\n%s%s", code, out, errs)
	}
	if code, _, _ := s.run("fetch", "REC-1", "--out", pkg); code != exitFailed {
		t.Fatal("fetch overwrote an existing file")
	}
	// The copy from the export directory is on record, once: the refused
	// second one read nothing.
	if reads := auditActions(t, s, "REC-1", "package.read"); reads != 1 {
		t.Fatalf("package reads on record: %d", reads)
	}

	if code, out, _ := s.run("audit", "--temporal-address", "127.0.0.1:7233", "verify"); code != exitOK || !strings.Contains(out, "Audit log intact") {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
	if code, out, _ := s.run("audit", "verify", "--output", "json"); code != exitOK || !strings.Contains(out, `"problems": []`) {
		t.Fatalf("verify json: exit %d\n%s", code, out)
	}
	db, err := sqlx.Open("sqlite", s.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := s.run("audit", "verify"); code != exitFailed || !strings.Contains(out, "AUDIT LOG BROKEN") || !strings.Contains(out, "entry 2") || !strings.Contains(errs, "the audit log is broken") {
		t.Fatalf("verify after tampering: exit %d\n%s%s", code, out, errs)
	}
}

// TestExitCodes: one function maps every error to the documented codes.
func TestExitCodes(t *testing.T) {
	parsed := &cli{parsed: true}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("connect to Temporal at 127.0.0.1:7233: refused"), exitFailed},
		{fmt.Errorf("show R-1: %w", requests.ErrNotFound), exitNotFound},
		{fmt.Errorf("%w: R-1 belongs to a request of type access", requests.ErrIDTaken), exitConflict},
		{fmt.Errorf("extend R-1: %w: at most 2 months", requests.ErrRefused), exitRefused},
		{&domain.FieldError{Field: "--tz", Reason: "unknown"}, exitUsage},
		{usage("give one of --approve or --object"), exitUsage},
		{errBroken, exitFailed},
	} {
		if got := parsed.exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	// Before a command's flags and arguments are accepted, cobra's own
	// refusals (unknown command or flag) are usage errors.
	if got := (&cli{}).exitCode(errors.New(`unknown command "launch" for "starter"`)); got != exitUsage {
		t.Errorf("unparsed error: %d", got)
	}
}

// auditActions counts a request's audit entries of one action.
func auditActions(t *testing.T, s *starterEnv, requestID, action string) int {
	t.Helper()
	db, err := sqlx.Open("sqlite", s.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM audit_log WHERE request_id = ? AND action = ?`, requestID, action); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStarterCustomIdentityKind: a kind the data map declares is given as
// --identity KIND=VALUE, checked against the map's pattern before anything
// starts, and normalised as the map says.
func TestStarterCustomIdentityKind(t *testing.T) {
	s := newStarterEnv(t)
	t.Cleanup(func() { domain.DeclareKinds(nil) })
	dataMap := filepath.Join(t.TempDir(), "map.yaml")
	if err := os.WriteFile(dataMap, []byte("identity_kinds:\n  - {name: loyalty_id, pattern: 'L[0-9]{8}', uppercase: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(value string) (int, string, string) {
		return s.run("start", "--type", "access", "--regulation", "gdpr", "--identity", "loyalty_id="+value, "--config", dataMap, "--identity-verified", "--id", "LOY-1", "--output", "json")
	}
	if code, _, errs := start("L0000001"); code != exitUsage || !strings.Contains(errs, "--identity loyalty_id=…: does not have the form the data map declares for loyalty_id") ||
		strings.Contains(errs, "L0000001") {
		t.Fatalf("a value off the pattern: exit %d: %s", code, errs)
	}
	if code, _, errs := s.run("start", "--type", "access", "--regulation", "gdpr", "--identity", "member_no=7", "--config", dataMap); code != exitUsage ||
		!strings.Contains(errs, "must be one of email, phone, customer_id, loyalty_id") {
		t.Fatalf("an undeclared kind: exit %d: %s", code, errs)
	}
	if code, out, errs := start(" l00000001 "); code != exitOK || !strings.Contains(out, `"id": "LOY-1"`) {
		t.Fatalf("start: exit %d: %s%s", code, out, errs)
	}
	waitStatus(t, s, "LOY-1", "completed")
}
