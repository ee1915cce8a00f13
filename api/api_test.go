//go:build !race

// These end-to-end tests run the real Temporal server. A race build of the
// server takes longer than CI's whole budget, so CI's race run (.ci/run)
// covers this package through its unit tests (public_test.go), and these
// tests run in the normal suite.

package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
)

type client struct {
	t     *testing.T
	base  string
	token string
}

func (c client) do(method, path string, body any) (int, string) {
	c.t.Helper()
	var r io.Reader
	if s, ok := body.(string); ok {
		r = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c client) expect(method, path string, body any, status int, contains string) string {
	c.t.Helper()
	got, out := c.do(method, path, body)
	if got != status || !strings.Contains(out, contains) {
		c.t.Fatalf("%s %s: %d %s\nwant %d containing %q", method, path, got, out, status, contains)
	}
	return out
}

// startAPI runs the engine on a store with the departments given, and
// returns a maker of API clients, each with a new token.
func startAPI(t *testing.T, departments []records.Department, systems ...activities.System) (*store.Store, *testengine.Engine, func(name, role, approver string, deps ...string) client) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.SyncDepartments(ctx, departments); err != nil {
		t.Fatal(err)
	}
	e := testengine.StartEngine(t, st, systems...)
	return st, e, func(name, role, approver string, deps ...string) client {
		_, secret, err := st.CreateToken(ctx, store.NewToken{Name: name, Role: role, Approver: approver, Departments: deps})
		if err != nil {
			t.Fatal(err)
		}
		return client{t: t, base: e.Gateway, token: secret}
	}
}

// TestAPIRolesAndOperations runs requests through the API on the real
// in-process engine, with a token per role: each may do its own part and
// nothing else, and every change is audited with the token's name.
func TestAPIRolesAndOperations(t *testing.T) {
	ctx := context.Background()
	st, e, token := startAPI(t, []records.Department{{Name: "Finance", Approvers: []string{"controller@acme.example"}},
		{Name: "Sales", Approvers: []string{"sales@acme.example"}}},
		activities.System{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance", Purposes: []string{"accounting"}}, Connector: &testengine.Table{Rows: 2}})
	requester := token("compliance-bot", store.RoleRequester, "")
	auditor := token("external-auditor", store.RoleAuditor, "")
	finance := token("controller", store.RoleApprover, "controller@acme.example", "Finance")
	nobody := client{t: t, base: e.Gateway}

	nobody.expect("GET", "/api/v1/openapi.json", nil, 200, `"openapi": "3.0.3"`)
	nobody.expect("GET", "/api/v1/requests", nil, 401, "an API token is required")
	client{t: t, base: e.Gateway, token: "dsr_forged"}.expect("GET", "/api/v1/requests", nil, 401, "unknown or revoked")
	brief, secret, err := st.CreateToken(ctx, store.NewToken{Name: "brief", Role: store.RoleAdmin, TTL: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(brief.ExpiresAt))
	client{t: t, base: e.Gateway, token: secret}.expect("GET", "/api/v1/requests", nil, 401, "has expired")

	start := map[string]any{"id": "API-1", "type": "erasure", "regulation": "gdpr", "identity_verified": true,
		"identities": []map[string]string{{"kind": "email", "value": "Olga@Example.com"}}}
	auditor.expect("POST", "/api/v1/requests", start, 403, "an auditor token may not POST /api/v1/requests")
	requester.expect("POST", "/api/v1/requests", `{"id": "API-X", "type": "erasure", "regulation": "gdpr", "identities": [], "oops": 1}`, 400, `unknown field \"oops\"`)
	requester.expect("POST", "/api/v1/requests", map[string]any{"type": "erasure", "regulation": "gdpr", "identities": []map[string]string{{"kind": "email", "value": "not-an-address"}}},
		400, "identities[0]: email")
	out := requester.expect("POST", "/api/v1/requests", start, 201, `"id": "API-1"`)
	if strings.Contains(strings.ToLower(out), "olga") {
		t.Fatalf("the answer names the subject: %s", out)
	}
	requester.expect("POST", "/api/v1/requests", start, 200, `"existing": true`)

	// Finance decides, for Finance only, once the request waits.
	e.WaitFor(t, "API-1", domain.StatusAwaitingSignOff)
	finance.expect("POST", "/api/v1/requests/API-1/decisions", map[string]string{"department": "Sales", "decision": "approve"}, 403, `decides for Finance, not for \"Sales\"`)
	requester.expect("POST", "/api/v1/requests/API-1/decisions", map[string]string{"department": "Finance", "decision": "approve"}, 403, "may not")
	auditor.expect("POST", "/api/v1/requests/API-1/decisions", map[string]string{"department": "Finance", "decision": "approve"}, 403, "an auditor token may not")
	finance.expect("POST", "/api/v1/requests/API-1/decisions", map[string]string{"department": "Finance", "decision": "object"}, 422, "must state its legal basis")
	finance.expect("GET", "/api/v1/requests", nil, 200, `"API-1"`)
	finance.expect("POST", "/api/v1/requests/API-1/decisions", map[string]string{"department": "Finance", "decision": "approve"}, 200, `"signoffs"`)
	e.WaitFor(t, "API-1", domain.StatusCompleted)
	requester.expect("POST", "/api/v1/requests/API-1/cancel", map[string]string{"reason": "too late"}, 422, "already completed")

	// An access request and its package: requesters may download it,
	// auditors may not.
	access := map[string]any{"id": "API-2", "type": "access", "regulation": "ccpa", "identity_verified": true,
		"identities": []map[string]string{{"kind": "customer_id", "value": "C-7"}}}
	requester.expect("POST", "/api/v1/requests", access, 201, `"API-2"`)
	e.WaitFor(t, "API-2", domain.StatusCompleted)
	auditor.expect("GET", "/api/v1/requests/API-2/package", nil, 403, "may not")
	code, pkg := requester.do("GET", "/api/v1/requests/API-2/package", nil)
	// billing was erased by API-1, so the package holds the report and
	// the manifest only.
	if zr, err := zip.NewReader(strings.NewReader(pkg), int64(len(pkg))); code != 200 || err != nil || len(zr.File) != 2 || zr.File[0].Name != "report.html" || zr.File[1].Name != "manifest.json" {
		t.Fatalf("package: %d, %v", code, err)
	}
	requester.expect("GET", "/api/v1/requests/API-1/package", nil, 404, "has no package")

	// Auditors read the evidence, the chain and the metrics.
	auditor.expect("GET", "/api/v1/requests/API-1/evidence", nil, 200, `"what": "sign-off"`)
	auditor.expect("GET", "/api/v1/requests/API-1/evidence?format=html", nil, 200, "Evidence pack — request API-1")
	auditor.expect("GET", "/api/v1/audit/verify", nil, 200, `"problems": []`)
	finance.expect("GET", "/api/v1/audit/verify", nil, 403, "may not")
	today := time.Now().UTC()
	auditor.expect("GET", "/api/v1/metrics?from="+today.AddDate(0, 0, -1).Format(time.DateOnly)+"&to="+today.AddDate(0, 0, 1).Format(time.DateOnly), nil, 200, `"received": 2`)
	auditor.expect("GET", "/api/v1/metrics?from=2026-02-01&to=2026-01-01", nil, 400, "must end after it starts")
	auditor.expect("GET", "/api/v1/requests?status=lost", nil, 400, "not a request status")
	finance.expect("GET", "/api/v1/inbox?to=Finance", nil, 200, `"kind": "signoff"`)
	finance.expect("GET", "/api/v1/inbox?to=Sales", nil, 403, "their departments")
	nobody.expect("GET", "/api/v1/nothing", nil, 404, "no such operation")

	// Every change is in the audit log with the token's name.
	log, err := st.AuditLog(ctx, "API-1")
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, a := range log {
		if strings.HasPrefix(a.Action, "api ") {
			acts = append(acts, a.Actor+" "+a.Action)
		}
	}
	joined := strings.Join(acts, "\n")
	for _, want := range []string{"api:compliance-bot api POST /api/v1/requests/{id}/cancel", "controller@acme.example api POST /api/v1/requests/{id}/decisions"} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit lacks %q:\n%s", want, joined)
		}
	}
	if signoffs, err := st.SignOffs(ctx, "API-1"); err != nil || len(signoffs) != 1 || signoffs[0].Actor != "controller@acme.example via api:controller" {
		t.Fatalf("sign-off: %+v, %v", signoffs, err)
	}
}

// TestApproverScopes: an approver reads only requests that involve their
// departments, and confirms only their departments' manual tasks.
func TestApproverScopes(t *testing.T) {
	_, e, token := startAPI(t, []records.Department{{Name: "Finance", Approvers: []string{"controller@acme.example"}},
		{Name: "Sales", Approvers: []string{"sales@acme.example"}}, {Name: "Marketing", Approvers: []string{"marketing@acme.example"}}},
		activities.System{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance"}, Connector: &testengine.Table{Rows: 2}},
		// Marketing's system is asked too, and holds nothing on the subject.
		activities.System{SystemRef: activities.SystemRef{Name: "newsletter", Department: "Marketing"}, Connector: &testengine.Table{}},
		activities.System{SystemRef: activities.SystemRef{Name: "paper", Department: "Sales",
			Manual: &activities.ManualTask{Location: "cabinet 3", Instructions: map[string]string{"access": "scan", "erasure": "shred"}}}})
	requester := token("compliance-bot", store.RoleRequester, "")
	finance := token("controller", store.RoleApprover, "controller@acme.example", "Finance")
	sales := token("sales", store.RoleApprover, "sales@acme.example", "Sales")
	marketing := token("marketing", store.RoleApprover, "marketing@acme.example", "Marketing")

	requester.expect("POST", "/api/v1/requests", map[string]any{"id": "SCOPE-1", "type": "erasure", "regulation": "gdpr", "identity_verified": true,
		"identities": []map[string]string{{"kind": "email", "value": "uma@example.com"}}}, 201, `"SCOPE-1"`)
	e.WaitFor(t, "SCOPE-1", domain.StatusAwaitingSignOff)
	finance.expect("GET", "/api/v1/requests/SCOPE-1", nil, 200, `"billing"`)
	marketing.expect("GET", "/api/v1/requests/SCOPE-1", nil, 403, "request SCOPE-1 does not involve Marketing")
	finance.expect("POST", "/api/v1/requests/SCOPE-1/decisions", map[string]string{"department": "Finance", "decision": "approve"}, 200, `"signoffs"`)

	// Sales' paper archive gets its task; Finance may not confirm it.
	e.Await(t, "SCOPE-1", "the open task in paper", func(v requests.View) bool {
		return len(v.Tasks) == 1 && v.Tasks[0].System == "paper" && v.WaitingFor != ""
	})
	task := map[string]any{"outcome": "done", "records": 1, "note": "1 contract shredded"}
	finance.expect("POST", "/api/v1/requests/SCOPE-1/tasks/paper", task, 403, "controller@acme.example confirms tasks for Finance, not for Sales")
	marketing.expect("POST", "/api/v1/requests/SCOPE-1/tasks/paper", task, 403, "confirms tasks for Marketing, not for Sales")
	sales.expect("POST", "/api/v1/requests/SCOPE-1/tasks/billing", task, 404, `no manual task in \"billing\"`)
	sales.expect("POST", "/api/v1/requests/SCOPE-1/tasks/paper", task, 200, `"paper"`)
	e.WaitFor(t, "SCOPE-1", domain.StatusCompleted)
	sales.expect("GET", "/api/v1/requests/SCOPE-1", nil, 200, `"completed"`)
	marketing.expect("GET", "/api/v1/requests/SCOPE-1", nil, 403, "does not involve Marketing")
}

// TestPublicFormRevealsNothing: the anonymous form answers with the new
// request's own id and deadline even when its subject has an open request,
// and attaches no identity to an existing subject until the sender is
// verified; then the request joins its subject and is closed as the
// duplicate it is.
func TestPublicFormRevealsNothing(t *testing.T) {
	ctx := context.Background()
	st, e, token := startAPI(t, []records.Department{{Name: "Finance", Approvers: []string{"controller@acme.example"}}},
		activities.System{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance", SignOffFor: []domain.RequestType{domain.Access}},
			Connector: &testengine.Table{Rows: 1}})
	requester := token("compliance-bot", store.RoleRequester, "")
	requester.expect("POST", "/api/v1/requests", map[string]any{"id": "OPEN-1", "type": "access", "regulation": "gdpr", "identity_verified": true,
		"identities": []map[string]string{{"kind": "email", "value": "uma@example.com"}}}, 201, `"OPEN-1"`)
	e.WaitFor(t, "OPEN-1", domain.StatusAwaitingSignOff)
	keys := e.Keys
	uma, _ := domain.NewIdentity(domain.Email, "uma@example.com")
	phone, _ := domain.NewIdentity(domain.Phone, "+44 20 7946 0123")
	subject, err := st.FindSubject(ctx, keys, []domain.Identity{uma})
	if err != nil {
		t.Fatal(err)
	}

	anon := client{t: t, base: e.Gateway}
	body := anon.expect("POST", "/api/v1/public/requests", map[string]any{"type": "access", "regulation": "gdpr", "email": "uma@example.com",
		"phone": "+44 20 7946 0123", "declaration": true}, 201, `"id"`)
	var receipt struct {
		ID    string    `json:"id"`
		DueAt time.Time `json:"due_at"`
	}
	json.Unmarshal([]byte(body), &receipt)
	if receipt.ID == "" || receipt.ID == "OPEN-1" || strings.Contains(body, "OPEN-1") {
		t.Fatalf("the form's answer: %s", body)
	}
	v := e.WaitFor(t, receipt.ID, domain.StatusVerifying)
	if !v.DueAt.Equal(receipt.DueAt) {
		t.Fatalf("the form answered due %s; the request is due %s", receipt.DueAt, v.DueAt)
	}
	if v.Status.Terminal() {
		t.Fatalf("the unverified request was closed: %+v", v.RequestState)
	}
	// Nothing attached before verification: the phone belongs to no one,
	// and the request is under a subject of its own.
	if _, err := st.FindSubject(ctx, keys, []domain.Identity{phone}); err == nil {
		t.Fatal("an unverified form attached a phone number to a subject")
	}
	pending, _ := st.GetRequest(ctx, receipt.ID)
	if pending.SubjectID == subject {
		t.Fatal("an unverified request joined the existing subject")
	}
	if ids, _ := st.SubjectIdentities(ctx, keys, subject); len(ids) != 1 {
		t.Fatalf("the existing subject's identities changed: %v", ids)
	}

	// Verified, it joins the subject, with the phone, and duplicates OPEN-1.
	requester.expect("POST", "/api/v1/requests/"+receipt.ID+"/verify", map[string]string{"method": "matched account login"}, 200, "")
	closed := e.WaitFor(t, receipt.ID, domain.StatusCancelled)
	if !strings.Contains(fmt.Sprint(closed.Timeline), "duplicate of open request OPEN-1") {
		t.Fatalf("after verification: %+v", closed.Timeline)
	}
	if got, err := st.FindSubject(ctx, keys, []domain.Identity{phone}); err != nil || got != subject {
		t.Fatalf("the verified phone: subject %q, %v", got, err)
	}
	// DSR_RECORD_PUBLIC_HISTORY=$PWD/workflows/testdata/request-v6-verified-merge.json
	// records this history for the replay test.
	if path := os.Getenv("DSR_RECORD_PUBLIC_HISTORY"); path != "" {
		testengine.RecordHistory(t, e.RawClient, domain.WorkflowID(receipt.ID), path)
	}
}
