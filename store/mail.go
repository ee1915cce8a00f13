package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/records"
)

// contactAD binds a sealed contact to its request, so a sealed address
// copied to another request's row does not open.
func contactAD(requestID string) []byte { return []byte("contact:" + requestID) }

// SetContact keeps the e-mail address a request's notices go to, sealed.
// The first one stays: a retry changes nothing.
func (s *Store) SetContact(ctx context.Context, keys records.Sealer, requestID, email string) error {
	sealed, err := keys.Seal([]byte(email), contactAD(requestID))
	if err != nil {
		return fmt.Errorf("contact of %s: %w", requestID, err)
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO request_contacts (request_id, value_sealed, added_at) VALUES (?, ?, ?)
		ON CONFLICT (request_id) DO NOTHING`), requestID, sealed, now())
	if err != nil {
		return fmt.Errorf("contact of %s: %w", requestID, err)
	}
	return nil
}

// Contact opens the e-mail address of a request, or returns
// records.ErrNotFound when it has none.
func (s *Store) Contact(ctx context.Context, keys records.Sealer, requestID string) (string, error) {
	var sealed []byte
	err := s.db.GetContext(ctx, &sealed, s.db.Rebind(`SELECT value_sealed FROM request_contacts WHERE request_id = ?`), requestID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("contact of %s: %w", requestID, records.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("contact of %s: %w", requestID, err)
	}
	v, err := keys.Open(sealed, contactAD(requestID))
	if err != nil {
		return "", fmt.Errorf("contact of %s: %w", requestID, err)
	}
	return string(v), nil
}

// MailSent tells whether a delivery was sent.
func (s *Store) MailSent(ctx context.Context, key string) (bool, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*) FROM mail_sent WHERE delivery_key = ?`), key); err != nil {
		return false, fmt.Errorf("mail sent: %w", err)
	}
	return n > 0, nil
}

// MarkMailSent records a delivery the SMTP server accepted, and audits it
// (the kind, never the address).
func (s *Store) MarkMailSent(ctx context.Context, key, requestID, kind string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO mail_sent (delivery_key, request_id, kind, sent_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (delivery_key) DO NOTHING`), key, requestID, kind, now())
		if err != nil {
			return fmt.Errorf("mail sent: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{RequestID: requestID, Actor: "engine", Action: "mail.sent", Detail: map[string]any{"kind": kind}})
	})
}
