package slackapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack/slacktest"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/slackapp"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// acme: Sales decides in its channel; Finance's approver, known by e-mail,
// gets direct messages; compliance has a channel and a lead.
func config(w *workspace) slackapp.Config {
	return slackapp.Config{BotToken: "xoxb-test-token", SigningSecret: secret, APIURL: w.srv.GetAPIURL(),
		ComplianceChannel: "#privacy-office", ComplianceLead: "lead@acme.example",
		Departments: []slackapp.Department{
			{Name: "Sales", Channel: "#acme-sales", Approvers: []string{"U0SALES001"}},
			{Name: "Finance", Channel: "#acme-finance", Approvers: []string{"controller@acme.example", "ghost@acme.example"}, DirectMessages: true},
		}}
}

// TestSignedClicksTakeAnErasureThroughSignOff runs an erasure on the real
// in-process Temporal server through two departments' sign-off, taken by
// signed button clicks, and a manual task confirmed in a modal; every
// refusal on the way changes nothing.
func TestSignedClicksTakeAnErasureThroughSignOff(t *testing.T) {
	w := newWorkspace(t)
	st := openStore(t)
	ctx := context.Background()
	if err := st.SyncDepartments(ctx, []records.Department{
		{Name: "Sales", Approvers: []string{"U0SALES001"}},
		{Name: "Finance", Approvers: []string{"controller@acme.example", "ghost@acme.example"}},
	}); err != nil {
		t.Fatal(err)
	}
	paper := activities.System{SystemRef: activities.SystemRef{Name: "paper", Department: "Finance",
		Manual: &activities.ManualTask{Location: "cabinet B", Instructions: map[string]string{"access": "scan", "erasure": "shred the contracts"}}}}
	e := testenv.StartEngineWith(t, st, testenv.Options{
		Systems: []activities.System{
			{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: &testenv.Table{Rows: 4}},
			{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance"}, Connector: &testenv.Table{Rows: 2}},
			paper,
		},
		Slack: func(c client.Client) *slackapp.App {
			app, err := slackapp.New(ctx, config(w), st, c, quiet)
			if err != nil {
				t.Fatal(err)
			}
			return app
		},
	})
	endpoint := e.Gateway + "/slack/interactions"
	email, _ := domain.NewIdentity(domain.Email, "erin@example.com")
	received := time.Now().Add(-24 * time.Hour)
	in := workflows.RequestInput{RequestID: "SLACK-1", Type: domain.Erasure, Regulation: domain.GDPR, Identities: []domain.Identity{email},
		ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), RequestedBy: "cli:test", IdentityVerified: true}
	if _, err := requests.Start(ctx, e.Client, in); err != nil {
		t.Fatal(err)
	}

	// One message per department: Sales in its channel, Finance by DM to
	// the approver found by e-mail.
	posts := w.waitFor(t, "chat.postMessage", "two sign-off requests", func(c []url.Values) bool { return len(c) >= 2 })
	byChannel := map[string]url.Values{}
	for _, p := range posts {
		byChannel[p.Get("channel")] = p
	}
	sales, finance := byChannel["acme-sales"], byChannel["U0FIN00001"]
	if sales == nil || finance == nil {
		t.Fatalf("sign-off messages went to %v", posts)
	}
	for _, want := range []string{"SLACK-1", "erasure", "GDPR", "days left", "`billing`: 2 records", "dsr_approve", "dsr_object"} {
		if !strings.Contains(finance.Get("blocks"), want) {
			t.Errorf("Finance's message lacks %q: %s", want, finance.Get("blocks"))
		}
	}
	if strings.Contains(finance.Get("blocks")+sales.Get("blocks"), "erin") {
		t.Fatal("a sign-off message names the subject")
	}
	salesTS := "1700000000.000001"
	financeChannel, financeTS := "D0FIN00001", "1700000000.000002"
	if posts[0].Get("channel") != "acme-sales" {
		salesTS, financeTS = financeTS, salesTS
	}
	pending := func() []string {
		v, err := requests.Show(ctx, e.Client, "SLACK-1")
		if err != nil {
			t.Fatal(err)
		}
		return v.PendingDepartments
	}
	now := time.Now()
	approveSales := click("U0SALES001", "dsr_approve", "SLACK-1", "Sales", "", "C-acme-sales", salesTS)

	// Refused, nothing changed: forged, stale, unsigned, malformed.
	resp, body, h := signed(t, endpoint, "not-the-secret", now, approveSales)
	if resp.StatusCode != 401 || !strings.Contains(readBody(resp), "signature does not match") {
		t.Fatalf("forged signature: %d", resp.StatusCode)
	}
	if resp, _, _ := signed(t, endpoint, secret, now.Add(-6*time.Minute), approveSales); resp.StatusCode != 401 || !strings.Contains(readBody(resp), "stale") {
		t.Fatalf("stale timestamp: %d", resp.StatusCode)
	}
	h.Del("X-Slack-Signature")
	if resp := send(t, endpoint, body, h); resp.StatusCode != 401 {
		t.Fatalf("unsigned: %d", resp.StatusCode)
	}
	if resp, _, _ := signed(t, endpoint, secret, now, "{not json"); resp.StatusCode != 400 {
		t.Fatalf("malformed payload: %d", resp.StatusCode)
	}
	// A stranger's click: ephemeral, nothing recorded.
	if resp, _, _ := signed(t, endpoint, secret, now, click("U0STRANGER", "dsr_approve", "SLACK-1", "Finance", "", financeChannel, financeTS)); resp.StatusCode != 200 {
		t.Fatalf("stranger: %d", resp.StatusCode)
	}
	w.waitFor(t, "chat.postEphemeral", "the stranger told", containing("You are not an approver for Finance"))
	// An unknown request.
	signed(t, endpoint, secret, now, click("U0SALES001", "dsr_approve", "NOPE-1", "Sales", "", "C-acme-sales", salesTS))
	w.waitFor(t, "chat.postEphemeral", "unknown request refused", containing("Not recorded: no such request: NOPE-1"))
	if got := pending(); strings.Join(got, ",") != "Finance,Sales" {
		t.Fatalf("a refused click changed the request: pending %v", got)
	}

	// Sales approves with one click, answered at once.
	start := time.Now()
	resp, body, h = signed(t, endpoint, secret, now, approveSales)
	if resp.StatusCode != 200 || time.Since(start) > 3*time.Second {
		t.Fatalf("approve: %d after %s", resp.StatusCode, time.Since(start))
	}
	updates := w.waitFor(t, "chat.update", "Sales's message updated", containing("Approved by U0SALES001 via slack:U0SALES001"))
	if updates[0].Get("ts") != salesTS || strings.Contains(updates[0].Get("blocks"), "dsr_approve") {
		t.Fatalf("update: %v", updates[0])
	}
	// The same payload again is a replay; a new click is a second decision.
	if resp := send(t, endpoint, body, h); resp.StatusCode != 409 {
		t.Fatalf("replay: %d", resp.StatusCode)
	}
	if resp, _, _ := signed(t, endpoint, secret, now.Add(time.Second), approveSales); resp.StatusCode != 200 {
		t.Fatalf("second click: %d", resp.StatusCode)
	}
	w.waitFor(t, "chat.postEphemeral", "second decision refused", containing("Not recorded: Sales has already decided on request SLACK-1"))

	// Finance objects: the button opens a modal, which asks for the basis.
	signed(t, endpoint, secret, now, click("U0FIN00001", "dsr_object", "SLACK-1", "Finance", "", financeChannel, financeTS))
	views := w.waitFor(t, "views.open", "the objection modal", func(c []url.Values) bool { return len(c) == 1 })
	var view struct {
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
	}
	json.Unmarshal([]byte(views[0].Get("view")), &view)
	if views[0].Get("trigger_id") != "trigger-U0FIN00001-dsr_object" || view.CallbackID != "dsr_object" {
		t.Fatalf("modal: %v", views[0])
	}
	resp, _, _ = signed(t, endpoint, secret, now, submit("U0FIN00001", "dsr_object", view.PrivateMetadata, map[string]map[string]any{"basis": {"basis": text("  ")}}))
	if got := readBody(resp); resp.StatusCode != 200 || !strings.Contains(got, `"response_action":"errors"`) || !strings.Contains(got, "legal basis") {
		t.Fatalf("empty basis: %d %s", resp.StatusCode, got)
	}
	resp, _, _ = signed(t, endpoint, secret, now, submit("U0FIN00001", "dsr_object", view.PrivateMetadata,
		map[string]map[string]any{"basis": {"basis": text("tax law keeps invoices for 10 years")}}))
	if resp.StatusCode != 200 {
		t.Fatalf("objection: %d", resp.StatusCode)
	}
	w.waitFor(t, "chat.update", "Finance's message updated", containing("Objected by controller@acme.example via slack:U0FIN00001"))

	// Then the manual task arrives the same way and is confirmed in a modal.
	task := w.waitFor(t, "chat.postMessage", "the task message", containing("shred the contracts"))
	taskMsg := task[len(task)-1]
	if taskMsg.Get("channel") != "U0FIN00001" || !strings.Contains(taskMsg.Get("blocks"), "dsr_task") {
		t.Fatalf("task message: %v", taskMsg)
	}
	signed(t, endpoint, secret, now, click("U0FIN00001", "dsr_task", "SLACK-1", "Finance", "paper", financeChannel, "1700000000.000009"))
	views = w.waitFor(t, "views.open", "the task modal", func(c []url.Values) bool { return len(c) == 2 })
	json.Unmarshal([]byte(views[1].Get("view")), &view)
	values := map[string]map[string]any{
		"outcome": {"outcome": map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "done"}}},
		"records": {"records": text("two")}, "note": {"note": text("2 contracts shredded")}, "basis": {"basis": text("")},
	}
	resp, _, _ = signed(t, endpoint, secret, now, submit("U0FIN00001", "dsr_task", view.PrivateMetadata, values))
	if got := readBody(resp); !strings.Contains(got, `"records"`) {
		t.Fatalf("records not a number: %s", got)
	}
	values["records"]["records"] = text("2")
	signed(t, endpoint, secret, now, submit("U0FIN00001", "dsr_task", view.PrivateMetadata, values))

	var res workflows.RequestState
	if err := e.Client.GetWorkflow(ctx, "dsr-SLACK-1", "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != domain.StatusCompleted || len(res.SignOffs) != 2 || res.Tasks[0].Actor != "controller@acme.example via slack:U0FIN00001" {
		t.Fatalf("result: %+v", res)
	}
	w.waitFor(t, "chat.update", "the task message updated", containing("Done by controller@acme.example"))
	// A click on a finished request changes nothing and says why.
	signed(t, endpoint, secret, now.Add(2*time.Second), click("U0FIN00001", "dsr_approve", "SLACK-1", "Finance", "", financeChannel, financeTS))
	w.waitFor(t, "chat.postEphemeral", "finished request refused", containing("Not recorded: request SLACK-1 is already completed."))
	// The inbox has every notice, for the console.
	if inbox, err := st.Inbox(ctx, "Finance", 50); err != nil || len(inbox) < 3 {
		t.Fatalf("inbox: %+v, %v", inbox, err)
	}
}

// TestRemindersThreadAndEscalate drives the notifier directly: reminders go
// under the original message, escalations to compliance with the lead
// mentioned, a retried delivery posts once, and a rate limit asks the
// activity to wait.
func TestRemindersThreadAndEscalate(t *testing.T) {
	w := newWorkspace(t)
	st := openStore(t)
	ctx := context.Background()
	app, err := slackapp.New(ctx, config(w), st, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	facts := &activities.NoticeFacts{Type: domain.Erasure, Regulation: domain.UKGDPR, DueAt: time.Now().Add(-50 * time.Hour)}
	signoff := activities.Notice{RequestID: "R-9", To: "Sales", Kind: "signoff", Text: "sign off please", Facts: facts, Key: "run/1"}
	for range 2 {
		if err := app.Notify(ctx, signoff); err != nil {
			t.Fatal(err)
		}
	}
	if posts := w.sent("chat.postMessage"); len(posts) != 1 || !strings.Contains(posts[0].Get("blocks"), "(*overdue by") || !strings.Contains(posts[0].Get("blocks"), "UK GDPR") {
		t.Fatalf("a retried delivery posted again, or the due date is wrong: %v", posts)
	}
	if err := app.Notify(ctx, activities.Notice{RequestID: "R-9", To: "Sales", Kind: "reminder", Text: "Reminder: due soon", Facts: facts, Key: "run/2"}); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"compliance-lead", "compliance"} {
		if err := app.Notify(ctx, activities.Notice{RequestID: "R-9", To: to, Kind: "escalation", Text: "OVERDUE: R-9", Key: "run/3-" + to}); err != nil {
			t.Fatal(err)
		}
	}
	app.Notify(ctx, activities.Notice{RequestID: "R-9", To: "subject", Kind: "answer", Text: "answered", Key: "run/4"})
	posts := w.sent("chat.postMessage")
	if len(posts) != 4 {
		t.Fatalf("posts: %v", posts)
	}
	if posts[1].Get("channel") != "C-acme-sales" || posts[1].Get("thread_ts") != "1700000000.000001" {
		t.Fatalf("reminder not threaded under the sign-off: %v", posts[1])
	}
	if posts[2].Get("channel") != "privacy-office" || !strings.Contains(posts[2].Get("text"), "<@U0LEAD0001> OVERDUE") || posts[3].Get("text") != "OVERDUE: R-9" {
		t.Fatalf("escalations: %v %v", posts[2], posts[3])
	}
	w.mu.Lock()
	w.limited = 1
	w.mu.Unlock()
	err = app.Notify(ctx, activities.Notice{RequestID: "R-10", To: "Sales", Kind: "signoff", Text: "x", Facts: facts, Key: "run/5"})
	var later *connectors.RetryLaterError
	if !errors.As(err, &later) || later.After != 7*time.Second {
		t.Fatalf("rate limit: %v, want a RetryLaterError of 7s", err)
	}
	// Finance's approvers get direct messages; the first is posted, the
	// second is rate limited, and the retry posts only the second.
	cfg := config(w)
	cfg.Departments[1].Approvers = []string{"controller@acme.example", "lead@acme.example"}
	app, err = slackapp.New(ctx, cfg, st, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	before := len(w.sent("chat.postMessage"))
	dm := activities.Notice{RequestID: "R-11", To: "Finance", Kind: "signoff", Text: "x", Facts: facts, Key: "run/6"}
	w.mu.Lock()
	w.limitAfter, w.limited = 1, 1
	w.mu.Unlock()
	if err := app.Notify(ctx, dm); err == nil {
		t.Fatal("the rate-limited second message did not fail the delivery")
	}
	if err := app.Notify(ctx, dm); err != nil {
		t.Fatal(err)
	}
	var to []string
	for _, p := range w.sent("chat.postMessage")[before:] {
		to = append(to, p.Get("channel"))
	}
	if strings.Join(to, ",") != "U0FIN00001,U0LEAD0001" {
		t.Fatalf("direct messages after a retry: %v", to)
	}
}

func TestConfigIsValidated(t *testing.T) {
	for _, tc := range []struct {
		cfg  slackapp.Config
		want string
	}{
		{slackapp.Config{BotToken: "xoxp-user", SigningSecret: "s"}, "DSR_SLACK_BOT_TOKEN must be a bot token"},
		{slackapp.Config{BotToken: "xoxb-1"}, "set DSR_SLACK_SIGNING_SECRET"},
		{slackapp.Config{BotToken: "xoxb-1", AppToken: "xoxb-2"}, "DSR_SLACK_APP_TOKEN must be an app-level token"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestSocketMode: a company that cannot expose the gateway receives the
// clicks over Socket Mode, through the same handler; the envelope is acked.
func TestSocketMode(t *testing.T) {
	acks := make(chan string, 1)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	link := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1})
		conn.WriteJSON(map[string]any{"envelope_id": "env-1", "type": "interactive", "accepts_response_payload": true,
			"payload": json.RawMessage(click("U0STRANGER", "dsr_approve", "R-1", "Sales", "", "C-acme-sales", "1.1"))})
		for {
			var ack struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if err := conn.ReadJSON(&ack); err != nil {
				return
			}
			if ack.EnvelopeID != "" {
				acks <- ack.EnvelopeID
			}
		}
	}))
	defer link.Close()
	w := newWorkspace(t, func(c slacktest.Customize) {
		c.Handle("/apps.connections.open", func(rw http.ResponseWriter, r *http.Request) {
			json.NewEncoder(rw).Encode(map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(link.URL, "http") + "/link"})
		})
	})
	cfg := config(w)
	cfg.SigningSecret, cfg.AppToken = "", "xapp-1-test"
	app, err := slackapp.New(context.Background(), cfg, openStore(t), nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- app.RunSocketMode(ctx) }()
	// Socket Mode runs until the test is over; its end is awaited here, so
	// nothing logs to a test that has already finished.
	defer func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("socket mode: %v", err)
		}
	}()
	select {
	case id := <-acks:
		if id != "env-1" {
			t.Fatalf("acked %q", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the envelope was never acked")
	}
	w.waitFor(t, "chat.postEphemeral", "the stranger told over Socket Mode", containing("You are not an approver for Sales"))
}
