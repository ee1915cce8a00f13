package requests

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/workflows"
)

// Filter selects requests; zero fields select all.
type Filter struct {
	Status domain.Status
	Type   domain.RequestType
	// Overdue selects open requests past their deadline.
	Overdue bool
	// DueWithin selects open requests due within that many days from now.
	DueWithin int
	// Department selects requests waiting for the department's sign-off.
	Department string
	// Limit caps the answer (default 100, at most 1000).
	Limit int
}

// Summary is one request in a list.
type Summary struct {
	ID                 string             `json:"id"`
	Type               domain.RequestType `json:"type"`
	Regulation         domain.Regulation  `json:"regulation"`
	Status             domain.Status      `json:"status"`
	ReceivedAt         time.Time          `json:"received_at"`
	DueAt              time.Time          `json:"due_at"`
	DaysLeft           int                `json:"days_left"`
	PendingDepartments []string           `json:"pending_departments,omitempty"`
}

var openStatuses = []domain.Status{domain.StatusReceived, domain.StatusVerifying, domain.StatusDiscovery, domain.StatusAwaitingSignOff,
	domain.StatusFulfilling, domain.StatusAnswering, domain.StatusNeedsAttention}

// Query is the filter as a Temporal visibility query, which also works
// in the Web UI and with `temporal workflow list --query`. Every value is
// checked first, so none can change the query.
func (f Filter) Query(now time.Time) (string, error) {
	// A request that waited long has earlier runs, closed as continued
	// as new: it is listed once, by its latest run.
	clauses := []string{"WorkflowType = 'Request'", "ExecutionStatus != 'ContinuedAsNew'"}
	if f.Status != "" {
		if !domain.ValidStatus(f.Status) {
			return "", fmt.Errorf("status %q: not a request status", f.Status)
		}
		clauses = append(clauses, fmt.Sprintf("%s = '%s'", workflows.AttrStatus.GetName(), f.Status))
	}
	if f.Type != "" {
		t, err := domain.ParseRequestType(string(f.Type))
		if err != nil {
			return "", err
		}
		clauses = append(clauses, fmt.Sprintf("%s = '%s'", workflows.AttrType.GetName(), t))
	}
	if f.Overdue || f.DueWithin > 0 {
		quoted := make([]string, len(openStatuses))
		for i, s := range openStatuses {
			quoted[i] = "'" + string(s) + "'"
		}
		clauses = append(clauses, fmt.Sprintf("%s IN (%s)", workflows.AttrStatus.GetName(), strings.Join(quoted, ", ")))
	}
	due := workflows.AttrDueAt.GetName()
	if f.Overdue {
		clauses = append(clauses, fmt.Sprintf("%s < '%s'", due, now.UTC().Format(time.RFC3339)))
	}
	if f.DueWithin < 0 {
		return "", fmt.Errorf("due within %d days: must be positive", f.DueWithin)
	}
	if f.DueWithin > 0 {
		clauses = append(clauses, fmt.Sprintf("%s BETWEEN '%s' AND '%s'", due, now.UTC().Format(time.RFC3339), now.UTC().AddDate(0, 0, f.DueWithin).Format(time.RFC3339)))
	}
	if f.Department != "" {
		if !domain.ValidDepartmentName(f.Department) {
			return "", fmt.Errorf("department %q: not a department name", f.Department)
		}
		clauses = append(clauses, fmt.Sprintf("%s = '%s'", workflows.AttrPendingDepartments.GetName(), f.Department))
	}
	return strings.Join(clauses, " AND "), nil
}

// List finds requests from their search attributes, newest first.
func List(ctx context.Context, c client.Client, f Filter) ([]Summary, error) {
	now := time.Now()
	q, err := f.Query(now)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	out := []Summary{}
	var token []byte
	for len(out) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: int32(min(limit, 100)), NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list requests: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			id, ok := domain.RequestIDOf(ex.GetExecution().GetWorkflowId())
			if !ok || len(out) == limit {
				continue
			}
			sa := decodeAttributes(ex.GetSearchAttributes())
			s := Summary{ID: id, Type: domain.RequestType(sa.keyword(workflows.AttrType.GetName())), Regulation: domain.Regulation(sa.keyword(workflows.AttrRegulation.GetName())),
				Status: domain.Status(sa.keyword(workflows.AttrStatus.GetName())), ReceivedAt: sa.time(workflows.AttrReceivedAt.GetName()),
				DueAt: sa.time(workflows.AttrDueAt.GetName()), PendingDepartments: sa.list(workflows.AttrPendingDepartments.GetName())}
			s.DaysLeft = domain.DaysLeft(s.DueAt, now)
			out = append(out, s)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return out, nil
}
