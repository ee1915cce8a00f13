package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// archive copies the history of every closed request workflow into the
// store, so that the evidence outlives Temporal's retention, and deletes
// the packages whose download expired. It looks again every `every`; a
// copy is made once per run.
func (e *Engine) archive(ctx context.Context, every time.Duration) {
	var since time.Time
	for {
		if err := e.AnchorAudit(ctx); err != nil && ctx.Err() == nil {
			e.Log.Warn("anchor the audit chain", "error", err)
		}
		if _, err := e.PurgeExpired(ctx, time.Now()); err != nil && ctx.Err() == nil {
			e.Log.Warn("purge expired packages", "error", err)
		}
		next, err := e.archiveClosed(ctx, since)
		if err != nil && ctx.Err() == nil {
			e.Log.Warn("archive histories", "error", err)
		} else {
			since = next
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// archiveClosed archives the runs closed since the given time and returns
// the time to look from next (with a margin for visibility's delay).
func (e *Engine) archiveClosed(ctx context.Context, since time.Time) (time.Time, error) {
	q := "WorkflowType = 'Request' AND ExecutionStatus != 'Running'"
	if !since.IsZero() {
		q += fmt.Sprintf(" AND CloseTime >= '%s'", since.UTC().Format(time.RFC3339))
	}
	next := since
	var token []byte
	for {
		resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, NextPageToken: token})
		if err != nil {
			return since, err
		}
		for _, ex := range resp.GetExecutions() {
			wid, rid := ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()
			closed := ex.GetCloseTime().AsTime()
			if closed.Add(-time.Minute).After(next) {
				next = closed.Add(-time.Minute)
			}
			if err := e.reconcile(ctx, wid, ex.GetStatus()); err != nil {
				return since, err
			}
			if done, err := e.Store.Archived(ctx, wid, rid); err != nil || done {
				if err != nil {
					return since, err
				}
				continue
			}
			h, err := requests.History(ctx, e.Client, wid, rid)
			if err != nil {
				return since, err
			}
			b, err := protojson.Marshal(h)
			if err != nil {
				return since, err
			}
			id, _ := domain.RequestIDOf(wid)
			if err := e.Store.ArchiveHistory(ctx, e.Keys, store.History{WorkflowID: wid, RunID: rid, RequestID: id, ClosedAt: closed, JSON: b}); err != nil {
				return since, err
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return next, nil
		}
	}
}

// reconcile records in the store a request whose workflow Temporal ended
// without the workflow ending it: terminated by an operator, timed out or
// failed. The workflow could not record it itself, so the request would
// otherwise stay "in progress" for ever; it needs attention instead.
func (e *Engine) reconcile(ctx context.Context, wid string, status enumspb.WorkflowExecutionStatus) error {
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
		enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
	default:
		return nil
	}
	id, ok := domain.RequestIDOf(wid)
	if !ok {
		return nil
	}
	r, err := e.Store.GetRequest(ctx, id)
	if errors.Is(err, records.ErrNotFound) {
		return nil // ended before it was recorded: there is nothing to correct
	}
	if err != nil || r.Status.Terminal() || r.Status == domain.StatusNeedsAttention {
		return err
	}
	how := strings.ToLower(strings.TrimPrefix(status.String(), "WORKFLOW_EXECUTION_STATUS_"))
	e.Log.Warn("request's workflow ended outside the engine", "request", id, "workflow", how)
	if err := e.Store.SetStatus(ctx, id, domain.StatusNeedsAttention, "temporal:"+how, time.Now()); err != nil {
		return err
	}
	// It will never be fulfilled: an OpenDSR controller is told it is cancelled.
	return e.Store.EnqueueOpenDSRStatus(ctx, id, "cancelled")
}

// AnchorAudit writes the audit chain's head to the engine log and, as a
// new run of the anchor workflow, to Temporal, unless it has not moved.
// An anchor never moves back: a head older than the anchor means entries
// were deleted, which is logged and left for verification to report.
func (e *Engine) AnchorAudit(ctx context.Context) error {
	head, err := e.Store.Head(ctx)
	if err != nil || head.Seq == 0 {
		return err
	}
	anchor, err := e.auditAnchor(ctx)
	if err != nil {
		return err
	}
	switch {
	case head.Seq < anchor.Seq || head.Seq == anchor.Seq && head.Hash != anchor.Hash:
		e.Log.Error("audit chain: the log no longer holds the anchored entry", "anchor_seq", anchor.Seq, "head_seq", head.Seq)
		return nil
	case head == anchor:
		return nil
	}
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.AuditAnchorID, TaskQueue: workflows.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, WorkflowExecutionTimeout: time.Minute}, workflows.AuditAnchor, head)
	if err != nil {
		return err
	}
	if err := run.Get(ctx, nil); err != nil {
		return err
	}
	e.Log.Info("audit chain anchored", "seq", head.Seq, "hash", head.Hash)
	return nil
}

// auditAnchor is the newest anchor in Temporal, or none (Seq 0).
func (e *Engine) auditAnchor(ctx context.Context) (records.AuditHead, error) {
	var head records.AuditHead
	err := e.Client.GetWorkflow(ctx, workflows.AuditAnchorID, "").Get(ctx, &head)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return records.AuditHead{}, nil
	}
	return head, err
}
