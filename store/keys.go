package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/records"
)

// ErrKeyDestroyed is a subject whose data key was destroyed when their
// erasure completed.
var ErrKeyDestroyed = records.ErrKeyDestroyed

// queryer is a transaction or the database.
type queryer interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
}

// keyUse says what to do when a subject has no live data key.
type keyUse int

const (
	readKey   keyUse = iota // none: ErrNotFound or ErrKeyDestroyed
	ensureKey               // make one if there never was one
	renewKey                // make one, also after a destruction: the person came back
)

// SubjectKey is a subject's data key, made on first use; a destroyed key
// is ErrKeyDestroyed.
func (s *Store) SubjectKey(ctx context.Context, keys records.Sealer, subjectID string) ([]byte, error) {
	return s.subjectKey(ctx, s.db, keys, subjectID, ensureKey)
}

// subjectKey reads (and, as use says, makes) a subject's data key in q. A
// subject whose key was destroyed and who comes back with a new request
// gets a new key (renewKey): what was kept under the old one stays
// unreadable.
func (s *Store) subjectKey(ctx context.Context, q queryer, keys records.Sealer, subjectID string, use keyUse) ([]byte, error) {
	var row struct {
		Wrapped   []byte `db:"wrapped"`
		WrapKeyID string `db:"wrap_key_id"`
	}
	read := func() error {
		return q.GetContext(ctx, &row, s.db.Rebind(`SELECT wrapped, wrap_key_id FROM subject_keys WHERE subject_id = ?`), subjectID)
	}
	err := read()
	switch {
	case err == nil && row.Wrapped != nil:
		return s.unwrap(keys, subjectID, row.Wrapped, row.WrapKeyID)
	case err == nil && use != renewKey:
		return nil, ErrKeyDestroyed
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("subject key of %s: %w", subjectID, err)
	case err != nil && use == readKey:
		return nil, fmt.Errorf("subject key of %s: %w", subjectID, records.ErrNotFound)
	}
	key, err := keyring.NewDataKey()
	if err != nil {
		return nil, err
	}
	wrapped, err := keys.Wrap(subjectID, key)
	if err != nil {
		return nil, err
	}
	// A destroyed key's row is reused: the destruction stays in the audit
	// log; the key that comes now is a new one. A live key is never
	// replaced: two requests of one person made at once (or two exports
	// in parallel) both read no key, and the second to write keeps the
	// first one's, read back below, or what it sealed would not open.
	_, err = q.ExecContext(ctx, s.db.Rebind(`INSERT INTO subject_keys (subject_id, wrapped, wrap_key_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (subject_id) DO UPDATE SET wrapped = excluded.wrapped, wrap_key_id = excluded.wrap_key_id,
		created_at = excluded.created_at, destroyed_at = NULL WHERE subject_keys.wrapped IS NULL`), subjectID, wrapped, keys.WrapKeyID(), now())
	if err == nil {
		err = read()
	}
	if err != nil {
		return nil, fmt.Errorf("subject key of %s: %w", subjectID, err)
	}
	return s.unwrap(keys, subjectID, row.Wrapped, row.WrapKeyID)
}

// unwrap opens a stored data key, which must be wrapped by this engine's
// wrapping key.
func (s *Store) unwrap(keys records.Sealer, subjectID string, wrapped []byte, wrapKeyID string) ([]byte, error) {
	if wrapKeyID != keys.WrapKeyID() {
		return nil, fmt.Errorf("subject key of %s: wrapped by key %s, this engine's wrapping key is %s: run worker keys rotate", subjectID, wrapKeyID, keys.WrapKeyID())
	}
	return keys.Unwrap(subjectID, wrapped)
}

// RequestKey is the key of a request's files, derived from its subject's
// data key (made on first use).
func (s *Store) RequestKey(ctx context.Context, keys records.Sealer, requestID string) ([]byte, error) {
	return s.requestKey(ctx, keys, requestID, ensureKey)
}

// ExistingRequestKey is RequestKey for reading: it makes no key, so a
// subject whose key was destroyed gets ErrKeyDestroyed, not a new key that
// opens nothing.
func (s *Store) ExistingRequestKey(ctx context.Context, keys records.Sealer, requestID string) ([]byte, error) {
	return s.requestKey(ctx, keys, requestID, readKey)
}

func (s *Store) requestKey(ctx context.Context, keys records.Sealer, requestID string, use keyUse) ([]byte, error) {
	r, err := s.GetRequest(ctx, requestID)
	if err != nil {
		return nil, err
	}
	key, err := s.subjectKey(ctx, s.db, keys, r.SubjectID, use)
	if err != nil {
		return nil, err
	}
	return keyring.RequestKey(key, requestID), nil
}

// DestroySubjectKey crypto-shreds a subject once their erasure completed:
// the data key is gone, the sealed identities and contacts are cleared,
// and only keyed hashes, counts and the audit chain remain. Destroying it
// again changes nothing.
func (s *Store) DestroySubjectKey(ctx context.Context, subjectID, requestID string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		t := now()
		res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE subject_keys SET wrapped = NULL, destroyed_at = ? WHERE subject_id = ? AND wrapped IS NOT NULL`), t, subjectID)
		if err != nil {
			return fmt.Errorf("destroy the key of %s: %w", subjectID, err)
		}
		destroyed, _ := res.RowsAffected()
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE subject_identities SET value_sealed = ?, sealed_with = 'shredded' WHERE subject_id = ?`), []byte{}, subjectID); err != nil {
			return fmt.Errorf("shred the identities of %s: %w", subjectID, err)
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM request_contacts WHERE request_id IN (SELECT id FROM requests WHERE subject_id = ?)`), subjectID); err != nil {
			return fmt.Errorf("shred the contacts of %s: %w", subjectID, err)
		}
		if destroyed == 0 {
			return nil
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{RequestID: requestID, Actor: "engine", Action: "subject.key_destroyed"})
	})
}

// RewrapSubjectKeys re-wraps every live data key wrapped by from under
// to, and says how many it re-wrapped. The data stays as it is: only the
// wrapped keys change. Keys already under to are left alone, so a rotation
// cut short is finished by running it again.
func (s *Store) RewrapSubjectKeys(ctx context.Context, from, to records.Sealer) (int, error) {
	var rows []struct {
		SubjectID string `db:"subject_id"`
		Wrapped   []byte `db:"wrapped"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(`SELECT subject_id, wrapped FROM subject_keys WHERE wrap_key_id = ? AND wrapped IS NOT NULL`), from.WrapKeyID()); err != nil {
		return 0, fmt.Errorf("rewrap: %w", err)
	}
	n := 0
	for _, r := range rows {
		key, err := from.Unwrap(r.SubjectID, r.Wrapped)
		if err != nil {
			return n, fmt.Errorf("rewrap the key of %s: %w", r.SubjectID, err)
		}
		wrapped, err := to.Wrap(r.SubjectID, key)
		if err != nil {
			return n, err
		}
		res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE subject_keys SET wrapped = ?, wrap_key_id = ? WHERE subject_id = ? AND wrap_key_id = ? AND wrapped IS NOT NULL`),
			wrapped, to.WrapKeyID(), r.SubjectID, from.WrapKeyID())
		if err != nil {
			return n, fmt.Errorf("rewrap the key of %s: %w", r.SubjectID, err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			n++
		}
	}
	return n, s.AppendAudit(ctx, records.AuditEntry{Actor: "engine", Action: "keys.rewrapped",
		Detail: map[string]any{"from": from.WrapKeyID(), "to": to.WrapKeyID(), "keys": n}})
}

// SubjectRequests lists a subject's requests, oldest first.
func (s *Store) SubjectRequests(ctx context.Context, subjectID string) ([]string, error) {
	var ids []string
	err := s.db.SelectContext(ctx, &ids, s.db.Rebind(`SELECT id FROM requests WHERE subject_id = ? ORDER BY received_at, id`), subjectID)
	if err != nil {
		return nil, fmt.Errorf("requests of %s: %w", subjectID, err)
	}
	return ids, nil
}
