package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/dsrengine/dsr/records"
)

// History is a closed workflow's history as archived.
type History struct {
	WorkflowID string    `db:"workflow_id"`
	RunID      string    `db:"run_id"`
	RequestID  string    `db:"request_id"`
	ClosedAt   time.Time `db:"closed_at"`
	JSON       []byte    `db:"history"`
	SHA256     string    `db:"sha256"`
	ArchivedAt time.Time `db:"archived_at"`
}

// ArchiveHistory keeps a closed workflow's history; archiving it again
// keeps the first copy.
func (s *Store) ArchiveHistory(ctx context.Context, h History) error {
	sum := sha256.Sum256(h.JSON)
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO histories (workflow_id, run_id, request_id, closed_at, history, sha256, archived_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workflow_id, run_id) DO NOTHING`),
		h.WorkflowID, h.RunID, h.RequestID, utc(h.ClosedAt), h.JSON, hex.EncodeToString(sum[:]), now())
	if err != nil {
		return fmt.Errorf("archive history of %s: %w", h.WorkflowID, err)
	}
	return nil
}

// Archived reports whether a run's history is kept.
func (s *Store) Archived(ctx context.Context, workflowID, runID string) (bool, error) {
	var n int
	err := s.db.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*) FROM histories WHERE workflow_id = ? AND run_id = ?`), workflowID, runID)
	return n > 0, err
}

// LatestHistory returns a request's last archived history, or ErrNotFound.
func (s *Store) LatestHistory(ctx context.Context, requestID string) (History, error) {
	var h History
	err := s.db.GetContext(ctx, &h, s.db.Rebind(`SELECT * FROM histories WHERE request_id = ? ORDER BY closed_at DESC LIMIT 1`), requestID)
	if errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("%w: no archived history of %s", records.ErrNotFound, requestID)
	}
	return h, err
}
