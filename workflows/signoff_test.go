package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// tableConnector is a connector over an in-memory table: a real
// implementation of the interface, for workflow tests that are about the
// workflow, not about a database. failing makes Discover fail until cleared.
type tableConnector struct {
	mu       sync.Mutex
	rows     int64
	failing  error
	calls    int
	stuck    bool
	erasures int
	exports  int
	consent  map[string]bool
}

func (c *tableConnector) Discover(context.Context, []domain.Identity) (connectors.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.failing != nil {
		return connectors.Result{}, c.failing
	}
	return connectors.Result{Records: []connectors.Record{{Location: "main", Action: "found", Count: c.rows}}}, nil
}

func (c *tableConnector) Export(ctx context.Context, ids []domain.Identity, w io.Writer) (connectors.Result, error) {
	c.mu.Lock()
	c.exports++
	c.mu.Unlock()
	res, err := c.Discover(ctx, ids)
	if err == nil {
		_, err = fmt.Fprintf(w, `{"rows":%d}`, res.Total())
	}
	return res, err
}

// Erase deletes the rows, unless stuck is set: then it reports success but
// leaves them, as a broken system might, for the verification pass to find.
func (c *tableConnector) Erase(context.Context, []domain.Identity, connectors.EraseOptions) (connectors.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.erasures++
	n := c.rows
	if !c.stuck {
		c.rows = 0
	}
	return connectors.Result{Records: []connectors.Record{{Location: "main", Action: "deleted", Count: n}}}, nil
}

func (c *tableConnector) ApplyConsent(_ context.Context, _ []domain.Identity, purpose string, granted bool) (connectors.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.consent == nil {
		c.consent = map[string]bool{}
	}
	c.consent[purpose] = granted
	return connectors.Result{Records: []connectors.Record{{Location: "main", Action: "consent-updated", Count: c.rows}}}, nil
}

func (c *tableConnector) fix() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failing, c.stuck = nil, false
}

type acme struct {
	crm, billing, analytics *tableConnector
}

// envWithSystems: crm (Sales, holds 3 rows, signs off access too),
// billing (Finance, 2 rows), analytics (Analytics, nothing on the subject).
func envWithSystems(t *testing.T, extra ...activities.System) (*testsuite.TestWorkflowEnvironment, *store.Store, *notices, *acme) {
	acts, sys := systemsActivities(t, extra...)
	e := newEnv(testKeys)
	e.RegisterActivity(acts)
	return e, acts.Store.(*store.Store), acts.Notifier.(*notices), sys
}

// systemsActivities are the activities of envWithSystems, on a new store.
func systemsActivities(t *testing.T, extra ...activities.System) (*activities.Activities, *acme) {
	_, st, keys, sent := envWithNotices(t)
	sys := &acme{crm: &tableConnector{rows: 3}, billing: &tableConnector{rows: 2}, analytics: &tableConnector{}}
	if err := st.SyncDepartments(context.Background(), []records.Department{
		{Name: "Sales", Approvers: []string{"sales.lead@acme.example"}},
		{Name: "Finance", Approvers: []string{"controller@acme.example", "cfo@acme.example"}},
		{Name: "Analytics", Approvers: []string{"analytics@acme.example"}},
	}); err != nil {
		t.Fatal(err)
	}
	return &activities.Activities{Store: st, Keys: keys, Notifier: sent, ExportDir: t.TempDir(), Systems: append([]activities.System{
		{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales", SignOffFor: []domain.RequestType{domain.Access},
			Purposes: []string{"customer relationship", "newsletter"}, LegalBasis: "contract (GDPR Art. 6(1)(b))", Recipients: []string{"MailCo Ltd (processor)"},
			SoldOrShared: true, Retention: "6 years after the last order"}, Connector: sys.crm},
		{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance"}, Connector: sys.billing},
		{SystemRef: activities.SystemRef{Name: "analytics", Department: "Analytics"}, Connector: sys.analytics},
	}, extra...)}, sys
}

func erasure(id string) workflows.RequestInput {
	in := input(id)
	in.Type = domain.Erasure
	return in
}

func approve(dep, who string) workflows.Decision {
	return workflows.Decision{Department: dep, Decision: "approve", Approver: who, Via: "cli:test"}
}

func object(dep, who, basis string) workflows.Decision {
	return workflows.Decision{Department: dep, Decision: "object", Approver: who, LegalBasis: basis, Via: "cli:test"}
}

func TestErasureNeedsEveryHoldingDepartment(t *testing.T) {
	e, st, sent, _ := envWithSystems(t)
	a := update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	o := update(e, 2*day, workflows.UpdateDecide, object("Finance", "cfo@acme.example", "tax law keeps invoices for 10 years"))
	e.ExecuteWorkflow(workflows.Request, erasure("REQ-E"))
	res := result(t, e)
	if a.rejected != nil || o.rejected != nil || a.err != nil || o.err != nil {
		t.Fatalf("decisions: %+v %+v", a, o)
	}
	if res.Status != domain.StatusCompleted || len(res.PendingDepartments) != 0 || len(res.SignOffs) != 2 {
		t.Fatalf("result: %+v", res)
	}
	var exempt []string
	for _, p := range res.Systems {
		if p.Exempt {
			exempt = append(exempt, p.System+":"+p.Basis)
		}
	}
	if strings.Join(exempt, ",") != "billing:tax law keeps invoices for 10 years" {
		t.Fatalf("exemptions: %v", exempt)
	}
	got := strings.Join(sent.kinds(), " ")
	if !strings.Contains(got, "Finance:signoff") || !strings.Contains(got, "Sales:signoff") || strings.Contains(got, "Analytics:signoff") {
		t.Fatalf("sign-off requests: %s", got)
	}
	answer := sent.last("answer")
	if !strings.Contains(answer, "billing (tax law keeps invoices for 10 years)") {
		t.Fatalf("answer does not state the exemption: %q", answer)
	}
	signoffs, _ := st.SignOffs(context.Background(), "REQ-E")
	if len(signoffs) != 2 || signoffs[0].Department != "Finance" || signoffs[0].Actor != "cfo@acme.example via cli:test" {
		t.Fatalf("stored sign-offs: %+v", signoffs)
	}
}

func TestAccessNeedsSignOffOnlyWhereTheMapSaysSo(t *testing.T) {
	e, _, sent, _ := envWithSystems(t)
	update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	e.ExecuteWorkflow(workflows.Request, input("REQ-A"))
	res := result(t, e)
	if res.Status != domain.StatusCompleted || len(res.SignOffs) != 1 || res.SignOffs[0].Department != "Sales" {
		t.Fatalf("result: %+v", res)
	}
	if got := strings.Join(sent.kinds(), " "); strings.Contains(got, "Finance:signoff") {
		t.Fatalf("Finance asked although the map does not require it for access: %s", got)
	}
}

func TestSignOffRefusals(t *testing.T) {
	tests := []struct {
		name    string
		calls   []call
		refused string
	}{
		{"not an approver", []call{{day, workflows.UpdateDecide, approve("Finance", "sales.lead@acme.example")}}, `"sales.lead@acme.example" is not an approver for Finance`},
		{"objection without basis", []call{{day, workflows.UpdateDecide, object("Finance", "cfo@acme.example", " ")}}, "must state its legal basis"},
		{"second decision", []call{
			{day, workflows.UpdateDecide, approve("Finance", "cfo@acme.example")},
			{day, workflows.UpdateDecide, object("Finance", "controller@acme.example", "tax")}}, "Finance has already decided on request REQ-S (approve by cfo@acme.example via cli:test)"},
		{"department not concerned", []call{{day, workflows.UpdateDecide, approve("Analytics", "analytics@acme.example")}}, `needs no sign-off from "Analytics"`},
		{"unknown decision", []call{{day, workflows.UpdateDecide, workflows.Decision{Department: "Finance", Decision: "maybe", Approver: "cfo@acme.example", Via: "x"}}}, `decision "maybe"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _, _ := envWithSystems(t)
			expectRefusal(t, e, erasure("REQ-S"), tt.calls, tt.refused)
		})
	}
	t.Run("before sign-off begins", func(t *testing.T) {
		e, _, _, _ := envWithSystems(t)
		expectRefusal(t, e, unverified("REQ-EARLY"), []call{{day, workflows.UpdateDecide, approve("Finance", "cfo@acme.example")}},
			"is not waiting for sign-off (it is verifying)")
	})
}

func TestSilentDepartmentIsRemindedAndEscalated(t *testing.T) {
	e, _, sent, _ := envWithSystems(t)
	update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	update(e, 30*day, workflows.UpdateDecide, approve("Finance", "controller@acme.example"))
	e.ExecuteWorkflow(workflows.Request, erasure("REQ-T"))
	res := result(t, e)
	if res.Status != domain.StatusCompleted {
		t.Fatalf("status %s", res.Status)
	}
	got := strings.Join(sent.kinds(), " ")
	// Finance owed the answer from day 1 on: reminded three times, then
	// escalated (with compliance and the lead) at the deadline, 28
	// February, and daily (1 March) until it decided on 2 March.
	if strings.Count(got, "Finance:reminder") != 3 || strings.Count(got, "Finance:escalation") != 2 || strings.Count(got, "compliance-lead:escalation") != 2 {
		t.Fatalf("alerts: %s", got)
	}
	if strings.Contains(got, "Sales:escalation") {
		t.Fatalf("Sales decided on day 1 and must not be escalated: %s", got)
	}
}

func TestFailingSystemNeedsAttentionAndResumes(t *testing.T) {
	e, _, sent, sys := envWithSystems(t)
	sys.billing.failing = errors.New("connection refused")
	var retryAt time.Duration = 3 * day
	e.RegisterDelayedCallback(sys.billing.fix, retryAt-time.Hour)
	r := update(e, retryAt, workflows.UpdateRetry, workflows.Retry{Actor: "ops:bob"})
	update(e, 4*day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	update(e, 4*day, workflows.UpdateDecide, approve("Finance", "cfo@acme.example"))
	e.ExecuteWorkflow(workflows.Request, erasure("REQ-F"))
	res := result(t, e)
	if r.rejected != nil || r.err != nil {
		t.Fatalf("retry: %+v", r)
	}
	if res.Status != domain.StatusCompleted {
		t.Fatalf("status %s", res.Status)
	}
	var path []string
	for _, c := range res.Timeline {
		path = append(path, string(c.Status))
	}
	if !strings.Contains(strings.Join(path, " "), "discovery needs_attention discovery awaiting_signoff") {
		t.Fatalf("timeline: %v", path)
	}
	// crm: discovery, the erasure's baseline and the verification pass
	// after it; analytics holds nothing, so discovery only; billing: 10
	// failed attempts, one after the retry, the baseline and the
	// verification pass.
	if sys.crm.calls != 3 || sys.analytics.calls != 1 {
		t.Fatalf("the retry asked healthy systems again: crm %d, analytics %d", sys.crm.calls, sys.analytics.calls)
	}
	if sys.billing.calls != 13 {
		t.Fatalf("billing discovery calls = %d, want 10 + 1 + 1 + 1", sys.billing.calls)
	}
	if got := strings.Join(sent.kinds(), " "); !strings.Contains(got, "Finance:needs-attention") || !strings.Contains(got, "compliance:needs-attention") {
		t.Fatalf("notices: %s", got)
	}
}

func TestPermissionDeniedIsNotRetried(t *testing.T) {
	e, _, _, sys := envWithSystems(t)
	sys.billing.failing = fmt.Errorf("user dsr on billing: %w", connectors.ErrPermissionDenied)
	e.RegisterDelayedCallback(sys.billing.fix, day)
	update(e, 2*day, workflows.UpdateRetry, workflows.Retry{Actor: "ops:bob"})
	update(e, 3*day, workflows.UpdateCancel, workflows.Closure{Actor: "test", Reason: "end of test"})
	e.ExecuteWorkflow(workflows.Request, erasure("REQ-P"))
	if !e.IsWorkflowCompleted() {
		t.Fatal("workflow did not end")
	}
	if sys.billing.calls != 2 { // once, then once after the retry
		t.Fatalf("billing attempts = %d, want 2", sys.billing.calls)
	}
}
