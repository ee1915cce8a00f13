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

// TestDownloads: a package may be downloaded until it expires, as many
// times as offered and no more, even when downloads race; a retried offer
// does not extend it; a purge ends it and is audited once; a session
// reaches its request until it expires.
func TestDownloads(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, id := range []string{"DL-1", "DL-2"} {
			if _, err := s.RecordProvisional(ctx, newRequest(id, domain.Access), "privacy-center"); err != nil {
				t.Fatal(err)
			}
		}
		t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
		if err := s.TakeDownload(ctx, "DL-1", "subject", t0); !errors.Is(err, store.ErrNoDownload) {
			t.Fatalf("nothing offered: %v", err)
		}
		if err := s.OfferDownload(ctx, "DL-1", t0.Add(time.Hour), 3); err != nil {
			t.Fatal(err)
		}
		if err := s.OfferDownload(ctx, "DL-1", t0.Add(48*time.Hour), 9); err != nil { // a retry
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() { errs <- s.TakeDownload(ctx, "DL-1", "subject", t0) })
		}
		wg.Wait()
		close(errs)
		var ok, usedUp int
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrDownloadUsedUp):
				usedUp++
			default:
				t.Fatal(err)
			}
		}
		if ok != 3 || usedUp != 5 {
			t.Fatalf("8 downloads at once of 3 allowed: %d allowed, %d refused", ok, usedUp)
		}

		if err := s.OfferDownload(ctx, "DL-2", t0.Add(time.Hour), 3); err != nil {
			t.Fatal(err)
		}
		if err := s.TakeDownload(ctx, "DL-2", "subject", t0.Add(time.Hour)); !errors.Is(err, store.ErrDownloadExpired) {
			t.Fatalf("at the expiry: %v", err)
		}
		due, err := s.ExpiredDownloads(ctx, t0.Add(time.Hour), 10)
		if err != nil || len(due) != 2 {
			t.Fatalf("expired at t0+1h: %v %v", due, err)
		}
		for range 2 {
			if err := s.MarkPurged(ctx, "DL-2", "expired", t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		log, _ := s.AuditLog(ctx, "DL-2")
		var purges int
		for _, a := range log {
			if a.Action == "exports.purged" {
				purges++
			}
		}
		if purges != 1 {
			t.Fatalf("%d purges audited, want 1", purges)
		}
		if due, _ := s.ExpiredDownloads(ctx, t0.Add(3*time.Hour), 10); len(due) != 1 || due[0] != "DL-1" {
			t.Fatalf("after the purge, expired: %v", due)
		}

		if err := s.OpenSession(ctx, "h1", "DL-1", t0, t0.Add(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if id, err := s.SessionRequest(ctx, "h1", t0.Add(29*time.Minute)); err != nil || id != "DL-1" {
			t.Fatalf("a live session: %q %v", id, err)
		}
		for at, hash := range map[time.Duration]string{30 * time.Minute: "h1", time.Minute: "h2"} {
			if _, err := s.SessionRequest(ctx, hash, t0.Add(at)); !errors.Is(err, store.ErrNoSession) {
				t.Fatalf("session %s at +%v: %v", hash, at, err)
			}
		}
	})
}
