package engine

import (
	"context"
	"time"

	"github.com/dsrengine/dsr/activities"
)

// PurgeExpired deletes the files of every request whose package expired
// (its download link with it) and records each purge. Several workers may
// run it at once: deleting twice finds nothing, and the purge is recorded
// once.
func (e *Engine) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	n := 0
	for {
		ids, err := e.Store.ExpiredDownloads(ctx, now, 100)
		if err != nil || len(ids) == 0 {
			return n, err
		}
		for _, id := range ids {
			if _, err := activities.PurgeFiles(e.ExportDir, id); err != nil {
				return n, err
			}
			if err := e.Store.MarkPurged(ctx, id, "expired", now); err != nil {
				return n, err
			}
			n++
		}
	}
}
