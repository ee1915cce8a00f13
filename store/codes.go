package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/records"
)

// MaxCodeAttempts is how many times a code may be tried; after that a new
// code is needed.
const MaxCodeAttempts = 5

// Why a code was refused.
var (
	ErrNoCode        = errors.New("no code was sent for this request, or it was already used: ask for a new one")
	ErrCodeExpired   = errors.New("the code has expired: ask for a new one")
	ErrCodeUsedUp    = errors.New("the code was tried too many times: ask for a new one")
	ErrCodeWrong     = errors.New("the code is not right")
	ErrCodeTooSoon   = errors.New("a code was sent less than a minute ago: wait for it, or try again in a minute")
	codeResendWindow = time.Minute
)

// NewCode keeps the keyed hash of a new code for a request, replacing any
// earlier one, and audits that it was issued (its e-mail is audited as
// mail.sent once the server took it). A second code within a minute
// of the last is refused, so the form cannot be used to flood an inbox.
func (s *Store) NewCode(ctx context.Context, requestID, codeHash string, sentAt, expiresAt time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var last time.Time
		err := tx.GetContext(ctx, &last, s.db.Rebind(`SELECT sent_at FROM verification_codes WHERE request_id = ?`), requestID)
		switch {
		case err == nil && sentAt.Sub(last.UTC()) < codeResendWindow:
			return ErrCodeTooSoon
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("verification code of %s: %w", requestID, err)
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM verification_codes WHERE request_id = ?`), requestID); err != nil {
			return fmt.Errorf("verification code of %s: %w", requestID, err)
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO verification_codes (request_id, code_hash, expires_at, attempts, sent_at) VALUES (?, ?, ?, 0, ?)`),
			requestID, codeHash, utc(expiresAt), utc(sentAt)); err != nil {
			return fmt.Errorf("verification code of %s: %w", requestID, err)
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{RequestID: requestID, Actor: "engine", Action: "verification.code_issued",
			Detail: map[string]any{"expires_at": utc(expiresAt)}})
	})
}

// CheckCode counts an attempt at a request's code and says whether it
// matched; a code that matched is used up. The count is taken before the
// comparison, in one statement, so parallel guesses cannot share an
// attempt. Every attempt is audited, never the code.
func (s *Store) CheckCode(ctx context.Context, requestID, codeHash string, now time.Time) error {
	var row struct {
		Hash     string    `db:"code_hash"`
		Expires  time.Time `db:"expires_at"`
		Attempts int       `db:"attempts"`
	}
	err := s.db.GetContext(ctx, &row, s.db.Rebind(`UPDATE verification_codes SET attempts = attempts + 1
		WHERE request_id = ? AND attempts < ? RETURNING code_hash, expires_at, attempts`), requestID, MaxCodeAttempts)
	var verdict error
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var n int
		if err := s.db.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*) FROM verification_codes WHERE request_id = ?`), requestID); err != nil {
			return fmt.Errorf("verification code of %s: %w", requestID, err)
		}
		verdict = ErrNoCode
		if n > 0 {
			verdict = ErrCodeUsedUp
		}
	case err != nil:
		return fmt.Errorf("verification code of %s: %w", requestID, err)
	case now.After(row.Expires.UTC()):
		verdict = ErrCodeExpired
	case subtle.ConstantTimeCompare([]byte(row.Hash), []byte(codeHash)) != 1:
		verdict = ErrCodeWrong
	}
	outcome := "matched"
	if verdict != nil {
		outcome = verdict.Error()
	}
	if err := s.AppendAudit(ctx, records.AuditEntry{RequestID: requestID, Actor: "subject", Action: "verification.code_tried",
		Detail: map[string]any{"outcome": outcome, "attempt": row.Attempts}}); err != nil {
		return err
	}
	if verdict != nil {
		return verdict
	}
	if _, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM verification_codes WHERE request_id = ?`), requestID); err != nil {
		return fmt.Errorf("verification code of %s: %w", requestID, err)
	}
	return nil
}
