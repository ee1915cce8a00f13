package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

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
func (s *Store) AddOpenDSR(ctx context.Context, o OpenDSRRequest, callbacks []string) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO opendsr_requests (subject_request_id, request_id, controller, callbacks, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (controller, subject_request_id) DO NOTHING`), o.SubjectRequestID, o.RequestID, o.Controller, strings.Join(callbacks, "\n"), now())
	if err != nil {
		return fmt.Errorf("opendsr request: %w", err)
	}
	return nil
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

// OpenDSRAwaitingCallbacks lists the requests whose controller has not yet
// been told a final status.
func (s *Store) OpenDSRAwaitingCallbacks(ctx context.Context) ([]OpenDSRRequest, error) {
	var out []OpenDSRRequest
	err := s.db.SelectContext(ctx, &out, `SELECT * FROM opendsr_requests WHERE last_status NOT IN ('completed', 'cancelled') ORDER BY created_at`)
	return out, err
}

// SetOpenDSRStatus records the status last sent to the controller.
func (s *Store) SetOpenDSRStatus(ctx context.Context, o OpenDSRRequest, status string) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE opendsr_requests SET last_status = ? WHERE controller = ? AND subject_request_id = ?`), status, o.Controller, o.SubjectRequestID)
	return err
}
