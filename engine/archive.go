package engine

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
)

// archive copies the history of every closed request workflow into the
// store, so that the evidence outlives Temporal's retention. It looks
// again every `every`; a copy is made once per run.
func (e *Engine) archive(ctx context.Context, every time.Duration) {
	var since time.Time
	for {
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
			if err := e.Store.ArchiveHistory(ctx, store.History{WorkflowID: wid, RunID: rid, RequestID: id, ClosedAt: closed, JSON: b}); err != nil {
				return since, err
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return next, nil
		}
	}
}
