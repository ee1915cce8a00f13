package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/store"
)

// TestHistoriesJoinTheSubjectsKey: a run archived while its request was
// provisional (no subject key yet) is kept as the server gave it; when the
// request is verified and joins its subject, it is sealed under the
// subject's key, and shredding the subject makes it unreadable, like
// every history sealed from the start.
func TestHistoriesJoinTheSubjectsKey(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		k := keys(t)
		if _, err := s.RecordProvisional(ctx, newRequest("PROV-1", domain.Access), "privacy-center"); err != nil {
			t.Fatal(err)
		}
		run := store.History{WorkflowID: "dsr-PROV-1", RunID: "run-1", RequestID: "PROV-1", ClosedAt: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC),
			JSON: []byte(`{"events":[{"eventId":"1"}]}`)}
		if err := s.ArchiveHistory(ctx, k, run); err != nil {
			t.Fatal(err)
		}
		h, err := s.LatestHistory(ctx, "PROV-1")
		if err != nil || h.Sealed {
			t.Fatalf("provisional run: sealed %v, %v", h.Sealed, err)
		}
		jane, _ := domain.NewIdentity(domain.Email, "jane@example.com")
		if err := s.AttachSubject(ctx, k, "PROV-1", []domain.Identity{jane}); err != nil {
			t.Fatal(err)
		}
		h, _ = s.LatestHistory(ctx, "PROV-1")
		if body, err := s.OpenHistory(ctx, k, h); !h.Sealed || err != nil || string(body) != string(run.JSON) {
			t.Fatalf("after joining the subject: sealed %v, %q, %v", h.Sealed, body, err)
		}
		r, _ := s.GetRequest(ctx, "PROV-1")
		if err := s.DestroySubjectKey(ctx, r.SubjectID, "PROV-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OpenHistory(ctx, k, h); !errors.Is(err, store.ErrKeyDestroyed) {
			t.Fatalf("after the shred: %v", err)
		}
	})
}

// TestOneKeyPerSubject: many callers asking at once for the key of a
// subject that has none all get the same key, so nothing sealed by one of
// them fails to open for the others.
func TestOneKeyPerSubject(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		k := keys(t)
		if _, err := s.RecordProvisional(ctx, newRequest("RACE-1", domain.Access), "privacy-center"); err != nil {
			t.Fatal(err)
		}
		r, _ := s.GetRequest(ctx, "RACE-1")
		got := make(chan string, 8)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				key, err := s.SubjectKey(ctx, k, r.SubjectID)
				if err != nil {
					t.Error(err)
				}
				got <- string(key)
			})
		}
		wg.Wait()
		close(got)
		first := ""
		for key := range got {
			if first == "" {
				first = key
			}
			if key != first || len(key) != 32 {
				t.Fatal("callers at once got different keys for one subject")
			}
		}
	})
}
