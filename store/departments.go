package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/records"
)

// SyncDepartments makes the stored departments and approvers match config.
// Departments missing from config are kept (past sign-offs refer to them)
// but lose their approvers, so nobody can decide for them any more.
func (s *Store) SyncDepartments(ctx context.Context, deps []records.Department) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		t := now()
		if _, err := tx.ExecContext(ctx, `DELETE FROM department_approvers`); err != nil {
			return fmt.Errorf("sync departments: %w", err)
		}
		for _, d := range deps {
			if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO departments (name, channel, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET channel = excluded.channel, updated_at = excluded.updated_at`), d.Name, d.Channel, t); err != nil {
				return fmt.Errorf("sync department %s: %w", d.Name, err)
			}
			for _, a := range d.Approvers {
				if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO department_approvers (department, approver) VALUES (?, ?) ON CONFLICT DO NOTHING`), d.Name, a); err != nil {
					return fmt.Errorf("sync department %s approver: %w", d.Name, err)
				}
			}
		}
		return nil
	})
}

// Departments lists departments with their approvers, by name.
func (s *Store) Departments(ctx context.Context) ([]records.Department, error) {
	var deps []records.Department
	if err := s.db.SelectContext(ctx, &deps, `SELECT name, channel FROM departments ORDER BY name`); err != nil {
		return nil, fmt.Errorf("departments: %w", err)
	}
	var approvers []struct {
		Department string `db:"department"`
		Approver   string `db:"approver"`
	}
	if err := s.db.SelectContext(ctx, &approvers, `SELECT department, approver FROM department_approvers ORDER BY department, approver`); err != nil {
		return nil, fmt.Errorf("department approvers: %w", err)
	}
	byName := make(map[string]*records.Department, len(deps))
	for i := range deps {
		byName[deps[i].Name] = &deps[i]
	}
	for _, a := range approvers {
		if d := byName[a.Department]; d != nil {
			d.Approvers = append(d.Approvers, a.Approver)
		}
	}
	return deps, nil
}

// RecordSignOff stores a decision once. Recording the identical decision
// again is a no-op (an activity retry); a different one is ErrAlreadyDecided.
func (s *Store) RecordSignOff(ctx context.Context, so records.SignOff) error {
	if so.Decision != "approve" && so.Decision != "object" {
		return fmt.Errorf("sign-off decision %q: must be approve or object", so.Decision)
	}
	if so.Decision == "object" && so.LegalBasis == "" {
		return errors.New("sign-off: an objection must state its legal basis")
	}
	so.DecidedAt = utc(so.DecidedAt)
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var prior records.SignOff
		err := tx.GetContext(ctx, &prior, s.db.Rebind(`SELECT * FROM signoffs WHERE request_id = ? AND department = ?`), so.RequestID, so.Department)
		if err == nil {
			if prior.Decision == so.Decision && prior.Actor == so.Actor && prior.LegalBasis == so.LegalBasis {
				return nil
			}
			return fmt.Errorf("sign-off of %s on %s: %w (%s by %s)", so.Department, so.RequestID, records.ErrAlreadyDecided, prior.Decision, prior.Actor)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.NamedExecContext(ctx, `INSERT INTO signoffs (request_id, department, decision, legal_basis, actor, decided_at)
			VALUES (:request_id, :department, :decision, :legal_basis, :actor, :decided_at)`, so); err != nil {
			return fmt.Errorf("sign-off of %s on %s: %w", so.Department, so.RequestID, err)
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{RequestID: so.RequestID, Actor: so.Actor, Action: "signoff." + so.Decision,
			Detail: map[string]any{"department": so.Department, "legal_basis": so.LegalBasis}})
	})
}

// SignOffs lists a request's decisions by department.
func (s *Store) SignOffs(ctx context.Context, requestID string) ([]records.SignOff, error) {
	var out []records.SignOff
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT * FROM signoffs WHERE request_id = ? ORDER BY department`), requestID)
	return out, err
}
