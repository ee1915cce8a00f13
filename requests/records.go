package requests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/metrics"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/workflows"
)

// lookup runs one of the short record-reading workflows and returns its
// answer; each run has its own id, since each look is its own record.
func lookup[T any](ctx context.Context, c client.Client, prefix string, wf, arg any) (T, error) {
	var out T
	what := strings.TrimSuffix(prefix, "-")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: prefix + uuid.NewString(), TaskQueue: workflows.TaskQueue}, wf, arg)
	if err != nil {
		return out, fmt.Errorf("%s: %w", what, err)
	}
	if err := run.Get(ctx, &out); err != nil {
		return out, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Report computes the metrics of the requests received in [from, to).
func Report(ctx context.Context, c client.Client, from, to time.Time, actor string) (metrics.Report, error) {
	if !from.Before(to) {
		return metrics.Report{}, fmt.Errorf("the period must end after it starts (from %s, to %s)", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	return lookup[metrics.Report](ctx, c, "report-", workflows.Report, activities.ReportInput{From: from, To: to, Actor: actor})
}

// VerifyAudit checks the audit log's hash chain.
func VerifyAudit(ctx context.Context, c client.Client, actor string) (activities.AuditCheck, error) {
	return lookup[activities.AuditCheck](ctx, c, "audit-verify-", workflows.AuditVerification, actor)
}

// FetchPackage downloads a request's access package from the gateway's
// API with an API token.
func FetchPackage(ctx context.Context, api, token, requestID string) (io.ReadCloser, error) {
	if api == "" {
		return nil, errors.New("the package is on the worker's machine: give --api (DSR_API_URL) and DSR_API_TOKEN")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(api, "/")+"/api/v1/requests/"+url.PathEscape(requestID)+"/package", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch package: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("fetch package: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return resp.Body, nil
}

// RecordPackageRead audits that actor copies a request's package from
// where the engine wrote it; the copy must wait for it.
func RecordPackageRead(ctx context.Context, c client.Client, requestID, actor, path string) error {
	_, err := lookup[struct{}](ctx, c, "package-read-", workflows.ReadRecord, records.AuditEntry{RequestID: requestID, Actor: actor,
		Action: "package.read", Detail: map[string]any{"from": "export directory", "file": filepath.Base(path)}})
	return err
}
