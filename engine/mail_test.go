package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/mail"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// mailEngine starts the engine on PostgreSQL with an SMTP sink for the
// subjects' e-mails.
func mailEngine(t *testing.T, systems ...activities.System) (*testengine.Engine, *store.Store, *mail.Sink) {
	t.Helper()
	sink := testengine.MailSink(t)
	st := openPostgres(t)
	return testengine.StartEngineWith(t, st, testengine.Options{Mail: sink, Systems: systems}), st, sink
}

// TestSubjectNoticesByEmail runs requests on the real server and store
// with an SMTP server beside them, and reads what each subject received:
// the receipt, the extension with its reason and new date, the answer,
// the denial with where to complain; each once, to the address the
// request was made with, and none to a request made without one.
func TestSubjectNoticesByEmail(t *testing.T) {
	e, st, sink := mailEngine(t, activities.System{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance",
		Purposes: []string{"invoicing"}}, Connector: &testengine.Table{Rows: 2}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := testengine.Compliance(ctx, "cli:alice")

	// Jane's access request: received unverified, extended, verified, answered.
	jane := input("MAIL-1", "jane.doe@example.com")
	jane.IdentityVerified = false
	if _, err := requests.Start(ctx, e.Client, jane); err != nil {
		t.Fatal(err)
	}
	due, err := requests.Extend(alice, e.Client, "MAIL-1", workflows.ExtensionRequest{Actor: "cli:alice", By: domain.Period{Months: 1}, Reason: "archive restore needed"})
	if err != nil {
		t.Fatal(err)
	}
	e.Await(t, "MAIL-1", "waiting for identity verification", func(v requests.View) bool { return v.WaitingFor == "identity verification" })
	if err := requests.VerifyIdentity(alice, e.Client, "MAIL-1", workflows.Verification{Actor: "cli:alice", Method: "account login"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Client.GetWorkflow(ctx, domain.WorkflowID("MAIL-1"), "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}

	// Bob's erasure, under the UK GDPR: denied.
	bob := input("MAIL-2", "bob@example.com")
	bob.Type, bob.Regulation, bob.IdentityVerified = domain.Erasure, domain.UKGDPR, false
	bob.DueAt = domain.DueAt(domain.UKGDPR, bob.ReceivedAt)
	if _, err := requests.Start(ctx, e.Client, bob); err != nil {
		t.Fatal(err)
	}
	e.Await(t, "MAIL-2", "waiting for identity verification", func(v requests.View) bool { return v.WaitingFor == "identity verification" })
	if err := requests.Deny(alice, e.Client, "MAIL-2", workflows.Closure{Actor: "cli:alice", Reason: "the identity could not be verified"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Client.GetWorkflow(ctx, domain.WorkflowID("MAIL-2"), "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}

	// A request made with a phone number only: no address to write to.
	phone, _ := domain.NewIdentity(domain.Phone, "+44 20 7946 0018")
	carol := input("MAIL-3", "unused@example.com")
	carol.Identities = []domain.Identity{phone}
	if _, err := requests.Start(ctx, e.Client, carol); err != nil {
		t.Fatal(err)
	}
	if err := e.Client.GetWorkflow(ctx, domain.WorkflowID("MAIL-3"), "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}

	// Dave's address is refused for good: each notice is tried once, and
	// his request's timeline says it was not delivered.
	sink.Reject("dave@example.com")
	dave := input("MAIL-4", "dave@example.com")
	if _, err := requests.Start(ctx, e.Client, dave); err != nil {
		t.Fatal(err)
	}
	if err := e.Client.GetWorkflow(ctx, domain.WorkflowID("MAIL-4"), "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := sink.Rejected(); n != 2 {
		t.Errorf("the refused address was tried %d times for its receipt and answer; want once each", n)
	}
	v, err := requests.Show(ctx, e.Client, "MAIL-4")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(v.Timeline, func(s workflows.StatusChange) bool {
		return strings.Contains(s.Note, "receipt notice to subject not delivered") && !strings.Contains(s.Note, "dave")
	}) {
		t.Errorf("the timeline does not say the receipt was not delivered (without the address): %+v", v.Timeline)
	}

	// Every notice activity finished before its workflow did.
	var got []string
	byKind := map[string]mail.Received{}
	for _, m := range sink.Messages() {
		got = append(got, fmt.Sprintf("%s %s", strings.Join(m.To, ","), m.Subject))
		byKind[m.Subject] = m
	}
	want := []string{
		"jane.doe@example.com We received your access request (MAIL-1)",
		"jane.doe@example.com We need more time for your access request (MAIL-1)",
		"jane.doe@example.com Your access request is complete (MAIL-1)",
		"bob@example.com We received your erasure request (MAIL-2)",
		"bob@example.com We cannot act on your erasure request (MAIL-2)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("received:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ext := byKind["We need more time for your access request (MAIL-1)"]
	if !strings.Contains(ext.Text, "archive restore needed") || !strings.Contains(ext.Text, due.Format("2 January 2006")) || !strings.Contains(ext.HTML, "archive restore needed") {
		t.Errorf("the extension lacks its reason or date:\n%s", ext.Text)
	}
	denial := byKind["We cannot act on your erasure request (MAIL-2)"]
	if !strings.Contains(denial.Text, "the identity could not be verified") || !strings.Contains(denial.Text, "Information Commissioner's Office") {
		t.Errorf("the denial lacks its reason or where to complain:\n%s", denial.Text)
	}

	// The audit log records each e-mail by kind, never by address.
	log, err := st.AuditLog(ctx, "MAIL-1")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range log {
		if a.Action == "mail.sent" {
			var d struct{ Kind string }
			json.Unmarshal([]byte(a.DetailRaw), &d)
			kinds = append(kinds, d.Kind)
		}
		if b, _ := json.Marshal(a); strings.Contains(string(b), "jane") {
			t.Errorf("the audit log names the address: %s", b)
		}
	}
	if !slices.Equal(kinds, []string{"receipt", "extension", "answer"}) {
		t.Errorf("audited mails %v", kinds)
	}
	// Carol's notices are in the inbox all the same.
	inbox, err := st.Inbox(ctx, "subject", 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(inbox, func(n records.InboxEntry) bool { return n.RequestID == "MAIL-3" && n.Kind == "answer" }) {
		t.Error("the phone-only request's answer is not in the inbox")
	}
}

// TestMailSentOnceAcrossRetries delivers the same notice twice, as an
// activity retried after its first attempt reached the server would: one
// e-mail.
func TestMailSentOnceAcrossRetries(t *testing.T) {
	e, st, sink := mailEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := input("ONCE-1", "jane@example.com")
	if _, err := requests.Start(ctx, e.Client, in); err != nil {
		t.Fatal(err)
	}
	if err := e.Client.GetWorkflow(ctx, domain.WorkflowID("ONCE-1"), "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(sink.Addr())
	p, _ := strconv.Atoi(port)
	notifier, err := engine.NewMail(mail.Config{SMTP: mail.Settings{Host: host, Port: p, From: "privacy@acme.example", TLS: "none"}, Lang: "en"},
		st, e.Keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	before := len(sink.Messages())
	n := activities.Notice{RequestID: "ONCE-1", To: "subject", Kind: "notice", Text: "Once.", Key: "run-1/42"}
	for range 3 {
		if err := notifier.Notify(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(sink.Messages()) - before; got != 1 {
		t.Fatalf("%d e-mails for one delivery", got)
	}
}
