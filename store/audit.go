package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/records"
)

// genesis is the prev_hash of the first entry.
const genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// auditLockKey serializes appends on PostgreSQL so that the chain never forks.
const auditLockKey = 0x647372_61756469 // "dsr" "audi"

// AppendAudit adds an entry outside any other write.
func (s *Store) AppendAudit(ctx context.Context, e records.AuditEntry) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error { return s.appendAudit(ctx, tx, e) })
}

func (s *Store) appendAudit(ctx context.Context, tx *sqlx.Tx, e records.AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return errors.New("audit entry needs an actor and an action")
	}
	if s.driver == "postgres" {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLockKey); err != nil {
			return fmt.Errorf("audit lock: %w", err)
		}
	}
	detail := []byte("{}")
	if len(e.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(e.Detail); err != nil {
			return fmt.Errorf("audit detail: %w", err)
		}
	}
	e.DetailRaw = string(detail)
	if e.At.IsZero() {
		e.At = now()
	}
	e.At = utc(e.At)
	err := tx.GetContext(ctx, &e.PrevHash, `SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1`)
	if errors.Is(err, sql.ErrNoRows) {
		e.PrevHash, err = genesis, nil
	}
	if err != nil {
		return fmt.Errorf("audit chain head: %w", err)
	}
	e.Hash = chainHash(e)
	_, err = tx.NamedExecContext(ctx, `INSERT INTO audit_log (request_id, at, actor, action, detail, prev_hash, hash)
		VALUES (:request_id, :at, :actor, :action, :detail, :prev_hash, :hash)`, e)
	if err != nil {
		return fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return nil
}

// chainHash covers every field and the previous hash, so altering, removing
// or reordering any entry breaks every hash after it.
func chainHash(e records.AuditEntry) string {
	h := sha256.New()
	for _, f := range []string{e.PrevHash, e.RequestID, e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.DetailRaw} {
		fmt.Fprintf(h, "%d:%s\n", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AuditLog returns a request's entries in order, or every entry when
// requestID is empty.
func (s *Store) AuditLog(ctx context.Context, requestID string) ([]records.AuditEntry, error) {
	var out []records.AuditEntry
	var err error
	if requestID == "" {
		err = s.db.SelectContext(ctx, &out, `SELECT * FROM audit_log ORDER BY seq`)
	} else {
		err = s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT * FROM audit_log WHERE request_id = ? ORDER BY seq`), requestID)
	}
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return out, nil
}

// VerifyAudit recomputes the whole chain and reports every entry that was
// altered, removed or inserted out of order. No problems means nil.
func (s *Store) VerifyAudit(ctx context.Context) ([]string, error) {
	_, problems, err := s.CheckAudit(ctx)
	return problems, err
}

// CheckAudit is VerifyAudit that also says how many entries it read.
func (s *Store) CheckAudit(ctx context.Context) (int, []string, error) {
	entries, err := s.AuditLog(ctx, "")
	if err != nil {
		return 0, nil, err
	}
	var problems []string
	prev := genesis
	var prevSeq int64
	for _, e := range entries {
		if prevSeq != 0 && e.Seq != prevSeq+1 {
			problems = append(problems, fmt.Sprintf("entries %d to %d are missing", prevSeq+1, e.Seq-1))
		}
		if e.PrevHash != prev {
			problems = append(problems, fmt.Sprintf("entry %d does not follow the entry before it (chain broken)", e.Seq))
		}
		if chainHash(e) != e.Hash {
			problems = append(problems, fmt.Sprintf("entry %d (%s) was altered: its content does not match its hash", e.Seq, e.Action))
		}
		prev, prevSeq = e.Hash, e.Seq
	}
	return len(entries), problems, nil
}
