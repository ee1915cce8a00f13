package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

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
	// Sealed says JSON is sealed under the subject's data key (see
	// ArchiveHistory and OpenHistory).
	Sealed bool `db:"sealed"`
}

// ArchiveHistory keeps a closed workflow's history, sealed under its
// subject's data key, with the SHA-256 of the history itself; archiving it
// again keeps the first copy. A run closed while its request was not
// verified yet is kept as the server gave it (payloads encrypted by the
// codec) until the request joins its subject (AttachSubject). Once the subject's key was destroyed only
// the digest is kept: the history would be personal data nobody can read.
func (s *Store) ArchiveHistory(ctx context.Context, keys records.Sealer, h History) error {
	sum := sha256.Sum256(h.JSON)
	body, sealed := h.JSON, false
	if r, err := s.GetRequest(ctx, h.RequestID); err == nil {
		// A request not verified yet has a provisional subject, with no key:
		// its history is sealed when the request joins its subject.
		data, err := s.subjectData(ctx, s.db, keys, r.SubjectID, readKey)
		switch {
		case errors.Is(err, ErrKeyDestroyed):
			body, sealed = []byte{}, true
		case errors.Is(err, records.ErrNotFound):
		case err != nil:
			return fmt.Errorf("archive history of %s: %w", h.WorkflowID, err)
		default:
			if body, err = data.Seal(h.JSON, historyAD(h)); err != nil {
				return err
			}
			sealed = true
		}
	} else if !errors.Is(err, records.ErrNotFound) {
		return fmt.Errorf("archive history of %s: %w", h.WorkflowID, err)
	}
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO histories (workflow_id, run_id, request_id, closed_at, history, sha256, archived_at, sealed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workflow_id, run_id) DO NOTHING`),
		h.WorkflowID, h.RunID, h.RequestID, utc(h.ClosedAt), body, hex.EncodeToString(sum[:]), now(), sealed)
	if err != nil {
		return fmt.Errorf("archive history of %s: %w", h.WorkflowID, err)
	}
	return nil
}

func historyAD(h History) []byte { return []byte("history:" + h.WorkflowID + ":" + h.RunID) }

// OpenHistory is an archived history's JSON, opened with its subject's
// key and checked against its digest; ErrKeyDestroyed once the subject
// was erased.
func (s *Store) OpenHistory(ctx context.Context, keys records.Sealer, h History) ([]byte, error) {
	body := h.JSON
	if h.Sealed {
		r, err := s.GetRequest(ctx, h.RequestID)
		if err != nil {
			return nil, err
		}
		data, err := s.subjectData(ctx, s.db, keys, r.SubjectID, readKey)
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", h.RequestID, err)
		}
		if body, err = data.Open(h.JSON, historyAD(h)); err != nil {
			return nil, fmt.Errorf("history of %s: %w", h.RequestID, err)
		}
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != h.SHA256 {
		return nil, fmt.Errorf("history of %s: it does not match its digest", h.RequestID)
	}
	return body, nil
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

// sealHistories seals a request's histories kept before it had a subject
// with a key, under its subject's key, in tx.
func (s *Store) sealHistories(ctx context.Context, tx *sqlx.Tx, keys records.Sealer, requestID, subject string) error {
	var plain []History
	if err := tx.SelectContext(ctx, &plain, s.db.Rebind(`SELECT * FROM histories WHERE request_id = ? AND sealed = FALSE`), requestID); err != nil {
		return fmt.Errorf("seal the histories of %s: %w", requestID, err)
	}
	if len(plain) == 0 {
		return nil
	}
	data, err := s.subjectData(ctx, tx, keys, subject, readKey)
	if err != nil {
		return fmt.Errorf("seal the histories of %s: %w", requestID, err)
	}
	for _, h := range plain {
		body, err := data.Seal(h.JSON, historyAD(h))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE histories SET history = ?, sealed = TRUE WHERE workflow_id = ? AND run_id = ? AND sealed = FALSE`),
			body, h.WorkflowID, h.RunID); err != nil {
			return fmt.Errorf("seal the histories of %s: %w", requestID, err)
		}
	}
	return nil
}
