package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// ErasureBaseline keeps the first baseline given for a request's erasure
// in a system and returns the one kept: the counts per location that the
// system held on the subject before the first attempt changed anything.
// Later attempts (a retry after a crash, an operator's retry) get the
// first attempt's baseline back, whatever they pass.
func (s *Store) ErasureBaseline(ctx context.Context, requestID, system string, counts map[string]int64) (map[string]int64, error) {
	b, err := json.Marshal(counts)
	if err != nil {
		return nil, err
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO erasure_baselines (request_id, system, counts, taken_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (request_id, system) DO NOTHING`), requestID, system, string(b), now())
	if err != nil {
		return nil, fmt.Errorf("erasure baseline of %s in %s: %w", requestID, system, err)
	}
	var kept string
	if err := s.db.GetContext(ctx, &kept, s.db.Rebind(`SELECT counts FROM erasure_baselines WHERE request_id = ? AND system = ?`), requestID, system); err != nil {
		return nil, fmt.Errorf("erasure baseline of %s in %s: %w", requestID, system, err)
	}
	out := map[string]int64{}
	if err := json.Unmarshal([]byte(kept), &out); err != nil {
		return nil, fmt.Errorf("erasure baseline of %s in %s: %w", requestID, system, err)
	}
	return out, nil
}
