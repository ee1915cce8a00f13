package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/metrics"

	"github.com/dsrengine/dsr/records"
)

// RecordRequest stores a new request and its subject's identities. It is
// idempotent: recording the same request again changes nothing, so an
// activity retry after a crash is safe. The subject is found by the keyed
// hash of any of its identities, so one person keeps one subject id. actor
// is who started the request, for the audit log.
func (s *Store) RecordRequest(ctx context.Context, keys records.Sealer, r records.Request, ids []domain.Identity, actor string) (records.Request, error) {
	if len(ids) == 0 {
		return records.Request{}, errors.New("record request: no identity")
	}
	return s.recordRequest(ctx, r, actor, func(tx *sqlx.Tx) (string, error) { return s.subjectFor(ctx, tx, keys, ids) })
}

// RecordProvisional stores a new request whose subject is not verified
// yet, under a subject of its own that holds no identity: an unverified
// request may be anyone's, so its identities join no existing subject
// (and so reach no one's consent ledger or duplicate check) until
// AttachSubject, on verification. Idempotent as RecordRequest is.
func (s *Store) RecordProvisional(ctx context.Context, r records.Request, actor string) (records.Request, error) {
	return s.recordRequest(ctx, r, actor, func(tx *sqlx.Tx) (string, error) {
		subject := uuid.NewString()
		_, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO subjects (id, created_at) VALUES (?, ?)`), subject, now())
		return subject, err
	})
}

// AttachSubject moves a verified request from its provisional subject to
// the subject its identities belong to (creating it, or adding the
// identities it lacks). A retry finds the request already moved and
// changes nothing.
func (s *Store) AttachSubject(ctx context.Context, keys records.Sealer, requestID string, ids []domain.Identity) error {
	if len(ids) == 0 {
		return errors.New("attach subject: no identity")
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var provisional string
		if err := tx.GetContext(ctx, &provisional, s.db.Rebind(`SELECT subject_id FROM requests WHERE id = ?`), requestID); err != nil {
			return fmt.Errorf("attach subject of %s: %w", requestID, err)
		}
		subject, err := s.subjectFor(ctx, tx, keys, ids)
		if err != nil {
			return fmt.Errorf("attach subject of %s: %w", requestID, err)
		}
		if subject == provisional {
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE requests SET subject_id = ?, updated_at = ? WHERE id = ?`), subject, now(), requestID); err != nil {
			return fmt.Errorf("attach subject of %s: %w", requestID, err)
		}
		// Runs archived while the request was provisional join the subject's key.
		if err := s.sealHistories(ctx, tx, keys, requestID, subject); err != nil {
			return fmt.Errorf("attach subject of %s: %w", requestID, err)
		}
		// The provisional subject held this request alone, and no identity.
		_, err = tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM subjects WHERE id = ?
			AND NOT EXISTS (SELECT 1 FROM requests WHERE subject_id = ?) AND NOT EXISTS (SELECT 1 FROM subject_identities WHERE subject_id = ?)`),
			provisional, provisional, provisional)
		if err != nil {
			return fmt.Errorf("attach subject of %s: %w", requestID, err)
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{RequestID: requestID, Actor: "engine", Action: "subject.attached",
			Detail: map[string]any{"identities": len(ids)}})
	})
}

func (s *Store) recordRequest(ctx context.Context, r records.Request, actor string, subjectOf func(*sqlx.Tx) (string, error)) (records.Request, error) {
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var existing records.Request
		err := tx.GetContext(ctx, &existing, s.db.Rebind(`SELECT * FROM requests WHERE id = ?`), r.ID)
		if err == nil {
			if existing.Type != r.Type || existing.Regulation != r.Regulation || !existing.ReceivedAt.Equal(utc(r.ReceivedAt)) {
				return fmt.Errorf("record request %s: %w: stored as %s/%s received %s", r.ID, records.ErrConflict, existing.Type, existing.Regulation, existing.ReceivedAt.Format(time.RFC3339))
			}
			r = existing
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("record request %s: %w", r.ID, err)
		}
		subject, err := subjectOf(tx)
		if err != nil {
			return fmt.Errorf("record request %s: %w", r.ID, err)
		}
		t := now()
		r.SubjectID, r.CreatedAt, r.UpdatedAt, r.RequestedBy = subject, t, t, actor
		r.ReceivedAt, r.DueAt = utc(r.ReceivedAt), utc(r.DueAt)
		if r.Status == "" {
			r.Status = domain.StatusReceived
		}
		_, err = tx.NamedExecContext(ctx, `INSERT INTO requests
			(id, subject_id, type, regulation, status, received_at, due_at, extended_due_at, completed_at, workflow_id, requested_by, created_at, updated_at)
			VALUES (:id, :subject_id, :type, :regulation, :status, :received_at, :due_at, :extended_due_at, :completed_at, :workflow_id, :requested_by, :created_at, :updated_at)`, r)
		if err != nil {
			return fmt.Errorf("record request %s: %w", r.ID, err)
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{RequestID: r.ID, Actor: actor, Action: "request.received",
			Detail: map[string]any{"type": r.Type, "regulation": r.Regulation, "due_at": r.DueAt}})
	})
	return r, err
}

// subjectFor returns the subject that owns any of ids, creating it if none
// does, and attaches the identities it does not have yet.
func (s *Store) subjectFor(ctx context.Context, tx *sqlx.Tx, keys records.Sealer, ids []domain.Identity) (string, error) {
	hashes := make([]string, len(ids))
	for i, id := range ids {
		hashes[i] = keys.Hash(string(id.Kind), id.Value)
	}
	var subject string
	for i, id := range ids {
		err := tx.GetContext(ctx, &subject, s.db.Rebind(`SELECT subject_id FROM subject_identities WHERE kind = ? AND value_hash = ?`), id.Kind, hashes[i])
		if err == nil {
			break
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", err
		}
	}
	t := now()
	if subject == "" {
		subject = uuid.NewString()
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO subjects (id, created_at) VALUES (?, ?)`), subject, t); err != nil {
			return "", err
		}
	}
	data, err := s.subjectData(ctx, tx, keys, subject, renewKey)
	if err != nil {
		return "", err
	}
	for i, id := range ids {
		sealed, err := data.Seal([]byte(id.Value), identityAD(subject, id.Kind))
		if err != nil {
			return "", err
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO subject_identities (subject_id, kind, value_hash, value_sealed, added_at, sealed_with)
			VALUES (?, ?, ?, ?, ?, 'subject') ON CONFLICT (kind, value_hash) DO NOTHING`), subject, id.Kind, hashes[i], sealed, t); err != nil {
			return "", err
		}
	}
	return subject, nil
}

// identityAD binds a sealed identity to its subject and kind.
func identityAD(subject string, kind domain.IdentityKind) []byte {
	return []byte("identity:" + subject + ":" + string(kind))
}

// subjectData seals under a subject's data key.
func (s *Store) subjectData(ctx context.Context, q queryer, keys records.Sealer, subject string, use keyUse) (*keyring.Data, error) {
	key, err := s.subjectKey(ctx, q, keys, subject, use)
	if err != nil {
		return nil, err
	}
	return keyring.NewData(key)
}

// SubjectIdentities opens the sealed identities of a subject.
func (s *Store) SubjectIdentities(ctx context.Context, keys records.Sealer, subjectID string) ([]domain.Identity, error) {
	var rows []struct {
		Kind       domain.IdentityKind `db:"kind"`
		Sealed     []byte              `db:"value_sealed"`
		SealedWith string              `db:"sealed_with"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(`SELECT kind, value_sealed, sealed_with FROM subject_identities WHERE subject_id = ? ORDER BY kind, added_at`), subjectID); err != nil {
		return nil, fmt.Errorf("subject identities: %w", err)
	}
	var data *keyring.Data
	var out []domain.Identity
	for _, r := range rows {
		var v []byte
		var err error
		switch r.SealedWith {
		case "shredded": // erased: only the hash is left
			continue
		case "subject":
			if data == nil {
				if data, err = s.subjectData(ctx, s.db, keys, subjectID, readKey); err != nil {
					return nil, fmt.Errorf("subject identities: %w", err)
				}
			}
			v, err = data.Open(r.Sealed, identityAD(subjectID, r.Kind))
		default: // sealed before subjects had keys
			v, err = keys.Open(r.Sealed, []byte(r.Kind))
		}
		if err != nil {
			return nil, fmt.Errorf("subject identities: %s: %w", r.Kind, err)
		}
		out = append(out, domain.Identity{Kind: r.Kind, Value: string(v)})
	}
	return out, nil
}

// GetRequest returns one request or ErrNotFound.
func (s *Store) GetRequest(ctx context.Context, id string) (records.Request, error) {
	var r records.Request
	err := s.db.GetContext(ctx, &r, s.db.Rebind(`SELECT * FROM requests WHERE id = ?`), id)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("request %s: %w", id, records.ErrNotFound)
	}
	return r, err
}

// SetStatus moves a request to a status and audits who moved it. A terminal
// status also sets completed_at. Setting the status a request already has
// is a no-op, so retries do not duplicate audit entries.
func (s *Store) SetStatus(ctx context.Context, id string, status domain.Status, actor string, at time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var current domain.Status
		if err := tx.GetContext(ctx, &current, s.db.Rebind(`SELECT status FROM requests WHERE id = ?`), id); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("set status of request %s: %w", id, records.ErrNotFound)
			}
			return err
		}
		if current == status {
			return nil
		}
		if current.Terminal() {
			return fmt.Errorf("set status of request %s to %s: %w: already %s", id, status, records.ErrConflict, current)
		}
		var completed sql.NullTime
		if status.Terminal() {
			completed = sql.NullTime{Time: utc(at), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE requests SET status = ?, completed_at = ?, updated_at = ? WHERE id = ?`),
			status, completed, now(), id); err != nil {
			return fmt.Errorf("set status of request %s: %w", id, err)
		}
		if err := s.enqueueCallbacks(ctx, tx, id, OpenDSRStatus(status)); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{RequestID: id, Actor: actor, Action: "request.status",
			Detail: map[string]any{"from": current, "to": status}})
	})
}

// SetExtendedDue records a new deadline after an extension.
func (s *Store) SetExtendedDue(ctx context.Context, id string, due time.Time, actor, reason string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE requests SET extended_due_at = ?, updated_at = ? WHERE id = ?`), utc(due), now(), id)
		if err != nil {
			return fmt.Errorf("extend request %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("extend request %s: %w", id, records.ErrNotFound)
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{RequestID: id, Actor: actor, Action: "request.extended",
			Detail: map[string]any{"due_at": utc(due), "reason": reason}})
	})
}

// controllerPrefix starts the requester of every OpenDSR controller's
// request (see opendsr.Actor).
const controllerPrefix = "opendsr:"

// OpenDuplicate returns the id of an older request of the same type for the
// same subject that is still open, or "" if there is none. Only older ones
// count, so two requests that arrive together never cancel each other.
func (s *Store) OpenDuplicate(ctx context.Context, requestID string) (string, error) {
	var ids []string
	err := s.db.SelectContext(ctx, &ids, s.db.Rebind(`
		SELECT other.id FROM requests AS this
		JOIN requests AS other ON other.subject_id = this.subject_id AND other.type = this.type AND other.id <> this.id
		WHERE this.id = ?
		  AND (other.requested_by = this.requested_by OR (this.requested_by NOT LIKE ? AND other.requested_by NOT LIKE ?))
		  AND other.status NOT IN (?, ?, ?)
		  AND (other.created_at < this.created_at OR (other.created_at = this.created_at AND other.id < this.id))
		ORDER BY other.created_at, other.id
		LIMIT 1`), requestID, controllerPrefix+"%", controllerPrefix+"%", domain.StatusCompleted, domain.StatusDenied, domain.StatusCancelled)
	if err != nil {
		return "", fmt.Errorf("find open duplicate of %s: %w", requestID, err)
	}
	if len(ids) == 0 {
		return "", nil
	}
	return ids[0], nil
}

// FindSubject returns the subject that owns any of the identities, by
// keyed hash, or ErrNotFound.
func (s *Store) FindSubject(ctx context.Context, keys records.Sealer, ids []domain.Identity) (string, error) {
	for _, id := range ids {
		var subject string
		err := s.db.GetContext(ctx, &subject, s.db.Rebind(`SELECT subject_id FROM subject_identities WHERE kind = ? AND value_hash = ?`), id.Kind, keys.Hash(string(id.Kind), id.Value))
		if err == nil {
			return subject, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("find subject: %w", err)
		}
	}
	return "", fmt.Errorf("subject: %w", records.ErrNotFound)
}

// ReportRequests returns the requests received in [from, to) as the
// metrics report needs them: the deadline in force, when they ended, and
// whether data was kept on a legal basis (complied with in part).
func (s *Store) ReportRequests(ctx context.Context, from, to time.Time) ([]metrics.Request, error) {
	var rows []struct {
		ID          string             `db:"id"`
		Type        domain.RequestType `db:"type"`
		Status      domain.Status      `db:"status"`
		ReceivedAt  time.Time          `db:"received_at"`
		DueAt       time.Time          `db:"due_at"`
		ExtendedDue sql.NullTime       `db:"extended_due_at"`
		CompletedAt sql.NullTime       `db:"completed_at"`
		Partial     bool               `db:"partial"`
	}
	err := s.db.SelectContext(ctx, &rows, s.db.Rebind(`SELECT r.id, r.type, r.status, r.received_at, r.due_at, r.extended_due_at, r.completed_at,
		(EXISTS (SELECT 1 FROM signoffs o WHERE o.request_id = r.id AND o.decision = 'object')
		 OR EXISTS (SELECT 1 FROM audit_log a WHERE a.request_id = r.id AND a.action = 'task.completed' AND a.detail LIKE '%"outcome":"kept"%')) AS partial
		FROM requests r WHERE r.received_at >= ? AND r.received_at < ? ORDER BY r.received_at`), utc(from), utc(to))
	if err != nil {
		return nil, fmt.Errorf("report requests: %w", err)
	}
	out := make([]metrics.Request, len(rows))
	for i, r := range rows {
		out[i] = metrics.Request{ID: r.ID, Type: r.Type, Status: r.Status, ReceivedAt: r.ReceivedAt, DueAt: r.DueAt, Partial: r.Partial}
		if r.ExtendedDue.Valid {
			out[i].DueAt = r.ExtendedDue.Time
		}
		if r.CompletedAt.Valid {
			t := r.CompletedAt.Time
			out[i].CompletedAt = &t
		}
	}
	return out, nil
}
