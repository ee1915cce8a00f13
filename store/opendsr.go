package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
)

// OpenDSRRequest links an OpenDSR controller's request to the engine's.
type OpenDSRRequest struct {
	SubjectRequestID string    `db:"subject_request_id"`
	RequestID        string    `db:"request_id"`
	Controller       string    `db:"controller"`
	CallbackList     string    `db:"callbacks"`
	LastStatus       string    `db:"last_status"`
	CreatedAt        time.Time `db:"created_at"`
}

// Callbacks are the controller's status callback URLs.
func (o OpenDSRRequest) Callbacks() []string {
	if o.CallbackList == "" {
		return nil
	}
	return strings.Split(o.CallbackList, "\n")
}

// AddOpenDSR records an OpenDSR request; the same controller's subject
// request id again keeps the first.
// A new request is pending (spec section 8): its controller is told so.
func (s *Store) AddOpenDSR(ctx context.Context, o OpenDSRRequest, callbacks []string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		r, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO opendsr_requests (subject_request_id, request_id, controller, callbacks, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (controller, subject_request_id) DO NOTHING`), o.SubjectRequestID, o.RequestID, o.Controller, strings.Join(callbacks, "\n"), now())
		if err != nil {
			return fmt.Errorf("opendsr request: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return nil // the same request again
		}
		return s.enqueueCallbacks(ctx, tx, o.RequestID, "pending")
	})
}

// OpenDSR finds a controller's OpenDSR request by its own id; another
// controller's request is not found.
func (s *Store) OpenDSR(ctx context.Context, controller, subjectRequestID string) (OpenDSRRequest, error) {
	var o OpenDSRRequest
	err := s.db.GetContext(ctx, &o, s.db.Rebind(`SELECT * FROM opendsr_requests WHERE controller = ? AND subject_request_id = ?`), controller, subjectRequestID)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("%w: no OpenDSR request %s", records.ErrNotFound, subjectRequestID)
	}
	return o, err
}

// OpenDSRStatus is OpenDSR's word for a status: pending until the request
// is acted on, in_progress, completed, or cancelled (denied included).
func OpenDSRStatus(s domain.Status) string {
	switch s {
	case domain.StatusReceived, domain.StatusVerifying, domain.StatusDiscovery:
		return "pending"
	case domain.StatusCompleted:
		return "completed"
	case domain.StatusCancelled, domain.StatusDenied:
		return "cancelled"
	}
	return "in_progress"
}

// enqueueCallbacks writes, in the caller's transaction, one callback per
// URL for an OpenDSR request whose OpenDSR status changes to status: the
// change and its callbacks commit together, so none is lost in a crash
// and none is made up by a poll that missed a short state.
func (s *Store) enqueueCallbacks(ctx context.Context, tx *sqlx.Tx, requestID, status string) error {
	var o OpenDSRRequest
	err := tx.GetContext(ctx, &o, tx.Rebind(`SELECT * FROM opendsr_requests WHERE request_id = ?`), requestID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // not an OpenDSR request
	}
	if err != nil || o.LastStatus == status {
		return err
	}
	at := now()
	for _, url := range o.Callbacks() {
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO opendsr_callbacks (request_id, url, status, created_at, next_at) VALUES (?, ?, ?, ?, ?)`),
			requestID, url, status, at, at); err != nil {
			return fmt.Errorf("queue callback: %w", err)
		}
	}
	_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE opendsr_requests SET last_status = ? WHERE request_id = ?`), status, requestID)
	return err
}

// EnqueueOpenDSRStatus queues callbacks for a status the engine decides
// without the workflow (a request Temporal ended is cancelled).
func (s *Store) EnqueueOpenDSRStatus(ctx context.Context, requestID, status string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error { return s.enqueueCallbacks(ctx, tx, requestID, status) })
}

// Callback is one queued callback with what its body needs.
type Callback struct {
	ID               int64     `db:"id"`
	RequestID        string    `db:"request_id"`
	URL              string    `db:"url"`
	Status           string    `db:"status"`
	CreatedAt        time.Time `db:"created_at"`
	Attempts         int       `db:"attempts"`
	Controller       string    `db:"controller"`
	SubjectRequestID string    `db:"subject_request_id"`
	// DueAt and ExtendedDueAt are the request's deadline, once the
	// request is recorded (its first callback may go out before).
	DueAt         *time.Time `db:"due_at"`
	ExtendedDueAt *time.Time `db:"extended_due_at"`
}

// DueCallbacks are the callbacks to send now: for each request and URL the
// oldest one not yet delivered or given up, so a controller hears of its
// request's states in order.
func (s *Store) DueCallbacks(ctx context.Context, limit int) ([]Callback, error) {
	var out []Callback
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT c.id, c.request_id, c.url, c.status, c.created_at, c.attempts,
			o.controller, o.subject_request_id, r.due_at, r.extended_due_at
		FROM opendsr_callbacks c
		JOIN opendsr_requests o ON o.request_id = c.request_id
		LEFT JOIN requests r ON r.id = c.request_id
		WHERE c.delivered_at IS NULL AND c.given_up_at IS NULL AND c.next_at <= ?
		  AND NOT EXISTS (SELECT 1 FROM opendsr_callbacks p WHERE p.request_id = c.request_id AND p.url = c.url AND p.id < c.id
		                  AND p.delivered_at IS NULL AND p.given_up_at IS NULL)
		ORDER BY c.id LIMIT ?`), now(), limit)
	return out, err
}

// CallbackDelivered marks a callback sent.
func (s *Store) CallbackDelivered(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE opendsr_callbacks SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?`), now(), id)
	return err
}

// CallbackFailed records a failed attempt and when to try again; giveUp
// ends the callback's attempts (the later ones for its URL then go).
func (s *Store) CallbackFailed(ctx context.Context, id int64, next time.Time, why string, giveUp bool) error {
	var gaveUp *time.Time
	if giveUp {
		t := now()
		gaveUp = &t
	}
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE opendsr_callbacks SET attempts = attempts + 1, next_at = ?, last_error = ?, given_up_at = ? WHERE id = ?`),
		utc(next), why, gaveUp, id)
	return err
}

// CallbackLog is every callback of a request, oldest first, for tests and
// the evidence of what a controller was told.
func (s *Store) CallbackLog(ctx context.Context, requestID string) ([]Callback, error) {
	var out []Callback
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT c.id, c.request_id, c.url, c.status, c.created_at, c.attempts,
			o.controller, o.subject_request_id, r.due_at, r.extended_due_at
		FROM opendsr_callbacks c JOIN opendsr_requests o ON o.request_id = c.request_id LEFT JOIN requests r ON r.id = c.request_id
		WHERE c.request_id = ? ORDER BY c.id`), requestID)
	return out, err
}
