//go:build !race

// This end-to-end test runs the real Temporal server. A race build of the
// server takes longer than CI's whole budget, so CI's race run (.ci/run)
// covers this package through its unit tests, and this test runs in the
// normal suite.

package slackapp_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/slackapp"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// slackEngine is a Slack workspace, a store with Sales and Finance as
// the workspace knows them, and the Slack app an engine builds on them.
func slackEngine(t *testing.T) (*workspace, *store.Store, func(client.Client) *slackapp.App) {
	t.Helper()
	w := newWorkspace(t)
	st := openStore(t)
	if err := st.SyncDepartments(context.Background(), []records.Department{
		{Name: "Sales", Approvers: []string{"U0SALES001"}},
		{Name: "Finance", Approvers: []string{"controller@acme.example", "ghost@acme.example"}},
	}); err != nil {
		t.Fatal(err)
	}
	return w, st, func(c client.Client) *slackapp.App {
		app, err := slackapp.New(context.Background(), config(w), st, c, quiet)
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
}

// TestSignedClicksTakeAnErasureThroughSignOff runs an erasure on the real
// in-process Temporal server through two departments' sign-off, taken by
// signed button clicks, and a manual task confirmed in a modal; every
// refusal on the way changes nothing.
func TestSignedClicksTakeAnErasureThroughSignOff(t *testing.T) {
	w, st, slack := slackEngine(t)
	ctx := context.Background()
	paper := activities.System{SystemRef: activities.SystemRef{Name: "paper", Department: "Finance",
		Manual: &activities.ManualTask{Location: "cabinet B", Instructions: map[string]string{"access": "scan", "erasure": "shred the contracts"}}}}
	e := testengine.StartEngineWith(t, st, testengine.Options{
		Systems: []activities.System{
			{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: &testengine.Table{Rows: 4}},
			{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance"}, Connector: &testengine.Table{Rows: 2}},
			paper,
		},
		Slack: slack,
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
	// The same signature in upper-case hex is still the same payload.
	upper := h.Clone()
	upper.Set("X-Slack-Signature", "v0="+strings.ToUpper(strings.TrimPrefix(h.Get("X-Slack-Signature"), "v0=")))
	if resp := send(t, endpoint, body, upper); resp.StatusCode != 409 {
		t.Fatalf("replay in upper-case hex: %d", resp.StatusCode)
	}
	// A view submission without its state is refused, not a crash.
	if resp, _, _ := signed(t, endpoint, secret, now, `{"type":"view_submission","user":{"id":"U0FIN00001"},"view":{"callback_id":"dsr_object","private_metadata":"{\"r\":\"SLACK-1\",\"d\":\"Finance\"}"}}`); resp.StatusCode != 200 {
		t.Fatalf("a state-less submission: %d", resp.StatusCode)
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
		map[string]map[string]any{"basis": {"basis": text("tax law keeps invoices for 10 years <!channel> <https://evil.example|see>")}}))
	if resp.StatusCode != 200 {
		t.Fatalf("objection: %d", resp.StatusCode)
	}
	// The typed basis is shown as text: no mention, no link.
	objected := w.waitFor(t, "chat.update", "Finance's message updated", containing("Objected by controller@acme.example via slack:U0FIN00001"))
	if blocks := objected[len(objected)-1].Get("blocks"); strings.Contains(blocks, "<!channel>") || strings.Contains(blocks, "<https://evil") || !strings.Contains(blocks, "lt;!channel") {
		t.Fatalf("the basis was posted as markup: %s", blocks)
	}

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

// TestSignOffSurvivesSlackOutages: Slack answers the sign-off request with
// a 500, then with a 429; the notice is sent again (after the Retry-After
// Slack asked for), arrives once, and the department's click completes
// the erasure.
func TestSignOffSurvivesSlackOutages(t *testing.T) {
	w := newWorkspace(t)
	st := openStore(t)
	ctx := context.Background()
	if err := st.SyncDepartments(ctx, []records.Department{{Name: "Sales", Approvers: []string{"U0SALES001"}}}); err != nil {
		t.Fatal(err)
	}
	e := testengine.StartEngineWith(t, st, testengine.Options{
		Systems: []activities.System{{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: &testengine.Table{Rows: 4}}},
		Slack: func(c client.Client) *slackapp.App {
			app, err := slackapp.New(ctx, config(w), st, c, quiet)
			if err != nil {
				t.Fatal(err)
			}
			return app
		},
	})
	// The outage begins once the app is up: the next call Slack gets is
	// the sign-off request.
	w.mu.Lock()
	w.failing, w.limited, w.retryAfter = 1, 1, "1"
	w.mu.Unlock()
	email, _ := domain.NewIdentity(domain.Email, "olga@example.com")
	received := time.Now().Add(-24 * time.Hour)
	in := workflows.RequestInput{RequestID: "SLACK-OUT", Type: domain.Erasure, Regulation: domain.GDPR, Identities: []domain.Identity{email},
		ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), RequestedBy: "cli:test", IdentityVerified: true}
	if _, err := requests.Start(ctx, e.Client, in); err != nil {
		t.Fatal(err)
	}
	// The activity's retries: after the 500 its policy's first interval
	// (5 s), after the 429 the Retry-After (1 s).
	posts := w.waitFor(t, "chat.postMessage", "the sign-off request, after the outage", func(c []url.Values) bool { return len(c) >= 1 })
	if len(posts) != 1 || posts[0].Get("channel") != "acme-sales" {
		t.Fatalf("posts: %v", posts)
	}
	w.mu.Lock()
	failing, limited := w.failing, w.limited
	w.mu.Unlock()
	if failing != 0 || limited != 0 {
		t.Fatalf("the outage was not met: %d 500s and %d 429s left", failing, limited)
	}
	if resp, _, _ := signed(t, e.Gateway+"/slack/interactions", secret, time.Now(), click("U0SALES001", "dsr_approve", "SLACK-OUT", "Sales", "", "C-acme-sales", posts[0].Get("ts"))); resp.StatusCode != 200 {
		t.Fatalf("click: %d", resp.StatusCode)
	}
	if res := e.Closed(t, "SLACK-OUT"); res.Status != domain.StatusCompleted || len(res.SignOffs) != 1 {
		t.Fatalf("ended %s with sign-offs %+v", res.Status, res.SignOffs)
	}
	if n := len(w.sent("chat.postMessage")); n < 1 {
		t.Fatalf("posts after the decision: %d", n)
	}
}
