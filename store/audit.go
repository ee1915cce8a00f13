package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	if s.auditKey == nil && strings.HasPrefix(e.PrevHash, keyedPrefix) {
		return errors.New("the audit chain is keyed, and this process has no audit key: an unkeyed entry would break it")
	}
	e.Hash = chainHash(s.auditKey, e)
	_, err = tx.NamedExecContext(ctx, `INSERT INTO audit_log (request_id, at, actor, action, detail, prev_hash, hash)
		VALUES (:request_id, :at, :actor, :action, :detail, :prev_hash, :hash)`, e)
	if err != nil {
		return fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return nil
}

// keyedPrefix marks a hash keyed with the audit key.
const keyedPrefix = "hmac:"

// chainHash covers every field and the previous hash, so altering, removing
// or reordering any entry breaks every hash after it. With a key it is an
// HMAC: without the key nobody can recompute the chain after an edit.
func chainHash(key []byte, e records.AuditEntry) string {
	h := sha256.New()
	prefix := ""
	if key != nil {
		h, prefix = hmac.New(sha256.New, key), keyedPrefix
	}
	for _, f := range []string{e.PrevHash, e.RequestID, e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.DetailRaw} {
		fmt.Fprintf(h, "%d:%s\n", len(f), f)
	}
	return prefix + hex.EncodeToString(h.Sum(nil))
}

// UseAuditKey keys the audit chain from now on (a key derived from the
// master key). A chain of plain hashes from before is checked and, if
// intact, keyed in place, and the change is itself an entry; a broken
// one is left as it is, for verification to report.
func (s *Store) UseAuditKey(ctx context.Context, key []byte) error {
	s.auditKey = key
	var plain int
	if err := s.db.GetContext(ctx, &plain, s.db.Rebind(`SELECT COUNT(*) FROM audit_log WHERE hash NOT LIKE ?`), keyedPrefix+"%"); err != nil {
		return fmt.Errorf("audit chain: %w", err)
	}
	if plain == 0 {
		return nil
	}
	if _, problems, err := s.checkChain(ctx, nil, nil); err != nil || len(problems) > 0 {
		if err == nil {
			err = fmt.Errorf("the unkeyed audit chain is broken (%s); it stays unkeyed for verification to report", problems[0])
		}
		return err
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if s.driver == "postgres" {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLockKey); err != nil {
				return fmt.Errorf("audit lock: %w", err)
			}
		}
		var entries []records.AuditEntry
		if err := tx.SelectContext(ctx, &entries, `SELECT * FROM audit_log ORDER BY seq`); err != nil {
			return err
		}
		prev := genesis
		for _, e := range entries {
			e.PrevHash = prev
			e.Hash = chainHash(key, e)
			if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?`), e.PrevHash, e.Hash, e.Seq); err != nil {
				return fmt.Errorf("key the audit chain: %w", err)
			}
			prev = e.Hash
		}
		return s.appendAudit(ctx, tx, records.AuditEntry{Actor: "engine", Action: "audit.chain.keyed", Detail: map[string]any{"entries": len(entries)}})
	})
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

// Head is the chain's newest entry; Seq 0 for an empty log.
func (s *Store) Head(ctx context.Context) (records.AuditHead, error) {
	var h records.AuditHead
	err := s.db.QueryRowxContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return records.AuditHead{}, nil
	}
	return h, err
}

// CheckAudit is VerifyAudit that also says how many entries it read.
func (s *Store) CheckAudit(ctx context.Context) (int, []string, error) {
	return s.checkChain(ctx, s.auditKey, nil)
}

// CheckAuditAgainst verifies the chain and that it still holds the entry
// an anchor remembers: if the newest entries were deleted, or the chain
// rewritten, the anchor no longer matches.
func (s *Store) CheckAuditAgainst(ctx context.Context, anchor records.AuditHead) (int, []string, error) {
	return s.checkChain(ctx, s.auditKey, &anchor)
}

// checkChain streams the log in order, so a long log is checked in
// constant memory. With a key, every entry must be keyed.
func (s *Store) checkChain(ctx context.Context, key []byte, anchor *records.AuditHead) (int, []string, error) {
	rows, err := s.db.QueryxContext(ctx, `SELECT * FROM audit_log ORDER BY seq`)
	if err != nil {
		return 0, nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var problems []string
	prev := genesis
	var prevSeq int64
	n, anchored := 0, anchor == nil || anchor.Seq == 0
	for rows.Next() {
		var e records.AuditEntry
		if err := rows.StructScan(&e); err != nil {
			return n, nil, fmt.Errorf("audit log: %w", err)
		}
		n++
		if prevSeq != 0 && e.Seq != prevSeq+1 {
			problems = append(problems, fmt.Sprintf("entries %d to %d are missing", prevSeq+1, e.Seq-1))
		}
		if e.PrevHash != prev {
			problems = append(problems, fmt.Sprintf("entry %d does not follow the entry before it (chain broken)", e.Seq))
		}
		if chainHash(key, e) != e.Hash {
			problems = append(problems, fmt.Sprintf("entry %d (%s) was altered: its content does not match its hash", e.Seq, e.Action))
		}
		if anchor != nil && e.Seq == anchor.Seq {
			anchored = true
			if e.Hash != anchor.Hash {
				problems = append(problems, fmt.Sprintf("entry %d is not the entry the anchor in Temporal remembers: the chain was rewritten", e.Seq))
			}
		}
		prev, prevSeq = e.Hash, e.Seq
	}
	if err := rows.Err(); err != nil {
		return n, nil, fmt.Errorf("audit log: %w", err)
	}
	if !anchored {
		problems = append(problems, fmt.Sprintf("the newest entries were deleted: the anchor in Temporal remembers entry %d, the log ends at %d", anchor.Seq, prevSeq))
	}
	return n, problems, nil
}
