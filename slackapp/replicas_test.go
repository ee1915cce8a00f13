//go:build !race

package slackapp_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// TestTwoGatewayReplicas runs two replicas of the engine (worker and
// gateway each) on one Temporal server and one store, as behind a load
// balancer: a Slack click and an API call work on either replica, and a
// click replayed to the other replica is refused there.
func TestTwoGatewayReplicas(t *testing.T) {
	w, st, slack := slackEngine(t)
	ctx := context.Background()
	systems := []activities.System{
		{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: &testengine.Table{Rows: 4}},
		{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance"}, Connector: &testengine.Table{Rows: 2}},
	}
	e := testengine.StartEngineWith(t, st, testengine.Options{Systems: systems, Slack: slack})
	replicas := []string{e.Gateway, e.Replica(t, testengine.Options{Slack: slack})}

	email, _ := domain.NewIdentity(domain.Email, "rita@example.com")
	received := time.Now().Add(-24 * time.Hour)
	in := workflows.RequestInput{RequestID: "REPL-1", Type: domain.Erasure, Regulation: domain.GDPR, Identities: []domain.Identity{email},
		ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), RequestedBy: "cli:test", IdentityVerified: true}
	if _, err := requests.Start(ctx, e.Client, in); err != nil {
		t.Fatal(err)
	}
	posts := w.waitFor(t, "chat.postMessage", "two sign-off requests", func(c []url.Values) bool { return len(c) >= 2 })
	ts := map[string]string{}
	for _, p := range posts {
		ts[p.Get("channel")] = p.Get("ts")
	}

	// An API token works on either replica.
	_, secretToken, err := st.CreateToken(ctx, store.NewToken{Name: "auditor", Role: store.RoleAuditor})
	if err != nil {
		t.Fatal(err)
	}
	for _, gw := range replicas {
		req, _ := http.NewRequest("GET", gw+"/api/v1/requests/REPL-1", nil)
		req.Header.Set("Authorization", "Bearer "+secretToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"REPL-1"`) {
			t.Fatalf("GET on %s: %d %s", gw, resp.StatusCode, b)
		}
	}

	// Sales approves on the second replica; the same click replayed to the
	// first is refused, and Finance's click on the first is recorded.
	now := time.Now()
	resp, body, h := signed(t, replicas[1]+"/slack/interactions", secret, now, click("U0SALES001", "dsr_approve", "REPL-1", "Sales", "", "C-acme-sales", ts["acme-sales"]))
	if resp.StatusCode != 200 {
		t.Fatalf("approve on the second replica: %d %s", resp.StatusCode, readBody(resp))
	}
	w.waitFor(t, "chat.update", "Sales's message updated", containing("Approved by U0SALES001"))
	if resp := send(t, replicas[0]+"/slack/interactions", body, h); resp.StatusCode != 409 {
		t.Fatalf("the click replayed to the first replica: %d %s", resp.StatusCode, readBody(resp))
	}
	if resp, _, _ := signed(t, replicas[0]+"/slack/interactions", secret, now, click("U0FIN00001", "dsr_approve", "REPL-1", "Finance", "", "D0FIN00001", ts["U0FIN00001"])); resp.StatusCode != 200 {
		t.Fatalf("approve on the first replica: %d", resp.StatusCode)
	}
	res := e.Closed(t, "REPL-1")
	if res.Status != domain.StatusCompleted || len(res.SignOffs) != 2 {
		t.Fatalf("REPL-1: %s, sign-offs %+v", res.Status, res.SignOffs)
	}
}
