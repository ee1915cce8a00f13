package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/records"
)

// AppendConsent adds to the ledger; the ledger is never updated in place.
// An event of a request with the same purpose and state as one already in
// the ledger is a retry and is not appended again.
func (s *Store) AppendConsent(ctx context.Context, e records.ConsentEvent) error {
	if e.Purpose == "" || e.Channel == "" || e.WordingVersion == "" {
		return errors.New("consent event needs a purpose, a channel and a wording version")
	}
	e.At = utc(e.At)
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if e.RequestID != "" {
			var n int
			if err := tx.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*) FROM consent_ledger WHERE request_id = ? AND purpose = ? AND state = ?`), e.RequestID, e.Purpose, e.State); err != nil {
				return fmt.Errorf("consent ledger: %w", err)
			}
			if n > 0 {
				return nil
			}
		}
		if _, err := tx.NamedExecContext(ctx, `INSERT INTO consent_ledger (subject_id, purpose, state, channel, wording_version, request_id, at, after_erasure)
			VALUES (:subject_id, :purpose, :state, :channel, :wording_version, :request_id, :at, :after_erasure)`, e); err != nil {
			return fmt.Errorf("consent ledger: %w", err)
		}
		detail := map[string]any{"purpose": e.Purpose, "channel": e.Channel, "wording_version": e.WordingVersion}
		if e.AfterErasure {
			detail["after_erasure"] = true
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{RequestID: e.RequestID, Actor: "engine", Action: "consent." + e.State, Detail: detail})
	})
}

// CurrentConsent is the latest ledger entry for a subject and purpose, or ErrNotFound.
func (s *Store) CurrentConsent(ctx context.Context, subjectID, purpose string) (records.ConsentEvent, error) {
	var e records.ConsentEvent
	err := s.db.GetContext(ctx, &e, s.db.Rebind(`SELECT * FROM consent_ledger WHERE subject_id = ? AND purpose = ? ORDER BY seq DESC LIMIT 1`), subjectID, purpose)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("consent of subject %s to %s: %w", subjectID, purpose, records.ErrNotFound)
	}
	return e, err
}

// ConsentHistory is the full ledger of a subject, oldest first.
func (s *Store) ConsentHistory(ctx context.Context, subjectID string) ([]records.ConsentEvent, error) {
	var out []records.ConsentEvent
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT * FROM consent_ledger WHERE subject_id = ? ORDER BY seq`), subjectID)
	return out, err
}

// AddArtifact records an export; the same id again is a no-op.
func (s *Store) AddArtifact(ctx context.Context, a records.Artifact) error {
	a.CreatedAt = now()
	_, err := s.db.NamedExecContext(ctx, `INSERT INTO access_artifacts (id, request_id, system, format, location, sha256, size_bytes, created_at, expires_at)
		VALUES (:id, :request_id, :system, :format, :location, :sha256, :size_bytes, :created_at, :expires_at) ON CONFLICT (id) DO NOTHING`, a)
	if err != nil {
		return fmt.Errorf("add artifact %s: %w", a.ID, err)
	}
	return nil
}

// Artifacts lists a request's exports.
func (s *Store) Artifacts(ctx context.Context, requestID string) ([]records.Artifact, error) {
	var out []records.Artifact
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT * FROM access_artifacts WHERE request_id = ? ORDER BY system, id`), requestID)
	return out, err
}

// Suppress adds an identity's keyed hash to the suppression list; adding it
// twice keeps the first entry.
func (s *Store) Suppress(ctx context.Context, kind, valueHash, reason, requestID string) error {
	return s.SuppressFor(ctx, SuppressAll, kind, valueHash, reason, requestID)
}

// Suppression scopes: an erased person is suppressed for everything; one
// who objected to direct marketing for marketing only.
const (
	SuppressAll       = "all"
	SuppressMarketing = "marketing"
)

// SuppressFor puts an identity's keyed hash on the list for a scope.
func (s *Store) SuppressFor(ctx context.Context, scope, kind, valueHash, reason, requestID string) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO suppression_list (kind, value_hash, scope, reason, request_id, added_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, value_hash, scope) DO NOTHING`), kind, valueHash, scope, reason, requestID, now())
	if err != nil {
		return fmt.Errorf("suppress: %w", err)
	}
	return nil
}

// Suppressed reports whether an identity's keyed hash is on the list
// for everything: the person was erased.
func (s *Store) Suppressed(ctx context.Context, kind, valueHash string) (bool, error) {
	return s.SuppressedFor(ctx, SuppressAll, kind, valueHash)
}

// SuppressedFor reports whether an identity may not be used for scope:
// suppressed for it, or for everything.
func (s *Store) SuppressedFor(ctx context.Context, scope, kind, valueHash string) (bool, error) {
	var n int
	err := s.db.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*) FROM suppression_list WHERE kind = ? AND value_hash = ? AND scope IN (?, ?)`),
		kind, valueHash, SuppressAll, scope)
	return n > 0, err
}
