package activities

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dsrengine/dsr/domain"
)

// PurgeInput names the erasure whose subject's files go.
type PurgeInput struct {
	RequestID string `json:"request_id"`
}

// PurgeSubjectExports deletes every export and package the engine made of
// the erasure's subject, for any of their requests, and records each purge
// in the audit log, before deleting: a retry after a crash deletes what is
// left, records nothing twice, and counts every request purged for this
// erasure, in this attempt or an earlier one.
func (a *Activities) PurgeSubjectExports(ctx context.Context, in PurgeInput) (int, error) {
	r, err := a.Store.GetRequest(ctx, in.RequestID)
	if err != nil {
		return 0, err
	}
	ids, err := a.Store.SubjectRequests(ctx, r.SubjectID)
	if err != nil {
		return 0, err
	}
	why := "erased by " + in.RequestID
	for _, id := range ids {
		if _, ok := filesOf(a.ExportDir, id); !ok {
			continue
		}
		if err := a.Store.MarkPurged(ctx, id, why, time.Now()); err != nil {
			return 0, err
		}
		if _, err := PurgeFiles(a.ExportDir, id); err != nil {
			return 0, err
		}
	}
	return a.Store.PurgedFor(ctx, r.SubjectID, why)
}

// filesOf is the folder of a request's files under the export directory,
// if there is one.
func filesOf(exportDir, requestID string) (string, bool) {
	if exportDir == "" || domain.ValidateRequestID(requestID) != nil {
		return "", false
	}
	dir := filepath.Join(exportDir, requestID)
	_, err := os.Stat(dir)
	return dir, !os.IsNotExist(err)
}

// PurgeFiles deletes the files (exports, package) of a request under the
// export directory; it says whether there were any.
func PurgeFiles(exportDir, requestID string) (bool, error) {
	dir, ok := filesOf(exportDir, requestID)
	if !ok {
		return false, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("purge the files of %s: %w", requestID, err)
	}
	return true, nil
}

// HoldEvidence gives a completed erasure the data map's aftercare (the
// resurrection checks and the evidence hold), so that the policy in force
// when it completed is in its history.
func (a *Activities) HoldEvidence(ctx context.Context) (domain.Aftercare, error) {
	return a.Aftercare, nil
}

// Shred destroys the erasure's subject's data key: their sealed identities,
// archived histories and any file left become unreadable for good, while
// the keyed hashes (suppression), counts and the audit chain stay.
func (a *Activities) Shred(ctx context.Context, in PurgeInput) error {
	r, err := a.Store.GetRequest(ctx, in.RequestID)
	if err != nil {
		return err
	}
	if err := a.Store.DestroySubjectKey(ctx, r.SubjectID, in.RequestID); err != nil {
		return fmt.Errorf("shred the subject of %s: %w", in.RequestID, err)
	}
	return nil
}
