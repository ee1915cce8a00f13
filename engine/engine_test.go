package engine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

func openPostgres(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), testenv.PostgresSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// input is a GDPR access request received yesterday, pre-verified.
func input(id, email string) workflows.RequestInput {
	received := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second)
	ident, _ := domain.NewIdentity(domain.Email, email)
	return workflows.RequestInput{RequestID: id, Type: domain.Access, Regulation: domain.GDPR,
		Identities: []domain.Identity{ident}, ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), RequestedBy: "cli:alice",
		IdentityVerified: true}
}

// TestRequestEndToEnd runs a request on the real Temporal server and the
// real PostgreSQL, as dev mode and production do.
func TestRequestEndToEnd(t *testing.T) {
	st := openPostgres(t)
	e := testengine.StartEngine(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	in := input("REQ-E2E-1", "jane.doe@example.com")
	in.IdentityVerified = false
	started, err := requests.Start(ctx, e.Client, in)
	if err != nil {
		t.Fatal(err)
	}
	if started.Existing || started.ID != "REQ-E2E-1" || started.WorkflowID != "dsr-REQ-E2E-1" {
		t.Fatalf("started = %+v", started)
	}
	// Compliance extends the deadline, is refused a second one beyond the
	// law, then verifies the subject; the request completes.
	due, err := requests.Extend(testengine.Compliance(ctx, "cli:alice"), e.Client, "REQ-E2E-1", workflows.ExtensionRequest{Actor: "cli:alice", By: domain.Period{Months: 1}, Reason: "complex request"})
	wantDue, _ := domain.ExtendedDueAt(domain.GDPR, in.ReceivedAt, nil, domain.Period{Months: 1})
	if err != nil || !due.Equal(wantDue) {
		t.Fatalf("extend = %s, %v; want %s", due, err, wantDue)
	}
	if _, err := requests.Extend(testengine.Compliance(ctx, "cli:alice"), e.Client, "REQ-E2E-1", workflows.ExtensionRequest{Actor: "cli:alice", By: domain.Period{Months: 2}, Reason: "more"}); !errors.Is(err, requests.ErrRefused) || !strings.Contains(err.Error(), "at most 2 months") {
		t.Fatalf("second extension err = %v", err)
	}
	e.Await(t, "REQ-E2E-1", "waiting for identity verification", func(v requests.View) bool {
		return v.Status == domain.StatusVerifying && v.WaitingFor == "identity verification"
	})
	if err := requests.VerifyIdentity(testengine.Compliance(ctx, "cli:alice"), e.Client, "REQ-E2E-1", workflows.Verification{Actor: "cli:alice", Method: "matched account login"}); err != nil {
		t.Fatal(err)
	}
	var res workflows.RequestState
	if err := e.Client.GetWorkflow(ctx, started.WorkflowID, "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != domain.StatusCompleted {
		t.Fatalf("result status = %s", res.Status)
	}

	v, err := requests.Show(ctx, e.Client, "REQ-E2E-1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != domain.StatusCompleted || v.Type != domain.Access || v.Regulation != domain.GDPR ||
		!v.DueAt.Equal(wantDue) || !v.OriginalDueAt.Equal(in.DueAt) || len(v.Extensions) != 1 || !v.IdentityVerified || v.Problem != "" {
		t.Fatalf("show = %+v", v)
	}
	if err := requests.Cancel(testengine.Compliance(ctx, "cli:alice"), e.Client, "REQ-E2E-1", workflows.Closure{Actor: "cli:alice", Reason: "late"}); !errors.Is(err, requests.ErrEnded) || !strings.Contains(err.Error(), "request REQ-E2E-1 is already completed") {
		t.Fatalf("cancel after completion err = %v", err)
	}

	// The same request id again starts nothing new.
	again, err := requests.Start(ctx, e.Client, in)
	if err != nil || !again.Existing || again.RunID != started.RunID {
		t.Fatalf("second start = %+v, %v", again, err)
	}
	other := in
	other.Type = domain.Erasure
	if _, err := requests.Start(ctx, e.Client, other); !errors.Is(err, requests.ErrIDTaken) {
		t.Fatalf("same id, other type: err = %v", err)
	}
	if _, err := requests.Show(ctx, e.Client, "REQ-NONE"); !errors.Is(err, requests.ErrNotFound) {
		t.Fatalf("unknown id: err = %v", err)
	}

	// Auditors filter by the typed search attributes; exactly one workflow.
	query := fmt.Sprintf("DsrStatus = 'completed' AND DsrRequestType = 'access' AND DsrRegulation = 'gdpr' AND DsrDueAt > '%s'", in.DueAt.UTC().Format(time.RFC3339))
	// Visibility is eventually consistent: the list may lag the request.
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		for _, ex := range resp.GetExecutions() {
			found = append(found, ex.GetExecution().GetWorkflowId())
		}
		return len(found) == 1 && found[0] == "dsr-REQ-E2E-1", fmt.Sprintf("visibility query found %v", found)
	})

	// What the server stores holds no personal data in plain text.
	history := rawHistory(t, e.RawClient, started.WorkflowID)
	for _, leak := range []string{"jane", "example.com", "jane.doe@example.com"} {
		if strings.Contains(history, leak) {
			t.Fatalf("history stored by Temporal contains %q in plain text", leak)
		}
	}
	if !strings.Contains(history, "binary/encrypted") {
		t.Fatal("history payloads are not encrypted")
	}

	r, err := st.GetRequest(ctx, "REQ-E2E-1")
	if err != nil || r.Status != domain.StatusCompleted || r.WorkflowID != started.WorkflowID {
		t.Fatalf("store = %+v, %v", r, err)
	}
	if problems, err := st.VerifyAudit(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("audit chain: %v, %v", problems, err)
	}

	resp, err := http.Get(e.Gateway + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var health struct {
		OK     bool              `json:"ok"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil || resp.StatusCode != 200 || !health.OK || health.Checks["temporal"] != "ok" || health.Checks["store"] != "ok" {
		t.Fatalf("health = %d %+v %v", resp.StatusCode, health, err)
	}
	// The details are for staff: an auditor's token reads them, nobody else.
	_, auditor, err := st.CreateToken(ctx, store.NewToken{Name: "auditor", Role: store.RoleAuditor})
	if err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]int{"": http.StatusUnauthorized, auditor: http.StatusOK} {
		req, _ := http.NewRequest("GET", e.Gateway+"/healthz/details", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("details with token %t: %d, want %d", token != "", resp.StatusCode, want)
		}
	}

	// Once closed, its history is copied into the store, as Temporal has it.
	var archived store.History
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		archived, err = st.LatestHistory(ctx, "REQ-E2E-1")
		return err == nil, fmt.Sprintf("history never archived: %v", err)
	})
	live, _ := protojson.Marshal(testengine.History(t, e.RawClient, started.WorkflowID))
	// Sealed under the subject's key: not readable from the row itself.
	if !archived.Sealed || bytes.Contains(archived.JSON, []byte(`"eventId"`)) {
		t.Fatal("the archived history is kept in the clear")
	}
	opened, err := st.OpenHistory(ctx, e.Keys, archived)
	if err != nil || string(opened) != string(live) || archived.RunID == "" || len(archived.SHA256) != 64 {
		t.Fatalf("archived history differs from Temporal's (%d vs %d bytes): %v", len(opened), len(live), err)
	}

	if path := os.Getenv("DSR_RECORD_HISTORY"); path != "" {
		testengine.RecordHistory(t, e.RawClient, started.WorkflowID, path)
	}
}

func rawHistory(t *testing.T, c client.Client, workflowID string) string {
	t.Helper()
	j, err := protojson.Marshal(testengine.History(t, c, workflowID))
	if err != nil {
		t.Fatal(err)
	}
	// Payload data is base64 in JSON; decode it too, so a leak in bytes is found.
	var b strings.Builder
	b.Write(j)
	for _, m := range base64Field.FindAllStringSubmatch(string(j), -1) {
		if raw, err := base64.StdEncoding.DecodeString(m[1]); err == nil {
			b.Write(raw)
		}
	}
	return b.String()
}

var base64Field = regexp.MustCompile(`":"([A-Za-z0-9+/]{8,}={0,2})"`)

// TestDuplicateReturnsTheOpenRequest: a second access request by the same
// person while the first is open returns the first; another kind does not.
func TestDuplicateReturnsTheOpenRequest(t *testing.T) {
	st := openPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.SyncDepartments(ctx, []records.Department{{Name: "Sales", Approvers: []string{"sales.lead@acme.example"}}}); err != nil {
		t.Fatal(err)
	}
	e := testengine.StartEngine(t, st, activities.System{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales",
		SignOffFor: []domain.RequestType{domain.Access}}, Connector: &testengine.Table{Rows: 1}})

	// Verified, it stays open waiting for Sales. (An unverified request is
	// no one's until verified, and so no request's duplicate or original.)
	first := input("DUP-1", "sam@example.com")
	if _, err := requests.Start(ctx, e.Client, first); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(t, "DUP-1", domain.StatusAwaitingSignOff)
	// The same person, also giving a phone number this time.
	second := input("DUP-2", "sam@example.com")
	phone, _ := domain.NewIdentity(domain.Phone, "+44 20 7946 0000")
	second.Identities = append(second.Identities, phone)
	// Start answers once the request is started; show tells, once the
	// workflow has checked, that DUP-1 answers it.
	res, err := requests.Start(ctx, e.Client, second)
	if err != nil || res.ID != "DUP-2" || res.Existing {
		t.Fatalf("second start = %+v, %v", res, err)
	}
	v := e.WaitFor(t, "DUP-2", domain.StatusCancelled)
	if last := v.Timeline[len(v.Timeline)-1]; !strings.Contains(last.Note, "duplicate of open request DUP-1") {
		t.Fatalf("DUP-2 closed with %+v", last)
	}
	// Erasure is another kind: it goes ahead.
	erase := input("DUP-3", "sam@example.com")
	erase.Type = domain.Erasure
	if res, err = requests.Start(ctx, e.Client, erase); err != nil || res.ID != "DUP-3" {
		t.Fatalf("erasure start = %+v, %v", res, err)
	}
	e.WaitFor(t, "DUP-3", domain.StatusAwaitingSignOff)
	// Starting DUP-2 again is still idempotent: it is the closed duplicate.
	again, err := requests.Start(ctx, e.Client, second)
	if err != nil || !again.Existing || again.Status != domain.StatusCancelled {
		t.Fatalf("DUP-2 again = %+v, %v", again, err)
	}
}

// TestErasureSignOffEndToEnd takes an erasure through two departments'
// sign-off on the real Temporal server and PostgreSQL.
func TestErasureSignOffEndToEnd(t *testing.T) {
	st := openPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.SyncDepartments(ctx, []records.Department{
		{Name: "Sales", Approvers: []string{"sales.lead@acme.example"}},
		{Name: "Finance", Approvers: []string{"controller@acme.example"}},
	}); err != nil {
		t.Fatal(err)
	}
	e := testengine.StartEngine(t, st,
		activities.System{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: &testengine.Table{Rows: 4}},
		activities.System{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance"}, Connector: &testengine.Table{Rows: 2}},
		activities.System{SystemRef: activities.SystemRef{Name: "web-analytics", Department: "Analytics"}, Connector: &testengine.Table{Rows: 0}})

	in := input("ERASE-1", "erin@example.com")
	in.Type = domain.Erasure
	if _, err := requests.Start(ctx, e.Client, in); err != nil {
		t.Fatal(err)
	}
	// While waiting, auditors find it by the departments that still owe.
	waitListed(t, e, "DsrStatus = 'awaiting_signoff' AND DsrPendingDepartments = 'Finance'", "dsr-ERASE-1")

	refusals := []struct {
		d    workflows.Decision
		want string
	}{
		{workflows.Decision{Department: "Finance", Decision: "approve", Approver: "sales.lead@acme.example", Via: "cli:t"}, "is not an approver for Finance"},
		{workflows.Decision{Department: "Finance", Decision: "object", Approver: "controller@acme.example", Via: "cli:t"}, "must state its legal basis"},
		{workflows.Decision{Department: "Analytics", Decision: "approve", Approver: "x@acme.example", Via: "cli:t"}, "needs no sign-off"},
	}
	for _, r := range refusals {
		if err := requests.Decide(testengine.Approver(ctx, r.d.Approver, r.d.Via), e.Client, "ERASE-1", r.d); !errors.Is(err, requests.ErrRefused) || !strings.Contains(err.Error(), r.want) {
			t.Fatalf("decide %+v: err = %v, want %q", r.d, err, r.want)
		}
	}
	if err := requests.Decide(testengine.Approver(ctx, "sales.lead@acme.example", "cli:sam"), e.Client, "ERASE-1", workflows.Decision{Department: "Sales", Decision: "approve", Approver: "sales.lead@acme.example", Via: "cli:sam"}); err != nil {
		t.Fatal(err)
	}
	if err := requests.Decide(testengine.Approver(ctx, "sales.lead@acme.example", "cli:sam"), e.Client, "ERASE-1", workflows.Decision{Department: "Sales", Decision: "approve", Approver: "sales.lead@acme.example", Via: "cli:sam"}); !errors.Is(err, requests.ErrRefused) || !strings.Contains(err.Error(), "already decided") {
		t.Fatalf("second decision err = %v", err)
	}
	if err := requests.Decide(testengine.Approver(ctx, "controller@acme.example", "cli:cora"), e.Client, "ERASE-1", workflows.Decision{Department: "Finance", Decision: "object", LegalBasis: "tax law keeps invoices for 10 years", Approver: "controller@acme.example", Via: "cli:cora"}); err != nil {
		t.Fatal(err)
	}
	var res workflows.RequestState
	if err := e.Client.GetWorkflow(ctx, "dsr-ERASE-1", "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != domain.StatusCompleted || len(res.SignOffs) != 2 || len(res.PendingDepartments) != 0 {
		t.Fatalf("result: %+v", res)
	}
	stored, err := st.SignOffs(ctx, "ERASE-1")
	if err != nil || len(stored) != 2 || stored[0].Decision != "object" || stored[0].Actor != "controller@acme.example via cli:cora" {
		t.Fatalf("stored sign-offs: %+v, %v", stored, err)
	}
	if problems, err := st.VerifyAudit(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("audit: %v, %v", problems, err)
	}
	if path := os.Getenv("DSR_RECORD_SIGNOFF_HISTORY"); path != "" {
		testengine.RecordHistory(t, e.RawClient, "dsr-ERASE-1", path)
	}
}

// waitListed polls a visibility query until it lists the workflow.
func waitListed(t *testing.T, e *testengine.Engine, query, workflowID string) {
	t.Helper()
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		resp, err := e.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range resp.GetExecutions() {
			if ex.GetExecution().GetWorkflowId() == workflowID {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s never listed by %q", workflowID, query)
	})
}

// leaky fails discovery with an error that quotes the subject, as a
// database driver's error can.
type leaky struct{ testengine.Table }

func (*leaky) Discover(_ context.Context, ids []domain.Identity) (connectors.Result, error) {
	return connectors.Result{}, fmt.Errorf("%w: no customer %s", connectors.ErrBadConfig, ids[0].Value)
}

// TestFailuresAreEncrypted: the error reaches the request's state, where
// compliance reads it, but not the history in plain text.
func TestFailuresAreEncrypted(t *testing.T) {
	st := openPostgres(t)
	e := testengine.StartEngine(t, st, activities.System{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: &leaky{}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := requests.Start(ctx, e.Client, input("LEAK-1", "leaky.person@example.com")); err != nil {
		t.Fatal(err)
	}
	// The decoded state shows the error to compliance.
	e.Await(t, "LEAK-1", "needs attention with the driver's error", func(v requests.View) bool {
		return v.Status == domain.StatusNeedsAttention && slices.ContainsFunc(v.Timeline, func(c workflows.StatusChange) bool {
			return strings.Contains(c.Note, "no customer leaky.person@example.com")
		})
	})
	if raw := rawHistory(t, e.RawClient, "dsr-LEAK-1"); strings.Contains(raw, "leaky.person") || !strings.Contains(raw, "Encoded failure") {
		t.Fatal("the history holds the failure in plain text")
	}
	if err := requests.Cancel(testengine.Compliance(ctx, "test"), e.Client, "LEAK-1", workflows.Closure{Actor: "test", Reason: "end of test"}); err != nil {
		t.Fatal(err)
	}
}

// TestBurstOfStarts: 200 starts at once all succeed, each saying it
// started; sent again (a client whose answers were lost), each says the
// request exists and starts nothing. Start waits for Temporal only, not
// for the work behind it, which the workers take up at their pace.
func TestBurstOfStarts(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := testengine.StartEngine(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 200
	starts := func() []requests.Started {
		out := make([]requests.Started, n)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := requests.Start(ctx, e.Client, input(fmt.Sprintf("BURST-%03d", i), fmt.Sprintf("p%d@example.com", i)))
				if err != nil {
					errs <- fmt.Errorf("start %d: %w", i, err)
				}
				out[i] = res
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		return out
	}
	for i, res := range starts() {
		if res.Existing || res.ID != fmt.Sprintf("BURST-%03d", i) || res.RunID == "" {
			t.Fatalf("start %d: %+v", i, res)
		}
	}
	for i, res := range starts() {
		if !res.Existing || res.Type != domain.Access {
			t.Fatalf("start %d again: %+v", i, res)
		}
	}
	// Every one of them is a request (listed once visibility has them).
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		list, err := requests.List(ctx, e.Client, requests.Filter{Limit: 1000})
		burst := 0
		for _, s := range list {
			if strings.HasPrefix(s.ID, "BURST-") {
				burst++
			}
		}
		return err == nil && burst == n, fmt.Sprintf("%d of the %d requests are listed (%v)", burst, n, err)
	})
}
