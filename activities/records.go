package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/dsrengine/dsr/metrics"
	"github.com/dsrengine/dsr/records"
)

// ReportInput asks for the metrics of requests received in [From, To).
type ReportInput struct {
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Actor string    `json:"actor"`
}

// Report computes the metrics report from the store and audits who
// asked for it.
func (a *Activities) Report(ctx context.Context, in ReportInput) (metrics.Report, error) {
	reqs, err := a.Store.ReportRequests(ctx, in.From, in.To)
	if err != nil {
		return metrics.Report{}, err
	}
	if err := a.Store.AppendAudit(ctx, records.AuditEntry{Actor: in.Actor, Action: "metrics.viewed",
		Detail: map[string]any{"from": in.From, "to": in.To}}); err != nil {
		return metrics.Report{}, err
	}
	return metrics.Compute(in.From, in.To, time.Now().UTC(), reqs), nil
}

// AuditCheck is the result of verifying the audit log's hash chain.
type AuditCheck struct {
	Entries  int      `json:"entries"`
	Problems []string `json:"problems"`
}

// VerifyAudit walks the audit log's hash chain and reports every entry
// altered or missing; the check itself is audited after it ran.
func (a *Activities) VerifyAudit(ctx context.Context, actor string) (AuditCheck, error) {
	var anchor records.AuditHead
	if a.AuditAnchor != nil {
		var err error
		if anchor, err = a.AuditAnchor(ctx); err != nil {
			return AuditCheck{}, fmt.Errorf("read the audit anchor: %w", err)
		}
	}
	n, problems, err := a.Store.CheckAuditAgainst(ctx, anchor)
	if err != nil {
		return AuditCheck{}, err
	}
	if problems == nil {
		problems = []string{}
	}
	return AuditCheck{Entries: n, Problems: problems},
		a.Store.AppendAudit(ctx, records.AuditEntry{Actor: actor, Action: "audit.verified", Detail: map[string]any{"entries": n, "problems": len(problems)}})
}

// AuditQuery asks for one request's audit log entries.
type AuditQuery struct {
	RequestID string `json:"request_id"`
	Actor     string `json:"actor"`
}

// AuditEntries returns a request's audit log entries and audits the
// export.
func (a *Activities) AuditEntries(ctx context.Context, q AuditQuery) ([]records.AuditEntry, error) {
	entries, err := a.Store.AuditLog(ctx, q.RequestID)
	if err != nil {
		return nil, err
	}
	return entries, a.Store.AppendAudit(ctx, records.AuditEntry{RequestID: q.RequestID, Actor: q.Actor, Action: "audit.exported"})
}
