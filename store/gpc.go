package store

import (
	"context"
	"fmt"
	"time"

	"github.com/dsrengine/dsr/records"
)

// RecordGPC records a Global Privacy Control signal from a visitor the
// site identifies by its own identifier (kept as a keyed hash), and
// audits the first one. Seeing it again moves last_at only.
func (s *Store) RecordGPC(ctx context.Context, visitorHash string, at time.Time) (first bool, err error) {
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO gpc_visitors (visitor_hash, first_at, last_at) VALUES (?, ?, ?)
		ON CONFLICT (visitor_hash) DO NOTHING`), visitorHash, utc(at), utc(at))
	if err != nil {
		return false, fmt.Errorf("record a GPC signal: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, s.AppendAudit(ctx, records.AuditEntry{Actor: "browser", Action: "gpc.recorded"})
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(`UPDATE gpc_visitors SET last_at = ? WHERE visitor_hash = ? AND last_at < ?`), utc(at), visitorHash, utc(at))
	if err != nil {
		return false, fmt.Errorf("record a GPC signal: %w", err)
	}
	return false, nil
}

// GPCOptedOut says whether a visitor's browser sent the signal.
func (s *Store) GPCOptedOut(ctx context.Context, visitorHash string) (bool, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*) FROM gpc_visitors WHERE visitor_hash = ?`), visitorHash); err != nil {
		return false, fmt.Errorf("GPC signal: %w", err)
	}
	return n > 0, nil
}
