package slackapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack/slacktest"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/slackapp"
	"github.com/dsrengine/dsr/store"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t testing.TB) *store.Store {
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
