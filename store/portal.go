package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/records"
)

// Why a download was refused.
var (
	ErrNoDownload      = errors.New("this request has no package to download")
	ErrDownloadExpired = errors.New("the download link has expired, and the package was deleted")
	ErrDownloadUsedUp  = errors.New("the package was downloaded as many times as allowed")
	ErrNoSession       = errors.New("the session has expired or is not valid: ask for a new code")
)

// Download is what the portal says of a request's package.
type Download struct {
	RequestID string     `db:"request_id"`
	ExpiresAt time.Time  `db:"expires_at"`
	MaxUses   int        `db:"max_uses"`
	Uses      int        `db:"uses"`
	PurgedAt  *time.Time `db:"purged_at"`
	PurgedWhy string     `db:"purged_why"`
}

// OfferDownload makes a request's package downloadable until expiresAt,
// maxUses times. A retry keeps the first offer, so a package assembled
// again does not live longer.
func (s *Store) OfferDownload(ctx context.Context, requestID string, expiresAt time.Time, maxUses int) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO package_downloads (request_id, expires_at, max_uses) VALUES (?, ?, ?)
		ON CONFLICT (request_id) DO NOTHING`), requestID, utc(expiresAt), maxUses)
	if err != nil {
		return fmt.Errorf("offer the package of %s: %w", requestID, err)
	}
	return nil
}

// GetDownload reads a request's offer.
func (s *Store) GetDownload(ctx context.Context, requestID string) (Download, error) {
	var d Download
	err := s.db.GetContext(ctx, &d, s.db.Rebind(`SELECT request_id, expires_at, max_uses, uses, purged_at, purged_why FROM package_downloads WHERE request_id = ?`), requestID)
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNoDownload
	}
	if err != nil {
		return d, fmt.Errorf("package of %s: %w", requestID, err)
	}
	d.ExpiresAt = d.ExpiresAt.UTC()
	return d, nil
}

// TakeDownload counts one download of a request's package and audits it,
// or says why none is allowed. The count is taken in one statement, so two
// downloads at once cannot share a use.
func (s *Store) TakeDownload(ctx context.Context, requestID, actor string, now time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var use int
		err := tx.GetContext(ctx, &use, s.db.Rebind(`UPDATE package_downloads SET uses = uses + 1
			WHERE request_id = ? AND uses < max_uses AND expires_at > ? AND purged_at IS NULL RETURNING uses`), requestID, utc(now))
		if errors.Is(err, sql.ErrNoRows) {
			var d Download
			err := tx.GetContext(ctx, &d, s.db.Rebind(`SELECT request_id, expires_at, max_uses, uses, purged_at, purged_why FROM package_downloads WHERE request_id = ?`), requestID)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return ErrNoDownload
			case err != nil:
				return fmt.Errorf("download the package of %s: %w", requestID, err)
			case d.PurgedAt != nil || !now.Before(d.ExpiresAt.UTC()):
				return ErrDownloadExpired
			default:
				return ErrDownloadUsedUp
			}
		}
		if err != nil {
			return fmt.Errorf("download the package of %s: %w", requestID, err)
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{RequestID: requestID, Actor: actor, Action: "package.downloaded",
			Detail: map[string]any{"use": use}})
	})
}

// ExpiredDownloads lists the requests whose packages expired by now and
// are not purged yet, oldest first.
func (s *Store) ExpiredDownloads(ctx context.Context, now time.Time, limit int) ([]string, error) {
	var ids []string
	err := s.db.SelectContext(ctx, &ids, s.db.Rebind(`SELECT request_id FROM package_downloads
		WHERE expires_at <= ? AND purged_at IS NULL ORDER BY expires_at LIMIT ?`), utc(now), limit)
	return ids, err
}

// MarkPurged records that a request's package and exports were deleted,
// with why, in the audit log.
func (s *Store) MarkPurged(ctx context.Context, requestID, why string, now time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		// A request erased before its package was offered has no row: the
		// purge is recorded all the same, expired at once.
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO package_downloads (request_id, expires_at, max_uses) VALUES (?, ?, 0)
			ON CONFLICT (request_id) DO NOTHING`), requestID, utc(now)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE package_downloads SET purged_at = ?, purged_why = ? WHERE request_id = ? AND purged_at IS NULL`), utc(now), why, requestID)
		if err != nil {
			return fmt.Errorf("purge the exports of %s: %w", requestID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // purged before: audited then
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{RequestID: requestID, Actor: "engine", Action: "exports.purged",
			Detail: map[string]any{"why": why}})
	})
}

// PurgedFor counts a subject's requests whose files were purged for why.
func (s *Store) PurgedFor(ctx context.Context, subjectID, why string) (int, error) {
	var n int
	err := s.db.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*) FROM package_downloads d JOIN requests r ON r.id = d.request_id
		WHERE r.subject_id = ? AND d.purged_why = ?`), subjectID, why)
	if err != nil {
		return 0, fmt.Errorf("purged files of %s: %w", subjectID, err)
	}
	return n, nil
}

// OpenSession keeps the keyed hash of a portal session for one request.
// Expired sessions are cleared on the way.
func (s *Store) OpenSession(ctx context.Context, tokenHash, requestID string, now, expiresAt time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM portal_sessions WHERE expires_at <= ?`), utc(now)); err != nil {
		return fmt.Errorf("portal session: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO portal_sessions (token_hash, request_id, expires_at) VALUES (?, ?, ?)`),
		tokenHash, requestID, utc(expiresAt)); err != nil {
		return fmt.Errorf("portal session: %w", err)
	}
	return s.AppendAudit(ctx, records.AuditEntry{RequestID: requestID, Actor: "subject", Action: "portal.session_opened",
		Detail: map[string]any{"expires_at": utc(expiresAt)}})
}

// SessionRequest is the request a live session was opened for.
func (s *Store) SessionRequest(ctx context.Context, tokenHash string, now time.Time) (string, error) {
	var id string
	err := s.db.GetContext(ctx, &id, s.db.Rebind(`SELECT request_id FROM portal_sessions WHERE token_hash = ? AND expires_at > ?`), tokenHash, utc(now))
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNoSession
	}
	return id, err
}
