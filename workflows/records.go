package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/metrics"
	"github.com/dsrengine/dsr/records"
)

// Reading the engine's records (metrics, the audit log) goes through short
// workflows, as ConsentLookup does: compliance and auditors need no
// database access, and every look is in Temporal's history with its actor.

// lookupActivity reads the store; a reader waits a little, not a day.
var lookupActivity = workflow.ActivityOptions{
	StartToCloseTimeout: 2 * time.Minute,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 5},
}

// Report computes the metrics report for a period.
func Report(ctx workflow.Context, in activities.ReportInput) (metrics.Report, error) {
	var a *activities.Activities
	var out metrics.Report
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, lookupActivity), a.Report, in).Get(ctx, &out)
	return out, err
}

// AuditVerification checks the audit log's hash chain.
func AuditVerification(ctx workflow.Context, actor string) (activities.AuditCheck, error) {
	var a *activities.Activities
	var out activities.AuditCheck
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, lookupActivity), a.VerifyAudit, actor).Get(ctx, &out)
	return out, err
}

// AuditExport returns one request's audit log entries.
func AuditExport(ctx workflow.Context, q activities.AuditQuery) ([]records.AuditEntry, error) {
	var a *activities.Activities
	var out []records.AuditEntry
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, lookupActivity), a.AuditEntries, q).Get(ctx, &out)
	return out, err
}

// ReadRecord puts a read of personal data that happens outside the engine
// (a package copied from the worker's disk) in the audit log, before the
// reader gets it.
func ReadRecord(ctx workflow.Context, e records.AuditEntry) error {
	var a *activities.Activities
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, lookupActivity), a.RecordRead, e).Get(ctx, nil)
}

// AuditAnchorID is the workflow whose newest run holds the audit chain's
// anchor.
const AuditAnchorID = "dsr-audit-anchor"

// AuditAnchor keeps a head of the audit log's chain in Temporal's own
// history, outside the store: someone who can rewrite the store's tables
// can delete the newest entries and leave a chain that verifies, but not
// the anchor, which verification compares with the log. Each anchor is a
// new run of AuditAnchorID that ends at once with the head as its result.
func AuditAnchor(ctx workflow.Context, head records.AuditHead) (records.AuditHead, error) {
	return head, nil
}
